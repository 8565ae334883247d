package spec

import (
	"encoding/binary"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// launch runs the backend launcher with the host's python3, the way the
// Stack's backend container runs it, and returns its output and exit code.
func launch(t *testing.T, env []string, args ...string) (string, int) {
	t.Helper()
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 is not installed: the launcher is tested where it is")
	}
	script := filepath.Join(t.TempDir(), "launch.py")
	if err := os.WriteFile(script, []byte(BackendLauncher), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(python, append([]string{script}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	code := 0
	if exitErr, ok := err.(*exec.ExitError); ok {
		code = exitErr.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return string(out), code
}

// freePort returns a port nothing listens on.
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func TestLauncherWaitsThenPrestartsThenRuns(t *testing.T) {
	addr := freePort(t)
	opened := make(chan time.Time, 1)
	go func() {
		time.Sleep(700 * time.Millisecond)
		l, err := net.Listen("tcp", addr)
		if err != nil {
			t.Error(err)
			return
		}
		opened <- time.Now()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	out, code := launch(t, []string{
		"COMMANDCENTER_WAIT=" + addr,
		"COMMANDCENTER_PRESTART=echo prestart ran",
	}, "sh", "-c", "echo server ran")
	done := time.Now()
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	if want := "prestart ran\nserver ran\n"; out != want {
		t.Errorf("output %q, want %q", out, want)
	}
	select {
	case at := <-opened:
		if done.Before(at) {
			t.Errorf("the launcher finished before %s listened", addr)
		}
	default:
		t.Errorf("the launcher finished before %s listened", addr)
	}
}

func TestLauncherNamesTheServiceThatNeverAnswers(t *testing.T) {
	addr := freePort(t)
	out, code := launch(t, []string{"COMMANDCENTER_WAIT=" + addr, "COMMANDCENTER_WAIT_TIMEOUT=0.5"}, "sh", "-c", "echo server ran")
	if code == 0 || strings.Contains(out, "server ran") {
		t.Fatalf("the server started though %s never answered (exit %d):\n%s", addr, code, out)
	}
	if want := addr + " was not ready within 0.5 s"; !strings.Contains(out, want) {
		t.Errorf("output does not say %q:\n%s", want, out)
	}
}

func TestLauncherStopsWhenPrestartFails(t *testing.T) {
	out, code := launch(t, []string{"COMMANDCENTER_PRESTART=exit 3"}, "sh", "-c", "echo server ran")
	if code != 3 || strings.Contains(out, "server ran") {
		t.Fatalf("want the prestart's exit code 3 and no server, got exit %d:\n%s", code, out)
	}
	if !strings.Contains(out, "the prestart command exited 3") {
		t.Errorf("output does not name the prestart's exit code:\n%s", out)
	}
}

// serveAnswers listens on a free port and answers the n-th connection with
// answer(n) after reading what the client sent first; it returns the address
// and a count of the connections it took.
func serveAnswers(t *testing.T, answer func(n int) []byte) (string, *atomic.Int32) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	var count atomic.Int32
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			n := int(count.Add(1))
			buf := make([]byte, 512)
			_, _ = c.Read(buf)
			_, _ = c.Write(answer(n))
			c.Close()
		}
	}()
	return l.Addr().String(), &count
}

// pgError is a Postgres ErrorResponse with SQLSTATE code.
func pgError(code, message string) []byte {
	fields := "SFATAL\x00C" + code + "\x00M" + message + "\x00\x00"
	msg := []byte{'E'}
	msg = binary.BigEndian.AppendUint32(msg, uint32(4+len(fields)))
	return append(msg, fields...)
}

func TestLauncherWaitsForPostgresToFinishStartingUp(t *testing.T) {
	addr, count := serveAnswers(t, func(n int) []byte {
		if n <= 3 {
			return pgError("57P03", "the database system is starting up")
		}
		return []byte{'R', 0, 0, 0, 8, 0, 0, 0, 3} // a password, please
	})
	out, code := launch(t, []string{"COMMANDCENTER_WAIT=postgres://" + addr}, "sh", "-c", "echo server ran")
	if code != 0 || out != "server ran\n" {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	if n := count.Load(); n < 4 {
		t.Errorf("the server started after %d connection(s), while Postgres was starting up", n)
	}
}

func TestLauncherTakesARefusedLoginAsReady(t *testing.T) {
	addr, count := serveAnswers(t, func(int) []byte {
		return pgError("28000", `role "commandcenter-launcher" does not exist`)
	})
	out, code := launch(t, []string{"COMMANDCENTER_WAIT=postgres://" + addr}, "sh", "-c", "echo server ran")
	if code != 0 || out != "server ran\n" || count.Load() != 1 {
		t.Fatalf("exit %d after %d connection(s):\n%s", code, count.Load(), out)
	}
}

func TestLauncherWaitsForRedisToLoad(t *testing.T) {
	addr, count := serveAnswers(t, func(n int) []byte {
		if n <= 2 {
			return []byte("-LOADING Redis is loading the dataset in memory\r\n")
		}
		return []byte("-NOAUTH Authentication required.\r\n")
	})
	out, code := launch(t, []string{"COMMANDCENTER_WAIT=redis://" + addr}, "sh", "-c", "echo server ran")
	if code != 0 || out != "server ran\n" {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	if n := count.Load(); n < 3 {
		t.Errorf("the server started after %d connection(s), while Redis was loading", n)
	}
}

func TestLauncherSaysWhatPostgresLastSaid(t *testing.T) {
	addr, _ := serveAnswers(t, func(int) []byte { return pgError("57P03", "the database system is starting up") })
	out, code := launch(t, []string{"COMMANDCENTER_WAIT=postgres://" + addr, "COMMANDCENTER_WAIT_TIMEOUT=0.5"}, "true")
	if code == 0 || !strings.Contains(out, "postgres://"+addr+" was not ready within 0.5 s (the database system is starting up)") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
}
