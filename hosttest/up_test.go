package hosttest

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// upProc is a `dagger call ... up --ports ...` running as a user runs it.
type upProc struct {
	t    *testing.T
	cmd  *exec.Cmd
	done chan error
	// ended is closed when the CLI has exited, for those who only watch.
	ended chan struct{}
	log   *syncBuffer
	once  sync.Once
	err   error
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// startUp runs `dagger ARGS...` from the repository's root, with extra
// environment variables, in a process group of its own.
func startUp(t *testing.T, env []string, args ...string) *upProc {
	t.Helper()
	return startProgram(t, env, "dagger", args...)
}

// startProgram runs program as startUp runs dagger: the live-reload
// watcher, which runs dagger itself.
func startProgram(t *testing.T, env []string, program string, args ...string) *upProc {
	t.Helper()
	p := &upProc{t: t, done: make(chan error, 1), ended: make(chan struct{}), log: &syncBuffer{}}
	p.cmd = exec.Command(program, args...)
	p.cmd.Dir = repoRoot(t)
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.done <- p.cmd.Wait()
		close(p.ended)
	}()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("end of `%s %s` output:\n%s", program, strings.Join(args, " "), tail(p.log.String(), 40))
		}
		p.stop(syscall.SIGKILL)
	})
	return p
}

// stop sends sig to the CLI's process group and waits for it to exit.
func (p *upProc) stop(sig syscall.Signal) error {
	p.once.Do(func() {
		_ = syscall.Kill(-p.cmd.Process.Pid, sig)
		select {
		case p.err = <-p.done:
		case <-time.After(60 * time.Second):
			_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
			p.err = <-p.done
			p.t.Errorf("dagger did not exit within 60s of %s", sig)
		}
	})
	return p.err
}

// stopUp stops `up` as a user does, with Ctrl-C (SIGINT to its process
// group), and checks that it ended as an interrupted `up` ends: Dagger
// v0.19.10's CLI prints "Canceled." and exits 1.
func stopUp(t *testing.T, p *upProc) {
	t.Helper()
	err := p.stop(syscall.SIGINT)
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 || !strings.Contains(p.log.String(), "Canceled.") {
		t.Fatalf("`up` stopped with Ctrl-C ended with %v, want exit status 1 after \"Canceled.\":\n%s", err, tail(p.log.String(), 20))
	}
}

// killUp kills `up` with SIGKILL, as a crash or a closed terminal does.
func killUp(t *testing.T, p *upProc) {
	t.Helper()
	err := p.stop(syscall.SIGKILL)
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ProcessState.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("`up` killed with SIGKILL ended with %v, want killed by SIGKILL", err)
	}
}

// exited says whether the CLI has exited on its own, and how.
func (p *upProc) exited(timeout time.Duration) (bool, error) {
	select {
	case err := <-p.done:
		p.once.Do(func() { p.err = err })
		return true, err
	case <-time.After(timeout):
		return false, nil
	}
}

// dagger runs the CLI from the repository's root and returns its stdout.
func dagger(t *testing.T, ctx context.Context, args ...string) string {
	t.Helper()
	cmd := exec.CommandContext(ctx, "dagger", args...)
	cmd.Dir = repoRoot(t)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("dagger %s: %v\n%s", strings.Join(args, " "), err, tail(stderr.String(), 40))
	}
	return string(out)
}

func tail(s string, lines int) string {
	all := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}

// waitFor retries check until it passes or the deadline comes.
func waitFor(t *testing.T, what string, timeout time.Duration, check func() error) {
	t.Helper()
	if err := retry(timeout, nil, check); err != nil {
		t.Fatalf("%s not ready after %s: %v", what, timeout, err)
	}
}

// waitFor retries check until it passes, the deadline comes, or the
// program ends: what it waits for does not come once `up` has exited.
func (p *upProc) waitFor(what string, timeout time.Duration, check func() error) {
	p.t.Helper()
	err := retry(timeout, p.ended, check)
	if err == nil {
		return
	}
	select {
	case <-p.ended:
		// The test's cleanup prints the program's last lines.
		p.t.Fatalf("%s: `%s` ended (%v) before it was ready (last check: %v)",
			what, p.cmd.Args[0], p.cmd.ProcessState, err)
	default:
		p.t.Fatalf("%s not ready after %s: %v", what, timeout, err)
	}
}

// retry runs check every 200 ms until it passes (nil), the timeout passes
// or ended is closed (check's last error). A check runs once more after
// ended is closed, for what was ready as the program exited.
func retry(timeout time.Duration, ended <-chan struct{}, check func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := check()
		if err == nil || !time.Now().Before(deadline) {
			return err
		}
		select {
		case <-ended:
			return check()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// portFree says whether nothing listens on 127.0.0.1:port.
func portFree(port int) bool {
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return false
	}
	l.Close()
	return true
}

func requireFree(t *testing.T, ports ...int) {
	t.Helper()
	for _, port := range ports {
		if !portFree(port) {
			t.Fatalf("host port %d is taken before the test starts: stop what listens there", port)
		}
	}
}

func waitReleased(t *testing.T, ports ...int) {
	t.Helper()
	for _, port := range ports {
		waitFor(t, fmt.Sprintf("release of host port %d", port), 30*time.Second, func() error {
			if !portFree(port) {
				return fmt.Errorf("port %d still taken", port)
			}
			return nil
		})
	}
}

// copyExample copies the example project to a folder of the test's own, so
// that a test or a measurement can change its files.
func copyExample(t *testing.T) string {
	t.Helper()
	return copyExampleNamed(t, "commandcenter")
}

// copyExampleNamed copies examples/NAME to a folder of its own, named
// "project", without its node_modules. The copies stay until every test of the package has
// ended (TestMain removes them): copies with the same files share the
// engine's cached results, and Dagger v0.19 can reload such a result from
// the folder of the copy that made it first. When that test had already
// removed its copy, another test's `up` failed with "lstat <that folder>:
// no such file or directory" (README, Reliability).
func copyExampleNamed(t *testing.T, name string) string {
	t.Helper()
	parent, err := os.MkdirTemp(projectCopies, strings.NewReplacer("/", "-", " ", "-").Replace(t.Name())+"-")
	if err != nil {
		t.Fatalf("a folder for the copy: %v", err)
	}
	dst := filepath.Join(parent, "project")
	cmd := exec.Command("cp", "-a", filepath.Join(repoRoot(t), "examples", name), dst)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("copy the example: %v\n%s", err, out)
	}
	_ = os.RemoveAll(filepath.Join(dst, "frontend", "node_modules"))
	return dst
}

// stackPorts are the host ports of a Stack's four services.
type stackPorts struct{ pg, redis, backend, frontend int }

func (p stackPorts) arg() string {
	return fmt.Sprintf("%d:5432,%d:6379,%d:8000,%d:3000", p.pg, p.redis, p.backend, p.frontend)
}

// installsIn says which dependency installs ran in an `up` (plain progress
// shows an install's output only when it runs, not when it is cached).
func installsIn(log string) string {
	var ran []string
	if strings.Contains(log, "Requirement already satisfied") || strings.Contains(log, "Successfully installed") {
		ran = append(ran, "pip")
	}
	if strings.Contains(log, "added ") && strings.Contains(log, " packages") {
		ran = append(ran, "npm")
	}
	if len(ran) == 0 {
		return "none"
	}
	return strings.Join(ran, "+")
}

// addBulk puts what a real working copy holds beside its service folders,
// none of which the stack reads: bigFiles files of bigSize bytes under
// data/ (random, each its own), and smallFiles small files, half under
// docs/ and half under hub/ (another app of the repository), 100 a folder.
func addBulk(t *testing.T, dir string, bigFiles, bigSize, smallFiles int) {
	t.Helper()
	block := make([]byte, bigSize)
	if _, err := rand.Read(block); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "data"), 0o755); err != nil {
		t.Fatal(err)
	}
	for i := range bigFiles {
		copy(block, fmt.Sprintf("file %d\n", i))
		if err := os.WriteFile(filepath.Join(dir, "data", fmt.Sprintf("blob-%05d.bin", i)), block, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for i := range smallFiles {
		top := "docs"
		if i%2 == 1 {
			top = "hub"
		}
		folder := filepath.Join(dir, top, fmt.Sprintf("part-%04d", i/200))
		if i%200 < 2 {
			if err := os.MkdirAll(folder, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		text := fmt.Sprintf("# page %d\n\nNothing the stack reads.\n", i)
		if err := os.WriteFile(filepath.Join(folder, fmt.Sprintf("page-%06d.md", i)), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
