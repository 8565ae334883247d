package hosttest

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// A wait on a program's service stops checking once the program has ended
// (the big-tree test once polled /health for 10 minutes after its `up`
// had exited), and says the program ended.
func TestWaitEndsWhenTheProgramEnds(t *testing.T) {
	p := startProgram(t, nil, "sh", "-c", "echo the program says why it stops; exit 3")
	afterEnd := 0
	err := retry(10*time.Minute, p.ended, func() error {
		select {
		case <-p.ended:
			// The loop's own check can see the end before its wait
			// does, then one last check runs: two at most.
			if afterEnd++; afterEnd > 2 {
				t.Fatalf("the wait went on checking after the program had ended (%d checks so far)", afterEnd)
			}
		default:
		}
		return errors.New("not ready")
	})
	if err == nil || err.Error() != "not ready" {
		t.Fatalf("the wait returned %v, want the last check's error", err)
	}
	if afterEnd == 0 {
		t.Fatal("the wait returned before the program ended")
	}
	if got := p.cmd.ProcessState.ExitCode(); got != 3 {
		t.Fatalf("the program's exit code is %d, want 3", got)
	}
	if !strings.Contains(p.log.String(), "says why it stops") {
		t.Fatalf("the program's output was not kept: %q", p.log.String())
	}
}
