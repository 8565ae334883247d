package main

import (
	"strings"
	"testing"
)

// TestCommandOverItsMemoryIsEnded: a command whose processes hold more
// memory than --memory is ended as a crash, with a line that says how much
// it held and the limit.
func TestCommandOverItsMemoryIsEnded(t *testing.T) {
	// A shell (the command) whose child holds 64 MiB: the processes count
	// together.
	cmd, out := command("--memory", "16777216", "--", "sh", "-c",
		`perl -e '$|=1; $x = "a" x (64*1024*1024); print "holding\n"; sleep 120'; echo ended`)
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
}

func TestBytesText(t *testing.T) {
	for n, want := range map[int64]string{512 << 10: "512 KiB", 512 << 20: "512 MiB", 1 << 30: "1 GiB", 3 << 29: "1.5 GiB"} {
		if got := bytesText(n); got != want {
			t.Errorf("bytesText(%d) = %q, want %q", n, got, want)
		}
	}
}
