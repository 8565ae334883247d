package supervisor

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"syscall"
	"time"

	"dagger/commandcenter/internal/contract"
)

// commandcenter-watch runs on the developer's machine: it starts the
// `dagger call ... up` it is given with live reload on, watches the
// project's source folder, and sends each saved file to the services that
// run it, over the sync port (sync.go), which `up` forwards to this
// machine. The services write the files where their source is and restart
// when they say so; Postgres and Redis keep running.
//
//	commandcenter-watch -- dagger call stack --src=. up --ports 15000:5432,15001:6379,15002:8000,15003:3000
//
// The dagger command gets `with-live-reload --token=env:COMMANDCENTER_SYNC_TOKEN`
// before its first function (a token made at random for this run) and the
// sync port among its --ports.

// watchName is the watcher's program name: the supervisor's program runs as
// the watcher under it (or as `commandcenter-supervisor watch`).
const watchName = "commandcenter-watch"

type watchOptions struct {
	syncPort int
	debounce time.Duration
	wait     time.Duration
	command  []string
}

// runWatch is the watcher's main: it returns the exit status.
func runWatch(args []string, stderr io.Writer) int {
	logger := log.New(stderr, watchName+": ", 0)
	fs := flag.NewFlagSet(watchName, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o watchOptions
	fs.IntVar(&o.syncPort, "sync-port", contract.SyncPort, "host port the sync port is forwarded to")
	fs.DurationVar(&o.debounce, "debounce", 30*time.Millisecond, "how long to gather the changes of one save before sending them")
	fs.DurationVar(&o.wait, "wait", 30*time.Minute, "how long to wait for the services' sync port to answer (a first start builds images)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: %s [--sync-port PORT] -- dagger call [...] stack --src=DIR up --ports ...\n", watchName)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	o.command = fs.Args()
	if o.syncPort < 1 || o.syncPort > 65535 {
		logger.Printf("--sync-port %d: give a port (1-65535)", o.syncPort)
		return 2
	}
	command, src, err := liveCommand(o.command, o.syncPort)
	if err != nil {
		logger.Print(err)
		return 2
	}
	// A token of the developer's own (16 characters or more) is used as it
	// is; otherwise one is made for this run.
	token := os.Getenv(contract.SyncTokenEnv)
	if len(token) < 16 {
		var err error
		if token, err = newToken(); err != nil {
			logger.Print(err)
			return 1
		}
	}
	changes, err := watchTree(src, logger)
	if err != nil {
		logger.Printf("cannot watch %s: %v", src, err)
		return 1
	}

	child := exec.Command(command[0], command[1:]...)
	child.Env = append(os.Environ(), contract.SyncTokenEnv+"="+token)
	child.Stdin, child.Stdout, child.Stderr = os.Stdin, os.Stdout, os.Stderr
	logger.Printf("running %s", strings.Join(command, " "))
	if err := child.Start(); err != nil {
		logger.Printf("cannot run %s: %v", command[0], err)
		return 127
	}
	exited := make(chan error, 1)
	go func() { exited <- child.Wait() }()
	// A Ctrl-C reaches the child from the terminal as well; a signal sent
	// to the watcher alone is passed on.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)

	w := &watcher{src: src, token: token, base: fmt.Sprintf("http://127.0.0.1:%d", o.syncPort), log: logger,
		client: &http.Client{Timeout: 10 * time.Minute}, pending: map[string]bool{}}
	ready := make(chan []syncInfo, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		services, err := w.services(ctx, o.wait)
		if err != nil {
			logger.Print(err)
			return
		}
		ready <- services
	}()
	var flush <-chan time.Time
	for {
		select {
		case err := <-exited:
			return statusOf(err)
		case sig := <-sigs:
			_ = child.Process.Signal(sig)
		case services := <-ready:
			w.live = services
			w.say()
			if len(w.pending) > 0 {
				flush = time.After(o.debounce)
			}
		case p := <-changes:
			w.pending[p] = true
			if w.live != nil {
				flush = time.After(o.debounce)
			}
		case <-flush:
			flush = nil
			w.send()
		}
	}
}

// liveCommand is the dagger command with live reload on, and the project's
// source folder it names.
func liveCommand(command []string, syncPort int) ([]string, string, error) {
	usage := "give the command that brings the stack up after --, such as: " + watchName + " -- dagger call stack --src=. up --ports 15000:5432,15001:6379,15002:8000,15003:3000"
	call := slices.Index(command, "call")
	if len(command) == 0 || call < 0 || !slices.Contains(command[call:], "up") {
		return nil, "", errors.New(usage)
	}
	src := ""
	first := -1
	ports := -1
	for i := call + 1; i < len(command); i++ {
		a := command[i]
		switch {
		case first < 0 && (strings.HasPrefix(a, "with-") || slices.Contains([]string{"stack", "backend", "frontend", "worker"}, a)):
			first = i
		case src == "" && strings.HasPrefix(a, "--src="):
			src = strings.TrimPrefix(a, "--src=")
		case src == "" && a == "--src" && i+1 < len(command):
			src = command[i+1]
		case strings.HasPrefix(a, "--ports=") || a == "--ports":
			ports = i
		}
	}
	if first < 0 {
		return nil, "", fmt.Errorf("no function of the module (stack, backend, frontend, with-...) after call: %s", usage)
	}
	if src == "" {
		return nil, "", fmt.Errorf("no --src=DIR in the command: the watcher watches the folder --src names; %s", usage)
	}
	if strings.Contains(src, "://") || strings.HasPrefix(src, "git@") {
		return nil, "", fmt.Errorf("--src=%s is not a folder of this machine: live reload watches a local folder", src)
	}
	out := slices.Clone(command)
	mapping := fmt.Sprintf("%d:%d", syncPort, contract.SyncPort)
	switch {
	case ports < 0:
		// up without --ports forwards every port at its own number.
		if syncPort != contract.SyncPort {
			return nil, "", fmt.Errorf("--sync-port %d needs the command's up to have --ports", syncPort)
		}
	case out[ports] == "--ports":
		if ports+1 >= len(out) {
			return nil, "", errors.New("--ports has no value: " + usage)
		}
		out[ports+1] += "," + mapping
	default:
		out[ports] += "," + mapping
	}
	out = slices.Insert(out, first, "with-live-reload", "--token=env:"+contract.SyncTokenEnv)
	info, err := os.Stat(src)
	if err != nil || !info.IsDir() {
		return nil, "", fmt.Errorf("--src=%s is not a folder here: run the watcher where the dagger command would run", src)
	}
	return out, src, nil
}

func newToken() (string, error) {
	b := make([]byte, 24)
	if err := randomBytes(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

// watcher sends the changes under src to the services of live.
type watcher struct {
	src     string
	token   string
	base    string
	log     *log.Logger
	client  *http.Client
	live    []syncInfo
	pending map[string]bool // paths under src, with /
}

// services asks the sync port which services take files, until it answers.
func (w *watcher) services(ctx context.Context, wait time.Duration) ([]syncInfo, error) {
	deadline := time.Now().Add(wait)
	var last error
	for time.Now().Before(deadline) {
		var answer struct {
			Services []syncInfo `json:"services"`
			Error    string     `json:"error"`
		}
		code, err := w.do(ctx, http.MethodGet, "/sync", nil, &answer)
		switch {
		case err == nil && code == http.StatusOK:
			return answer.Services, nil
		case err == nil && code == http.StatusUnauthorized:
			return nil, fmt.Errorf("the sync port on %s refused the token: another project's watcher or stack has that port; give this one --sync-port", w.base)
		case err == nil:
			last = fmt.Errorf("%d: %s", code, answer.Error)
		default:
			last = err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
	return nil, fmt.Errorf("the services' sync port (%s) did not answer in %s (%v): live reload is off; the stack's log says why it is not up", w.base, wait, last)
}

func (w *watcher) do(ctx context.Context, method, p string, body any, into any) (int, error) {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, w.base+p, r)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+w.token)
	req.Header.Set("Content-Type", "application/json")
	res, err := w.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	if err := json.NewDecoder(res.Body).Decode(into); err != nil {
		return res.StatusCode, fmt.Errorf("%s %s answered %s", method, p, res.Status)
	}
	return res.StatusCode, nil
}

// say tells which services are live, and from which folders.
func (w *watcher) say() {
	var parts []string
	for _, s := range w.live {
		how := "its dev server reloads"
		if s.Restart {
			how = "restarts"
		}
		parts = append(parts, fmt.Sprintf("%s (%s, %s)", s.Name, path.Join(filepath.ToSlash(w.src), s.Dir), how))
	}
	if len(parts) == 0 {
		w.log.Print("no service of this stack takes files (services built from a Dockerfile do not): edits need a restart of up")
		return
	}
	w.log.Printf("live: %s; edits are sent as they are saved", strings.Join(parts, ", "))
}

// send sends the pending changes, a batch to each service they are for.
func (w *watcher) send() {
	paths := make([]string, 0, len(w.pending))
	for p := range w.pending {
		paths = append(paths, p)
	}
	clear(w.pending)
	sort.Strings(paths)
	for _, s := range w.live {
		b, written, deleted := w.batchFor(s, paths)
		if len(b.Files)+len(b.Deleted) == 0 {
			continue
		}
		start := time.Now()
		var res syncResult
		code, err := w.do(context.Background(), http.MethodPost, "/sync/"+s.Name, b, &res)
		names := short(append(written, deleted...))
		switch {
		case err != nil:
			w.log.Printf("%s: %s not sent: %v", s.Name, names, err)
			continue
		case code != http.StatusOK:
			w.log.Printf("%s: %s not applied: %s", s.Name, names, res.Error)
			continue
		}
		// Deletes of files the service never had (an editor's temporary
		// files) are not news.
		if res.Deleted < len(deleted) {
			names = short(written)
			if res.Deleted > 0 {
				names += fmt.Sprintf(" (%d deleted)", res.Deleted)
			}
		}
		if names == "" {
			continue
		}
		line := fmt.Sprintf("%s: %s in %d ms", s.Name, names, time.Since(start).Milliseconds())
		switch {
		case res.Deps != "" && res.Deps != "ran":
			line += "; the dependencies did not install, so it runs on as it was: " + res.Deps
		case res.Deps == "ran":
			line += "; dependencies installed"
		}
		if res.Ran != "" && res.Ran != "ran" {
			line += "; " + res.Ran
		}
		if res.Restarted {
			line += "; restarted"
		}
		w.log.Print(line)
	}
}

// batchFor is what of paths goes to service s, with the names of what it
// writes and deletes.
func (w *watcher) batchFor(s syncInfo, paths []string) (b syncBatch, names, deleted []string) {
	ignore := append(slices.Clone(contract.SourceIgnore), s.Ignore...)
	for _, p := range paths {
		rel, ok := under(p, s.Dir)
		if !ok || ignored(rel, ignore) {
			continue
		}
		full := filepath.Join(w.src, filepath.FromSlash(p))
		info, err := os.Lstat(full)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			b.Deleted = append(b.Deleted, rel)
			deleted = append(deleted, rel+" (deleted)")
		case err != nil:
			w.log.Printf("%s: %v", p, err)
		case info.IsDir():
			// A folder moved in: everything in it.
			_ = filepath.WalkDir(full, func(fp string, d fs.DirEntry, err error) error {
				if err != nil {
					return nil
				}
				r, _ := filepath.Rel(w.src, fp)
				r, ok := under(filepath.ToSlash(r), s.Dir)
				if !ok || ignored(r, ignore) {
					if d.IsDir() && ok {
						return filepath.SkipDir
					}
					return nil
				}
				if d.Type().IsRegular() {
					if f, ok := readFile(fp, r); ok {
						b.Files = append(b.Files, f)
						names = append(names, r)
					}
				}
				return nil
			})
		case info.Mode().IsRegular():
			if f, ok := readFile(full, rel); ok {
				b.Files = append(b.Files, f)
				names = append(names, rel)
			}
		}
	}
	return b, names, deleted
}

// short lists names, the first few of many.
func short(names []string) string {
	if len(names) > 4 {
		return fmt.Sprintf("%s and %d more", strings.Join(names[:3], ", "), len(names)-3)
	}
	return strings.Join(names, ", ")
}

func readFile(full, rel string) (syncFile, bool) {
	data, err := os.ReadFile(full)
	if err != nil {
		return syncFile{}, false // gone again, or unreadable: the next event says
	}
	info, err := os.Stat(full)
	if err != nil {
		return syncFile{}, false
	}
	return syncFile{Path: rel, Data: data, Mode: info.Mode().Perm()}, true
}

// under is p relative to dir, when p is in it (both with /, relative to
// the source's root).
func under(p, dir string) (string, bool) {
	dir = path.Clean(dir)
	if dir == "." {
		return p, p != "."
	}
	rel, ok := strings.CutPrefix(p, dir+"/")
	return rel, ok && rel != ""
}

// ignored says whether rel (with /) is left out by patterns, as
// .dockerignore leaves files out: a pattern that matches a folder leaves out
// everything in it, ** matches any number of folders, and a pattern with a
// leading ! takes a file back; the last pattern that matches decides.
func ignored(rel string, patterns []string) bool {
	out := false
	for _, p := range patterns {
		take := strings.HasPrefix(p, "!")
		p = strings.TrimSpace(strings.TrimPrefix(p, "!"))
		if p == "" || strings.HasPrefix(p, "#") {
			continue
		}
		re := patternRegexp(path.Clean(strings.TrimPrefix(p, "/")))
		for q := rel; ; q = path.Dir(q) {
			if re.MatchString(q) {
				out = !take
				break
			}
			if !strings.Contains(q, "/") {
				break
			}
		}
	}
	return out
}

var patternCache = map[string]*regexp.Regexp{}

func patternRegexp(p string) *regexp.Regexp {
	if re, ok := patternCache[p]; ok {
		return re
	}
	var b strings.Builder
	b.WriteString("^")
	for i := 0; i < len(p); i++ {
		switch c := p[i]; {
		case strings.HasPrefix(p[i:], "**/"):
			b.WriteString("(.*/)?")
			i += 2
		case strings.HasPrefix(p[i:], "**"):
			b.WriteString(".*")
			i++
		case c == '*':
			b.WriteString("[^/]*")
		case c == '?':
			b.WriteString("[^/]")
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	b.WriteString("$")
	re := regexp.MustCompile(b.String())
	patternCache[p] = re
	return re
}

// skipDir says whether the folder rel (relative to the watched root, with
// /) is left out for every service, and so not watched.
func skipDir(rel string) bool {
	return rel != "." && ignored(rel, contract.SourceIgnore)
}
