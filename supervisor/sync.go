package supervisor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"dagger/commandcenter/internal/contract"
	"dagger/commandcenter/internal/minihttp"
)

// Live reload: the host's watcher (watch.go) sends the files a developer
// saves to the services that run them, over the sync port, and each
// service's supervisor writes them under its source folder and restarts the
// command when the service says so (a dev server that watches its files
// itself needs nothing more).
//
//	GET  /sync       the services that take files: syncInfo of each
//	POST /sync/NAME  a syncBatch for service NAME; answers a syncResult
//
// Every request carries the project's sync token (Authorization: Bearer
// TOKEN, from contract.SyncTokenEnv on both sides): the sync port is forwarded to
// the developer's machine on every interface, and whoever can write the
// source runs code. Paths are relative to the service's folder and never
// leave it (os.Root), whatever the names or symbolic links in them.
//
// In the Stack's front the supervisor takes the requests for its members
// (--sync-route NAME=HOST:PORT) and passes them on; in a service alone, or a
// member, it applies them (--sync-root).

// maxBatch is the largest request body the sync port takes.
const maxBatch = 256 << 20

// syncInfo is what the watcher needs to know of a service.
type syncInfo struct {
	Name string `json:"name"`
	// Dir is the service's folder in the project's source, with / between
	// names ("." for the source's root).
	Dir string `json:"dir"`
	// Ignore are the patterns (.dockerignore's syntax, relative to Dir) of
	// files the service's source leaves out: they are never sent.
	Ignore []string `json:"ignore,omitempty"`
	// Deps are the files (relative to Dir) whose change runs DepsRun first.
	Deps []string `json:"deps,omitempty"`
	// Restart says the command restarts after each batch; otherwise it
	// restarts only after DepsRun.
	Restart bool `json:"restart"`
}

// syncFile is a file of a batch: its path under the service's folder, its
// content and its permission bits.
type syncFile struct {
	Path string      `json:"path"`
	Data []byte      `json:"data"`
	Mode fs.FileMode `json:"mode"`
}

// syncBatch is what one save (or a few at once) changed.
type syncBatch struct {
	Files   []syncFile `json:"files"`
	Deleted []string   `json:"deleted"`
}

// syncResult says what a batch did.
type syncResult struct {
	Written   int    `json:"written"`
	Deleted   int    `json:"deleted"`
	Deps      string `json:"deps,omitempty"` // "ran", or why it failed
	Ran       string `json:"ran,omitempty"`  // the after-sync command: "ran", or why it failed
	Restarted bool   `json:"restarted"`
	Millis    int64  `json:"ms"`
	Error     string `json:"error,omitempty"`
}

// syncOptions are the supervisor's --sync options (contract.Sync), what
// the watcher is told of the service, and the sync token.
type syncOptions struct {
	contract.Sync
	info  syncInfo
	token string
}

// check says what is wrong with the sync flags, or nothing.
func (s syncOptions) check(service string, hasCommand bool) string {
	switch {
	case s.Port == 0 && (s.Root != "" || len(s.Routes) > 0):
		return "--sync-root and --sync-route need --sync PORT"
	case s.Port < 0 || s.Port > 65535:
		return fmt.Sprintf("--sync %d: give a port (1-65535)", s.Port)
	case s.Port == 0:
		return ""
	case len(s.token) < 16:
		return fmt.Sprintf("--sync needs the project's sync token in %s (16 characters or more): whoever can write the source runs code", contract.SyncTokenEnv)
	case s.Root == "" && len(s.Routes) == 0:
		return "--sync needs --sync-root DIR (where this service's files go) or --sync-route NAME=HOST:PORT (the services it passes files on to)"
	case s.Root != "" && !contract.NamePattern.MatchString(service):
		return "--sync-root needs --name, the service's name the watcher sends its files to"
	case s.Root != "" && !filepath.IsAbs(s.Root):
		return fmt.Sprintf("--sync-root %q: give an absolute path", s.Root)
	case s.info.Restart && !hasCommand:
		return "--sync-restart needs a command to restart, after --"
	case s.Reload && !s.info.Restart:
		return "--sync-reload needs --sync-restart: it says how the command restarts"
	}
	return ""
}

// syncServer serves the sync port.
type syncServer struct {
	o   syncOptions
	log *log.Logger
	// root is the service's folder (nil in the front).
	root *os.Root
	// restart asks the supervisor to restart the command, and says when it
	// has (nil without a command).
	restart func(reload bool) error
	mu      sync.Mutex // one batch at a time
}

// serveSync serves the sync port until the listener closes.
func serveSync(l net.Listener, o syncOptions, restart func(reload bool) error, logger *log.Logger) error {
	s := &syncServer{o: o, log: logger, restart: restart}
	if o.Root != "" {
		root, err := os.OpenRoot(o.Root)
		if err != nil {
			return fmt.Errorf("--sync-root %s: %v", o.Root, err)
		}
		s.root = root
	}
	srv := &minihttp.Server{Handler: s.serve}
	return srv.Serve(l)
}

func (s *syncServer) serve(w *minihttp.ResponseWriter, r *minihttp.Request) {
	if !hasToken(r, s.o.token) {
		w.Header().Set("WWW-Authenticate", "Bearer")
		writeJSON(w, 401, syncResult{Error: "this sync port takes requests with the project's sync token only (Authorization: Bearer TOKEN)"})
		return
	}
	name, isBatch := strings.CutPrefix(r.Path, "/sync/")
	switch {
	case r.Path == "/sync" && r.Method == "GET":
		s.services(w, r)
	case isBatch && r.Method == "POST":
		s.batch(w, r, name)
	default:
		writeJSON(w, 404, syncResult{Error: "not found: GET /sync lists the services, POST /sync/NAME sends one files"})
	}
}

// services answers the syncInfo of this service, or of the members.
func (s *syncServer) services(w *minihttp.ResponseWriter, r *minihttp.Request) {
	var all []syncInfo
	if s.root != nil {
		all = append(all, s.o.info)
	}
	for _, target := range s.o.Routes {
		var theirs struct {
			Services []syncInfo `json:"services"`
		}
		code, err := s.pass(r.Context(), "GET", target.Target, "/sync", r.Header.Get("Authorization"), nil, &theirs)
		if err == nil && code != 200 {
			err = fmt.Errorf("answered %d", code)
		}
		if err != nil {
			writeJSON(w, 502, syncResult{Error: fmt.Sprintf("%s: %v", target.Name, err)})
			return
		}
		all = append(all, theirs.Services...)
	}
	writeJSON(w, 200, map[string][]syncInfo{"services": all})
}

// pass sends a request on to a member's sync port and decodes its answer;
// it returns the answer's status code.
func (s *syncServer) pass(ctx context.Context, method, target, path, auth string, body []byte, into any) (int, error) {
	h := minihttp.Header{"authorization": auth, "content-type": "application/json"}
	res, err := minihttp.Do(ctx, method, "http://"+target+path, h, body, 10*time.Minute)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	if err := json.NewDecoder(io.LimitReader(res.Body, maxBatch)).Decode(into); err != nil {
		return 0, fmt.Errorf("%s answered %s: %v", target, res.Status, err)
	}
	return res.StatusCode, nil
}

// batch applies one batch, or passes it on to the member it is for.
func (s *syncServer) batch(w *minihttp.ResponseWriter, r *minihttp.Request, name string) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBatch+1))
	if err == nil && len(body) > maxBatch {
		err = errors.New("too large")
	}
	if err != nil {
		writeJSON(w, 413, syncResult{Error: fmt.Sprintf("the batch is larger than %d MB or was cut short: %v", maxBatch>>20, err)})
		return
	}
	if i := slices.IndexFunc(s.o.Routes, func(r contract.NamedTarget) bool { return r.Name == name }); i >= 0 {
		var res syncResult
		code, err := s.pass(r.Context(), "POST", s.o.Routes[i].Target, "/sync/"+name, r.Header.Get("Authorization"), body, &res)
		if err != nil {
			writeJSON(w, 502, syncResult{Error: fmt.Sprintf("%s: %v", name, err)})
			return
		}
		writeJSON(w, code, res) // the member's answer, as it gave it
		return
	}
	if s.root == nil || name != s.o.info.Name {
		writeJSON(w, 404, syncResult{Error: fmt.Sprintf("no service %q takes files here", name)})
		return
	}
	var b syncBatch
	if err := json.Unmarshal(body, &b); err != nil {
		writeJSON(w, 400, syncResult{Error: "the batch is not JSON: " + err.Error()})
		return
	}
	for _, p := range append(filesOf(b), b.Deleted...) {
		if !filepath.IsLocal(p) || strings.ContainsRune(p, '\\') {
			writeJSON(w, 400, syncResult{Error: fmt.Sprintf("path %q is not inside the service's folder: give a relative path without ..", p)})
			return
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	res := s.apply(b)
	code := 200
	if res.Error != "" {
		code = 422
	}
	writeJSON(w, code, res)
}

func filesOf(b syncBatch) []string {
	paths := make([]string, len(b.Files))
	for i, f := range b.Files {
		paths[i] = f.Path
	}
	return paths
}

// apply writes and deletes a batch's files, then runs what the service
// runs after a change.
func (s *syncServer) apply(b syncBatch) syncResult {
	start := time.Now()
	var res syncResult
	deps := false
	for _, f := range b.Files {
		if err := s.write(f); err != nil {
			res.Error = fmt.Sprintf("write %s: %v", f.Path, err)
			return res
		}
		res.Written++
		deps = deps || slices.Contains(s.o.info.Deps, filepath.ToSlash(filepath.Clean(f.Path)))
	}
	for _, p := range b.Deleted {
		if _, err := s.root.Lstat(p); errors.Is(err, fs.ErrNotExist) {
			continue // never here: an editor's temporary file, made and gone
		}
		if err := s.root.RemoveAll(p); err != nil {
			res.Error = fmt.Sprintf("delete %s: %v", p, err)
			return res
		}
		res.Deleted++
		deps = deps || slices.Contains(s.o.info.Deps, filepath.ToSlash(filepath.Clean(p)))
	}
	what := fmt.Sprintf("%d written, %d deleted", res.Written, res.Deleted)
	restart := s.o.info.Restart && res.Written+res.Deleted > 0
	if deps && s.o.DepsRun != "" {
		s.log.Printf("sync: %s, a dependency file among them: %s", what, s.o.DepsRun)
		if err := s.runShell(s.o.DepsRun); err != nil {
			res.Deps = err.Error()
			res.Millis = time.Since(start).Milliseconds()
			s.log.Printf("sync: the dependencies did not install (%s): the running command is left as it was", res.Deps)
			return res
		}
		res.Deps = "ran"
		restart = s.restart != nil
	}
	if s.o.Run != "" && res.Written+res.Deleted > 0 {
		if err := s.runShell(s.o.Run); err != nil {
			res.Ran = err.Error()
		} else {
			res.Ran = "ran"
		}
	}
	if restart && s.restart != nil {
		// A command that reloads itself (Sync.Reload) does so after a
		// change of code; new dependencies need a new process.
		if err := s.restart(s.o.Reload && res.Deps == ""); err != nil {
			res.Error = err.Error()
		} else {
			res.Restarted = true
		}
	}
	res.Millis = time.Since(start).Milliseconds()
	s.log.Printf("sync: %s in %d ms%s", what, res.Millis, map[bool]string{true: ", restarted", false: ""}[res.Restarted])
	return res
}

// write writes one file, making its folders.
func (s *syncServer) write(f syncFile) error {
	if dir := filepath.Dir(f.Path); dir != "." {
		if err := s.root.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	mode := f.Mode.Perm()
	if mode == 0 {
		mode = 0o644
	}
	// A new file in place of the old, so that a program that has the old
	// one open (or a link to it) keeps what it read.
	tmp := filepath.Join(filepath.Dir(f.Path), ".commandcenter-sync-"+strconv.Itoa(os.Getpid())+"-"+filepath.Base(f.Path))
	if err := s.root.WriteFile(tmp, f.Data, mode); err != nil {
		return err
	}
	if err := s.root.Chmod(tmp, mode); err != nil {
		_ = s.root.Remove(tmp)
		return err
	}
	if err := s.root.Rename(tmp, f.Path); err != nil {
		_ = s.root.Remove(tmp)
		return err
	}
	return nil
}

// runShell runs a command with sh in the service's folder, its output in
// the service's log; an error says how it ended, with its last lines.
func (s *syncServer) runShell(command string) error {
	cmd := exec.Command("sh", "-c", command)
	cmd.Dir = s.o.Root
	var tail tailBuffer
	cmd.Stdout = io.MultiWriter(os.Stdout, &tail)
	cmd.Stderr = io.MultiWriter(os.Stderr, &tail)
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: exit status %d: %s", command, statusOf(err), strings.TrimSpace(tail.String()))
	}
	return nil
}

// tailBuffer keeps the last 2 KB written to it.
type tailBuffer struct{ b []byte }

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if len(t.b) > 2048 {
		t.b = t.b[len(t.b)-2048:]
	}
	return len(p), nil
}

func (t *tailBuffer) String() string { return string(t.b) }

func writeJSON(w *minihttp.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

var errStopping = errors.New("the command is stopping: not restarted")
