package supervisor

import (
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"dagger/commandcenter/internal/contract"
)

func TestLiveCommand(t *testing.T) {
	src := t.TempDir()
	for _, c := range []struct {
		in, want []string
	}{
		{[]string{"dagger", "call", "stack", "--src=" + src, "up", "--ports", "15000:5432,15002:8000"},
			[]string{"dagger", "call", "with-live-reload", "--token=env:" + contract.SyncTokenEnv, "stack", "--src=" + src, "up", "--ports", "15000:5432,15002:8000,65433:65433"}},
		{[]string{"dagger", "-m", "github.com/x/commandcenter", "call", "--project=shop", "with-worker", "--name=w", "--command=celery", "stack", "--src", src, "up", "--ports=15000:5432"},
			[]string{"dagger", "-m", "github.com/x/commandcenter", "call", "--project=shop", "with-live-reload", "--token=env:" + contract.SyncTokenEnv, "with-worker", "--name=w", "--command=celery", "stack", "--src", src, "up", "--ports=15000:5432,65433:65433"}},
		{[]string{"dagger", "call", "backend", "--src=" + src, "up"},
			[]string{"dagger", "call", "with-live-reload", "--token=env:" + contract.SyncTokenEnv, "backend", "--src=" + src, "up"}},
	} {
		got, dir, err := liveCommand(c.in, contract.SyncPort)
		if err != nil || !slices.Equal(got, c.want) || dir != src {
			t.Errorf("liveCommand(%q) =\n %q, %q, %v; want\n %q", c.in, got, dir, err, c.want)
		}
	}
	for _, c := range []struct {
		in   []string
		says string
	}{
		{nil, "give the command that brings the stack up"},
		{[]string{"dagger", "call", "stack", "--src=" + src}, "give the command that brings the stack up"},
		{[]string{"dagger", "call", "urls", "up"}, "no function of the module"},
		{[]string{"dagger", "call", "stack", "up", "--ports", "1:1"}, "no --src=DIR"},
		{[]string{"dagger", "call", "stack", "--src=https://github.com/x/y", "up"}, "not a folder of this machine"},
		{[]string{"dagger", "call", "stack", "--src=" + filepath.Join(src, "nope"), "up"}, "is not a folder here"},
		{[]string{"dagger", "call", "stack", "--src=" + src, "up", "--ports"}, "--ports has no value"},
	} {
		if _, _, err := liveCommand(c.in, contract.SyncPort); err == nil || !strings.Contains(err.Error(), c.says) {
			t.Errorf("liveCommand(%q) = %v, want an error with %q", c.in, err, c.says)
		}
	}
	if _, _, err := liveCommand([]string{"dagger", "call", "stack", "--src=" + src, "up"}, 15009); err == nil {
		t.Errorf("a sync port of its own with an up that has no --ports: no error")
	}
}

func TestIgnoredAsDockerignoreDoes(t *testing.T) {
	patterns := []string{"*.log", "build", "**/secret.txt", "docs/**/*.md", "!docs/keep.md", "/tmp"}
	for path, want := range map[string]bool{
		"app.log":             true,
		"app/app.log":         false, // *.log is of the folder's top only, as in .dockerignore
		"build/x.js":          true,
		"src/build.js":        false,
		"a/b/secret.txt":      true,
		"secret.txt":          true,
		"docs/a/b.md":         true,
		"docs/keep.md":        false,
		"tmp/x":               true,
		"src/main.py":         false,
		"node_modules/x/y.js": false, // not in these patterns; contract.SourceIgnore has it
	} {
		if got := ignored(path, patterns); got != want {
			t.Errorf("ignored(%q) = %v, want %v", path, got, want)
		}
	}
	for _, p := range []string{".git/HEAD", "frontend/node_modules/vite/index.js", "backend/app/__pycache__/x.pyc", "frontend/dist/index.html"} {
		if !ignored(p, contract.SourceIgnore) {
			t.Errorf("%s is sent", p)
		}
	}
}

// collect gathers what watchTree sends for a while.
func collect(ch <-chan string, d time.Duration) map[string]bool {
	got := map[string]bool{}
	deadline := time.After(d)
	for {
		select {
		case p := <-ch:
			got[p] = true
		case <-deadline:
			return got
		}
	}
}

func TestWatchTreeSeesSavesDeletesAndNewFolders(t *testing.T) {
	root := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(root, "app"), 0o755))
	must(os.MkdirAll(filepath.Join(root, "node_modules", "vite"), 0o755))
	must(os.WriteFile(filepath.Join(root, "app", "old.py"), []byte("1"), 0o644))
	ch, err := watchTree(root, log.New(io.Discard, "", 0))
	if err != nil {
		t.Fatal(err)
	}
	must(os.WriteFile(filepath.Join(root, "app", "main.py"), []byte("1"), 0o644))
	must(os.Remove(filepath.Join(root, "app", "old.py")))
	must(os.WriteFile(filepath.Join(root, "node_modules", "vite", "x.js"), []byte("1"), 0o644))
	// An editor's save: a new file renamed over the old.
	must(os.WriteFile(filepath.Join(root, "app", ".main.py.tmp"), []byte("2"), 0o644))
	must(os.Rename(filepath.Join(root, "app", ".main.py.tmp"), filepath.Join(root, "app", "main.py")))
	// A folder made, and a file in it right away.
	must(os.MkdirAll(filepath.Join(root, "app", "routes"), 0o755))
	must(os.WriteFile(filepath.Join(root, "app", "routes", "notes.py"), []byte("1"), 0o644))
	got := collect(ch, 500*time.Millisecond)
	for _, want := range []string{"app/main.py", "app/old.py", "app/routes"} {
		if !got[want] {
			t.Errorf("no change of %s seen; saw %v", want, got)
		}
	}
	for p := range got {
		if strings.HasPrefix(p, "node_modules") {
			t.Errorf("a change in node_modules was sent: %s", p)
		}
	}
	// The new folder is watched too.
	must(os.WriteFile(filepath.Join(root, "app", "routes", "users.py"), []byte("1"), 0o644))
	if got := collect(ch, 300*time.Millisecond); !got["app/routes/users.py"] {
		t.Errorf("a save in a new folder was not seen: %v", got)
	}
}

// TestWatcherSendsSavesToTheService runs the watcher as a developer does,
// around a stand-in for `dagger call ... up` that runs a real supervisor
// with a sync port (as a service does in its container), and checks what
// a save, a delete and an ignored file do in the service's folder.
func TestWatcherSendsSavesToTheService(t *testing.T) {
	src := t.TempDir()
	service := t.TempDir() // the service's source folder in its container
	if err := os.MkdirAll(filepath.Join(src, "backend", "app"), 0o755); err != nil {
		t.Fatal(err)
	}
	port := testPort(t)
	up := filepath.Join(t.TempDir(), "dagger")
	script := fmt.Sprintf("#!/bin/sh\necho \"dagger got: $*\"\nexec env SUPERVISOR_TEST_RUN=1 %s --sync %d --sync-root %s --sync-dir backend --sync-ignore '*.log' --name backend --sync-restart -- sh -c 'echo \"started $$\"; while :; do sleep 0.05; done'\n",
		os.Args[0], port, service)
	if err := os.WriteFile(up, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "--sync-port", fmt.Sprint(port), "--", up, "call", "stack", "--src="+src, "up", "--ports", "15000:5432")
	cmd.Env = append(os.Environ(), "SUPERVISOR_TEST_WATCH=1")
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		time.Sleep(100 * time.Millisecond)
		cmd.Process.Kill()
		cmd.Wait()
	})
	waitOutput(t, cmd, out, "live: backend ("+filepath.ToSlash(src)+"/backend, restarts)")
	if !strings.Contains(out.String(), "dagger got: call with-live-reload --token=env:"+contract.SyncTokenEnv+" stack --src="+src+" up --ports 15000:5432,"+fmt.Sprint(port)+":65433") {
		t.Errorf("the dagger command was not given live reload and the sync port:\n%s", out)
	}
	if err := os.WriteFile(filepath.Join(src, "backend", "app", "main.py"), []byte("v2"), 0o644); err != nil {
		t.Fatal(err)
	}
	waitOutput(t, cmd, out, "backend: app/main.py in ")
	if got, err := os.ReadFile(filepath.Join(service, "app", "main.py")); err != nil || string(got) != "v2" {
		t.Fatalf("the service's app/main.py = %q, %v", got, err)
	}
	waitOutput(t, cmd, out, "restarted")
	// Ignored by the service's pattern, by every service's, and outside its folder.
	os.WriteFile(filepath.Join(src, "backend", "debug.log"), []byte("x"), 0o644)
	os.MkdirAll(filepath.Join(src, "backend", "app", "__pycache__"), 0o755)
	os.WriteFile(filepath.Join(src, "backend", "app", "__pycache__", "main.pyc"), []byte("x"), 0o644)
	os.WriteFile(filepath.Join(src, "README.md"), []byte("x"), 0o644)
	if err := os.Remove(filepath.Join(src, "backend", "app", "main.py")); err != nil {
		t.Fatal(err)
	}
	waitOutput(t, cmd, out, "app/main.py (deleted)")
	if _, err := os.Stat(filepath.Join(service, "app", "main.py")); !os.IsNotExist(err) {
		t.Errorf("app/main.py is still in the service's folder after its deletion: %v", err)
	}
	for _, p := range []string{"debug.log", "app/__pycache__", "README.md", "../README.md"} {
		if _, err := os.Stat(filepath.Join(service, p)); !os.IsNotExist(err) {
			t.Errorf("%s was sent: %v", p, err)
		}
	}
}
