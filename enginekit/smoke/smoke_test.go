// Package smoke checks the engine the kit started, with nothing faked: a Go
// module runs on it, a stand-in image comes through the local mirror, and a
// service is forwarded to a host port with `up --ports` and released after.
package smoke

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The smoke module: one function a check.
const smokeModule = `package main

import (
	"context"

	"dagger/smoke/internal/dagger"
)

type Smoke struct{}

// Hello answers from inside the module runtime.
func (m *Smoke) Hello(name string) string {
	return "hello, " + name
}

// StandinPython runs python3 --version in the python stand-in image.
func (m *Smoke) StandinPython(ctx context.Context, nonce string) (string, error) {
	return dag.Container().From("python:3.13-slim-trixie").
		WithEnvVariable("NONCE", nonce).
		WithExec([]string{"python3", "--version"}).
		Stdout(ctx)
}

// Web serves a page that says marker on port 8080.
func (m *Smoke) Web(marker string) *dagger.Service {
	return dag.Container().From("python:3.13-slim-trixie").
		WithNewFile("/srv/index.html", marker).
		WithWorkdir("/srv").
		WithExposedPort(8080).
		AsService(dagger.ContainerAsServiceOpts{Args: []string{"python3", "-m", "http.server", "8080"}})
}
`

func run(t *testing.T, dir string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "dagger", args...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("dagger %s: %v\n%s", strings.Join(args, " "), err, lastLines(stderr.String(), 30))
	}
	return string(out)
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func newSmokeModule(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	run(t, dir, "init", "--sdk=go", "--name=smoke", "--source=.", "--license=")
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(smokeModule), 0o644); err != nil {
		t.Fatal(err)
	}
	gomod, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	// The SDK image's Go writes its version into go.mod: it must be the one an
	// official v0.19.10 engine has, so that modules made here build there too.
	if !bytes.Contains(gomod, []byte("\ngo 1.25.")) {
		t.Errorf("go.mod of a new module does not pin Go 1.25.x:\n%s", gomod)
	}
	return dir
}

func TestKitEngine(t *testing.T) {
	if _, err := exec.LookPath("dagger"); err != nil {
		t.Fatal("dagger is not on PATH: run `make engine` first (or install the dagger CLI where Docker runs)")
	}
	dir := newSmokeModule(t)

	t.Run("GoModuleFunctionRuns", func(t *testing.T) {
		// A name of its own each run: a function call with the same inputs
		// would come back from the engine's cache without running.
		name := fmt.Sprintf("kit-%d", time.Now().UnixNano())
		if out := run(t, dir, "call", "hello", "--name="+name); strings.TrimSpace(out) != "hello, "+name {
			t.Fatalf("hello --name=%s printed %q", name, out)
		}
	})

	t.Run("StandinImageRunsThroughMirror", func(t *testing.T) {
		out := run(t, dir, "call", "standin-python", "--nonce="+fmt.Sprint(time.Now().UnixNano()))
		if !strings.HasPrefix(strings.TrimSpace(out), "Python 3.13") {
			t.Fatalf("python3 --version in the stand-in printed %q", out)
		}
	})

	t.Run("ServiceForwardedToHostPort", func(t *testing.T) {
		port := freePort(t)
		marker := fmt.Sprintf("smoke-%d", time.Now().UnixNano())
		cmd := exec.Command("dagger", "call", "web", "--marker="+marker, "up", "--ports", fmt.Sprintf("%d:8080", port))
		cmd.Dir = dir
		var log bytes.Buffer
		cmd.Stdout, cmd.Stderr = &log, &log
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		defer syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)

		var body string
		deadline := time.Now().Add(3 * time.Minute)
		for {
			res, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/index.html", port))
			if err == nil {
				data, _ := io.ReadAll(res.Body)
				res.Body.Close()
				body = string(data)
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("nothing answered on 127.0.0.1:%d: %v\n%s", port, err, lastLines(log.String(), 30))
			}
			time.Sleep(300 * time.Millisecond)
		}
		if body != marker {
			t.Fatalf("127.0.0.1:%d answered %q, want %q", port, body, marker)
		}

		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGINT)
		select {
		case <-done:
		case <-time.After(60 * time.Second):
			t.Fatal("dagger up did not exit within 60s of Ctrl-C")
		}
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			t.Fatalf("port %d is still taken after the CLI exited: %v", port, err)
		}
		l.Close()
	})
}

// freePort picks a host port nothing listens on.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
