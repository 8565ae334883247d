package supervisor

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"dagger/commandcenter/internal/contract"
)

// syncTestToken is the sync port's token of the tests' supervisors.
const syncTestToken = "sync-token-0123456789"

// testPort is a local port nothing listens on now.
func testPort(t *testing.T) int {
	t.Helper()
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// syncSupervisor runs a supervisor with a sync port as a child process, and
// returns the port; it is killed when the test ends.
func syncSupervisor(t *testing.T, args ...string) (int, *exec.Cmd, *syncBuffer) {
	t.Helper()
	port := testPort(t)
	cmd, out := command(append([]string{"--sync", strconv.Itoa(port)}, args...)...)
	cmd.Env = append(cmd.Env, contract.SyncTokenEnv+"="+syncTestToken)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			killAll(cmd)
		}
	})
	waitAnswers(t, port)
	return port, cmd, out
}

func waitAnswers(t *testing.T, port int) {
	t.Helper()
	if err := awaitConnection("127.0.0.1:"+strconv.Itoa(port), 10*time.Second); err != nil {
		t.Fatalf("port %d did not answer: %v", port, err)
	}
}

// post sends a batch to /sync/NAME on port with token; it returns the
// status code and the result.
func post(t *testing.T, port int, name, token string, b syncBatch) (int, syncResult) {
	t.Helper()
	body, _ := json.Marshal(b)
	req, _ := http.NewRequest(http.MethodPost, fmt.Sprintf("http://127.0.0.1:%d/sync/%s", port, name), bytes.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var r syncResult
	if err := json.NewDecoder(res.Body).Decode(&r); err != nil {
		t.Fatalf("POST /sync/%s answered %s, not JSON: %v", name, res.Status, err)
	}
	return res.StatusCode, r
}

// loop is a command that says it started, with its PID, and runs until it
// is stopped.
var loop = []string{"sh", "-c", `echo "started $$"; while :; do sleep 0.05; done`}

func startedCount(out *syncBuffer) int { return strings.Count(out.String(), "started ") }

// waitStarts waits until the command has said it started n times, for 10 s
// at most, and fails with why otherwise.
func waitStarts(t *testing.T, out *syncBuffer, n int, why string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for startedCount(out) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%s:\n%s", why, out)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestSyncWritesTheFilesAndRestartsTheCommand(t *testing.T) {
	root := t.TempDir()
	port, cmd, out := syncSupervisor(t, append([]string{"--sync-root", root, "--name", "backend", "--sync-restart", "--"}, loop...)...)
	waitOutput(t, cmd, out, "started ")
	code, res := post(t, port, "backend", syncTestToken, syncBatch{Files: []syncFile{
		{Path: "app/main.py", Data: []byte("print('v2')\n"), Mode: 0o644},
		{Path: "run.sh", Data: []byte("#!/bin/sh\n"), Mode: 0o755},
	}})
	if code != http.StatusOK || res.Written != 2 || !res.Restarted {
		t.Fatalf("POST: %d %+v, want 200, 2 written, restarted\n%s", code, res, out)
	}
	if got, err := os.ReadFile(filepath.Join(root, "app", "main.py")); err != nil || string(got) != "print('v2')\n" {
		t.Errorf("app/main.py = %q, %v", got, err)
	}
	if info, err := os.Stat(filepath.Join(root, "run.sh")); err != nil || info.Mode().Perm() != 0o755 {
		t.Errorf("run.sh: %v, %v; want mode 0755", info, err)
	}
	waitOutput(t, cmd, out, "restarting backend")
	waitStarts(t, out, 2, "the command did not start again")
	// A batch that changes nothing (a temporary file made and gone before
	// it was sent) restarts nothing.
	code, res = post(t, port, "backend", syncTestToken, syncBatch{Deleted: []string{".main.py.swp"}})
	if code != http.StatusOK || res.Restarted || res.Deleted != 0 {
		t.Errorf("a batch of a file that was never there: %d %+v, want nothing done", code, res)
	}
	code, res = post(t, port, "backend", syncTestToken, syncBatch{Deleted: []string{"app"}})
	if code != http.StatusOK || res.Deleted != 1 {
		t.Errorf("deleting app: %d %+v", code, res)
	}
	if _, err := os.Stat(filepath.Join(root, "app")); !os.IsNotExist(err) {
		t.Errorf("app is still there after its deletion: %v", err)
	}
}

// A command that starts its server again itself on SIGHUP (the launcher's
// Reloader) gets SIGHUP after a change of code, and stays the same process;
// a change of its dependencies still restarts it, as new packages need a
// new process.
func TestSyncReloadSendsSIGHUPAndDependenciesStillRestart(t *testing.T) {
	root := t.TempDir()
	reloads := []string{"sh", "-c", `trap 'echo "reloaded $$"' HUP; echo "started $$"; while :; do sleep 0.05; done`}
	port, cmd, out := syncSupervisor(t, append([]string{"--sync-root", root, "--name", "backend", "--sync-restart", "--sync-reload",
		"--sync-deps", "requirements.txt", "--sync-deps-run", "echo installed", "--"}, reloads...)...)
	waitOutput(t, cmd, out, "started ")
	first := strings.Fields(out.String()[strings.Index(out.String(), "started "):])[1]
	code, res := post(t, port, "backend", syncTestToken, syncBatch{Files: []syncFile{{Path: "app/main.py", Data: []byte("v2\n"), Mode: 0o644}}})
	if code != http.StatusOK || !res.Restarted {
		t.Fatalf("a code change: %d %+v, want 200, restarted\n%s", code, res, out)
	}
	waitOutput(t, cmd, out, "reloaded "+first)
	if strings.Contains(out.String(), "restarting backend") || startedCount(out) != 1 {
		t.Fatalf("a code change restarted the command in place of its reload:\n%s", out)
	}
	code, res = post(t, port, "backend", syncTestToken, syncBatch{Files: []syncFile{{Path: "requirements.txt", Data: []byte("fastapi\n"), Mode: 0o644}}})
	if code != http.StatusOK || !res.Restarted || res.Deps != "ran" {
		t.Fatalf("a dependency change: %d %+v, want 200, installed, restarted\n%s", code, res, out)
	}
	waitOutput(t, cmd, out, "restarting backend")
	waitStarts(t, out, 2, "the command did not start again after a dependency change")
}

func TestSyncTakesOnlyTheToken(t *testing.T) {
	root := t.TempDir()
	port, _, _ := syncSupervisor(t, append([]string{"--sync-root", root, "--name", "backend", "--"}, loop...)...)
	batch := syncBatch{Files: []syncFile{{Path: "evil.py", Data: []byte("import os")}}}
	for _, token := range []string{"", "wrong-token-0123456789", syncTestToken + "x"} {
		code, res := post(t, port, "backend", token, batch)
		if code != http.StatusUnauthorized || !strings.Contains(res.Error, "sync token") {
			t.Errorf("token %q: %d %+v, want 401 saying a token is needed", token, code, res)
		}
	}
	req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d/sync", port), nil)
	if res, err := http.DefaultClient.Do(req); err != nil || res.StatusCode != http.StatusUnauthorized {
		t.Errorf("GET /sync without the token: %v %v, want 401", res, err)
	}
	if _, err := os.Stat(filepath.Join(root, "evil.py")); !os.IsNotExist(err) {
		t.Errorf("a request without the token wrote a file: %v", err)
	}
}

func TestSyncKeepsPathsInsideTheFolder(t *testing.T) {
	root := t.TempDir()
	outside := t.TempDir()
	if err := os.Symlink(outside, filepath.Join(root, "link")); err != nil {
		t.Fatal(err)
	}
	port, _, _ := syncSupervisor(t, append([]string{"--sync-root", root, "--name", "backend", "--"}, loop...)...)
	for _, p := range []string{"../escape.txt", "/etc/escape.txt", "a/../../escape.txt", "", `a\..\..\escape.txt`} {
		code, res := post(t, port, "backend", syncTestToken, syncBatch{Files: []syncFile{{Path: p, Data: []byte("x")}}})
		if code != http.StatusBadRequest || !strings.Contains(res.Error, "not inside the service's folder") {
			t.Errorf("path %q: %d %+v, want 400", p, code, res)
		}
	}
	code, res := post(t, port, "backend", syncTestToken, syncBatch{Deleted: []string{"../" + filepath.Base(outside)}})
	if code != http.StatusBadRequest {
		t.Errorf("deleting ../: %d %+v, want 400", code, res)
	}
	// A link in the folder to a folder outside it leads nowhere.
	code, res = post(t, port, "backend", syncTestToken, syncBatch{Files: []syncFile{{Path: "link/escape.txt", Data: []byte("x")}}})
	if code == http.StatusOK {
		t.Errorf("writing through a link out of the folder: %d %+v, want a refusal", code, res)
	}
	entries, _ := os.ReadDir(outside)
	if len(entries) != 0 {
		t.Errorf("a file was written outside the folder: %v", entries)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(root), "escape.txt")); !os.IsNotExist(err) {
		t.Errorf("../escape.txt was written: %v", err)
	}
}

func TestSyncInstallsDependenciesThenRestarts(t *testing.T) {
	root := t.TempDir()
	port, cmd, out := syncSupervisor(t, append([]string{"--sync-root", root, "--name", "frontend",
		"--sync-deps", "package.json", "--sync-deps-run", `grep -q broken package.json && exit 4; echo installed >>installs.txt`, "--"}, loop...)...)
	waitOutput(t, cmd, out, "started ")
	// A source file: the dev server reloads itself, nothing restarts.
	code, res := post(t, port, "frontend", syncTestToken, syncBatch{Files: []syncFile{{Path: "src/main.js", Data: []byte("1")}}})
	if code != http.StatusOK || res.Restarted || res.Deps != "" {
		t.Errorf("a source file: %d %+v, want written, no install, no restart", code, res)
	}
	code, res = post(t, port, "frontend", syncTestToken, syncBatch{Files: []syncFile{{Path: "package.json", Data: []byte("{}")}}})
	if code != http.StatusOK || res.Deps != "ran" || !res.Restarted {
		t.Fatalf("package.json: %d %+v, want the install run and a restart\n%s", code, res, out)
	}
	if got, _ := os.ReadFile(filepath.Join(root, "installs.txt")); string(got) != "installed\n" {
		t.Errorf("installs.txt = %q: the install did not run once in the folder", got)
	}
	// An install that fails leaves the command running as it was: the
	// process that runs now still runs once the answer has come (a restart
	// ends it before the supervisor answers).
	waitStarts(t, out, 2, "the command did not start again after the install")
	running := lastStarted(t, out)
	code, res = post(t, port, "frontend", syncTestToken, syncBatch{Files: []syncFile{{Path: "package.json", Data: []byte("broken")}}})
	if code != http.StatusOK || !strings.Contains(res.Deps, "exit status 4") || res.Restarted {
		t.Errorf("a failed install: %d %+v, want its exit status and no restart", code, res)
	}
	if err := syscall.Kill(running, 0); err != nil {
		t.Errorf("the command (PID %d) was ended by a failed install: %v\n%s", running, err, out)
	}
}

// lastStarted is the process ID of the command's last start, from its
// "started PID" line.
func lastStarted(t *testing.T, out *syncBuffer) int {
	t.Helper()
	text := out.String()
	i := strings.LastIndex(text, "started ")
	if i < 0 {
		t.Fatalf("the command never said it started:\n%s", text)
	}
	var pid int
	if _, err := fmt.Sscanf(text[i:], "started %d", &pid); err != nil {
		t.Fatalf("no PID after the last \"started\": %v\n%s", err, text)
	}
	return pid
}

func TestFrontPassesFilesOnToItsMembers(t *testing.T) {
	root := t.TempDir()
	member, cmd, out := syncSupervisor(t, append([]string{"--sync-root", root, "--name", "backend", "--sync-dir", "services/api",
		"--sync-ignore", "*.log", "--sync-restart", "--"}, loop...)...)
	waitOutput(t, cmd, out, "started ")
	front, _, _ := syncSupervisor(t, "--sync-route", fmt.Sprintf("backend=127.0.0.1:%d", member), "--", "sh", "-c", "while :; do sleep 0.05; done")

	req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d/sync", front), nil)
	req.Header.Set("Authorization", "Bearer "+syncTestToken)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var listed struct{ Services []syncInfo }
	err = json.NewDecoder(res.Body).Decode(&listed)
	res.Body.Close()
	if err != nil || len(listed.Services) != 1 || listed.Services[0].Name != "backend" || listed.Services[0].Dir != "services/api" ||
		!listed.Services[0].Restart || len(listed.Services[0].Ignore) != 1 {
		t.Fatalf("GET /sync on the front: %+v, %v; want the member's backend, services/api, its ignore pattern", listed, err)
	}
	if code, res := post(t, front, "backend", "", syncBatch{Files: []syncFile{{Path: "x.py", Data: []byte("x")}}}); code != http.StatusUnauthorized {
		t.Errorf("the front passed on a batch without the token: %d %+v", code, res)
	}
	code, r := post(t, front, "backend", syncTestToken, syncBatch{Files: []syncFile{{Path: "x.py", Data: []byte("via the front")}}})
	if code != http.StatusOK || r.Written != 1 || !r.Restarted {
		t.Fatalf("POST through the front: %d %+v", code, r)
	}
	if got, _ := os.ReadFile(filepath.Join(root, "x.py")); string(got) != "via the front" {
		t.Errorf("x.py = %q", got)
	}
	// The member's refusals reach the watcher as the member gave them.
	if code, r := post(t, front, "backend", syncTestToken, syncBatch{Files: []syncFile{{Path: "../x.py", Data: []byte("x")}}}); code != http.StatusBadRequest {
		t.Errorf("a path out of the member's folder, through the front: %d %+v, want the member's 400", code, r)
	}
	if code, r := post(t, front, "frontend", syncTestToken, syncBatch{}); code != http.StatusNotFound {
		t.Errorf("a service the front does not know: %d %+v, want 404", code, r)
	}
}

func TestSyncBadInputSaysWhatToDo(t *testing.T) {
	t.Setenv(contract.StackTokenEnv, testToken)
	for _, c := range []struct {
		token string
		args  []string
		says  string
	}{
		{syncTestToken, []string{"--sync-root", "/app", "--", "true"}, "need --sync PORT"},
		{"short", []string{"--sync", "65433", "--sync-root", "/app", "--name", "backend", "--", "true"}, "16 characters or more"},
		{syncTestToken, []string{"--sync", "65433", "--", "true"}, "--sync needs --sync-root DIR"},
		{syncTestToken, []string{"--sync", "65433", "--sync-root", "app", "--name", "backend", "--", "true"}, "give an absolute path"},
		{syncTestToken, []string{"--sync", "65433", "--sync-root", "/app", "--", "true"}, "--sync-root needs --name"},
		{syncTestToken, []string{"--sync", "65433", "--sync-route", "backend", "--", "true"}, "want NAME=HOST:PORT"},
		{syncTestToken, []string{"--sync", "65432", "--control", "65432", "--sync-route", "backend=b:65433", "--", "true"}, "give the sync port a port of its own"},
		{syncTestToken, []string{"--sync", "65433", "--sync-root", "/app", "--name", "backend", "--sync-reload", "--", "true"}, "--sync-reload needs --sync-restart"},
	} {
		t.Setenv(contract.SyncTokenEnv, c.token)
		var out bytes.Buffer
		if code := run(c.args, &out); code != 2 || !strings.Contains(out.String(), c.says) {
			t.Errorf("run(%q) = %d, %q; want 2 and a message with %q", c.args, code, out.String(), c.says)
		}
	}
}
