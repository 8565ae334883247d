package supervisor

import (
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestCommandOverItsMemoryIsEnded: a command whose processes hold more
// memory than --memory is ended as a crash, with a line that says how much
// it held and the limit, and every process of it ends, the child that held
// the memory too (the module runs every service with a state volume, which
// puts its command in a process group of its own).
func TestCommandOverItsMemoryIsEnded(t *testing.T) {
	// A shell (the command) whose child holds 64 MiB: the processes count
	// together. The child says its PID before it takes the memory, which
	// the supervisor may see at once: the size is read at run time (perl
	// makes a string of constants as it compiles, before any print).
	cmd, out := command("--memory", "16777216", "--state", t.TempDir(), "--", "sh", "-c",
		`perl -e '$|=1; print "holding $$\n"; $n = 64*1024*1024; $x = "a" x $n; sleep 120'; echo ended`)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	code := exitStatus(t, cmd)
	if code == 0 {
		t.Errorf("exit status 0, want the crash's\n%s", out)
	}
	for _, want := range []string{"holding", "is unhealthy (its 2 processes hold ", " of memory, over its limit of 16 MiB): ending it as a crash"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the output does not say %q:\n%s", want, out)
		}
	}
	var holder int
	if _, err := fmt.Sscanf(out.String()[strings.Index(out.String(), "holding"):], "holding %d", &holder); err != nil {
		t.Fatalf("no PID after holding: %v\n%s", err, out)
	}
	// Killed as the supervisor ends, it is gone or a zombie (until init
	// reaps it) within moments; a minute only ends a wait for ever.
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(20 * time.Millisecond) {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", holder))
		if err != nil || strings.Contains(string(stat), ") Z ") || !strings.Contains(string(stat), "(perl)") {
			break
		}
		if time.Now().After(deadline) {
			_ = syscall.Kill(holder, syscall.SIGKILL)
			t.Fatalf("the command's child that held the memory (PID %d) still runs a minute after its supervisor ended", holder)
		}
	}
}

func TestBytesText(t *testing.T) {
	for n, want := range map[int64]string{512 << 10: "512 KiB", 512 << 20: "512 MiB", 1 << 30: "1 GiB", 3 << 29: "1.5 GiB"} {
		if got := bytesText(n); got != want {
			t.Errorf("bytesText(%d) = %q, want %q", n, got, want)
		}
	}
}
