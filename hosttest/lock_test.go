package hosttest

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// One run of a project at a time, decided by the project's lock and not
// by timing: two ups started 0.1 s apart, a wipe, a snapshot and a
// restore against the running project, and a start cancelled with Ctrl-C.

// TestOneRunOfAProjectAtATime: of two ups of one project started 0.1 s
// apart, exactly one runs, and the other fails saying the project is in
// use; a wipe, a snapshot and a restore of the running project fail the
// same way and touch nothing; an up stopped with Ctrl-C while it starts
// leaves the project startable at once.
func TestOneRunOfAProjectAtATime(t *testing.T) {
	t.Parallel()
	const project = "hostlock"
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	ports := [2]int{26020, 26021}
	requireFree(t, ports[0], ports[1])
	dagger(t, ctx, "call", "--project="+project, "wipe", "--confirm="+project)
	// A snapshot of the project with a row, to restore while it runs; and
	// none of the project once wiped: it has nothing to save.
	seed := upPostgres(t, project, ports[0])
	conn := connectPostgres(t, ctx, ports[0])
	if _, err := conn.Exec(ctx, "CREATE TABLE kept (n int); INSERT INTO kept VALUES (7)"); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)
	stopUp(t, seed)
	waitReleased(t, ports[0])
	waitNothingRuns(t, ctx, project)
	snapshots := t.TempDir()
	taken := filepath.Join(snapshots, "taken")
	dagger(t, ctx, "call", "--project="+project, "snapshot", "export", "--path="+taken)

	first := upPostgres(t, project, ports[0])
	time.Sleep(100 * time.Millisecond)
	second := upPostgres(t, project, ports[1])
	ups := [2]*upProc{first, second}
	// The one that fails ends by itself; the other runs until stopped.
	loser := -1
	for deadline := time.Now().Add(15 * time.Minute); loser < 0; {
		for i, up := range ups {
			if ended, _ := up.exited(100 * time.Millisecond); ended {
				loser = i
				break
			}
		}
		if loser < 0 && time.Now().After(deadline) {
			t.Fatalf("neither up ended within 15 minutes: both wait, or both run\nfirst:\n%s\nsecond:\n%s", tail(first.log.String(), 15), tail(second.log.String(), 15))
		}
	}
	winner := 1 - loser
	if said := ups[loser].log.String(); !strings.Contains(said, fmt.Sprintf("project %q is in use", project)) {
		t.Errorf("the up that ended does not say the project is in use:\n%s", tail(said, 20))
	}
	conn = connectPostgres(t, ctx, ports[winner])
	if ended, err := ups[winner].exited(0); ended {
		t.Fatalf("the up that runs ended: %v\n%s", err, tail(ups[winner].log.String(), 20))
	}

	// Data operations against the running project: refused, naming it.
	for _, op := range [][]string{
		{"wipe", "--confirm=" + project},
		{"snapshot", "export", "--path=" + filepath.Join(snapshots, "refused")},
		{"restore", "--from=" + taken},
	} {
		cmd := exec.CommandContext(ctx, "dagger", append([]string{"call", "--project=" + project}, op...)...)
		cmd.Dir = repoRoot(t)
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), fmt.Sprintf("project %q is in use", project)) {
			t.Errorf("%s of the running project: %v, want a refusal that says it is in use:\n%s", op[0], err, tail(string(out), 10))
		}
	}
	var n int
	if err := conn.QueryRow(ctx, "SELECT n FROM kept").Scan(&n); err != nil || n != 7 {
		t.Errorf("the row after the refused operations: %d, %v; want 7", n, err)
	}
	conn.Close(ctx)
	stopUp(t, ups[winner])
	waitReleased(t, ports[winner])
	waitNothingRuns(t, ctx, project)

	// Ctrl-C while the start runs (its first progress line is out), then
	// a start that works with no wait.
	starting := upPostgres(t, project, ports[0])
	waitFor(t, "the up's first line", 5*time.Minute, func() error {
		if starting.log.String() == "" {
			return fmt.Errorf("nothing yet")
		}
		return nil
	})
	_ = syscall.Kill(starting.cmd.Process.Pid, syscall.SIGINT)
	if ended, _ := starting.exited(2 * time.Minute); !ended {
		t.Fatalf("an up stopped with Ctrl-C while it started did not end:\n%s", tail(starting.log.String(), 20))
	}
	waitReleased(t, ports[0])
	again := upPostgres(t, project, ports[0])
	conn = connectPostgres(t, ctx, ports[0])
	if err := conn.QueryRow(ctx, "SELECT n FROM kept").Scan(&n); err != nil || n != 7 {
		t.Errorf("the row after a cancelled start: %d, %v; want 7", n, err)
	}
	conn.Close(ctx)
	if said := again.log.String(); strings.Contains(said, "is in use") {
		t.Errorf("the start after a cancelled one was refused:\n%s", tail(said, 20))
	}
	stopUp(t, again)
	waitReleased(t, ports[0])
	waitNothingRuns(t, ctx, project)

	dagger(t, ctx, "call", "--project="+project, "wipe", "--confirm="+project)
	cmd := exec.CommandContext(ctx, "dagger", "call", "--project="+project, "snapshot", "export", "--path="+filepath.Join(snapshots, "empty"))
	cmd.Dir = repoRoot(t)
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "has no data") {
		t.Errorf("a snapshot of a wiped project: %v, want an error that says it has no data:\n%s", err, tail(string(out), 10))
	}
}
