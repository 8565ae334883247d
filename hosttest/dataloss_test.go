package hosttest

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestLostDataIsNamedAndComesBack: the engine empties a project's volumes
// behind the host command's back (as its garbage collector does); the next
// up says loudly that the database is new and empty, names the last
// automatic snapshot (taken at the clean stop before) and the commands that
// bring it back, and they bring the row back.
func TestLostDataIsNamedAndComesBack(t *testing.T) {
	t.Parallel()
	const project = "hostloss"
	const port = 26030
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	requireFree(t, port)
	bin := buildHostCommand(t)
	state := t.TempDir()
	dagger(t, ctx, "call", "--project="+project, "wipe", "--confirm="+project)
	up := func() string {
		t.Helper()
		out, code := hostCommand(t, bin, state, durableEnv, "up", "-d", "--", "dagger", "call", "--project="+project,
			"with-postgres", "--password=env:HOSTTEST_PASSWORD", "postgres", "up", "--ports", fmt.Sprintf("%d:5432", port))
		if code != 0 {
			t.Fatalf("up -d: exit %d\n%s", code, out)
		}
		return out
	}
	// down, and wait until the background up has ended: it takes the
	// automatic snapshot first.
	down := func() {
		t.Helper()
		if out, code := hostCommand(t, bin, state, nil, "down", "-p", project); code != 0 {
			t.Fatalf("down: exit %d\n%s", code, out)
		}
		record := filepath.Join(state, "commandcenter", "projects", project+".json")
		waitFor(t, "the background up's end", 5*time.Minute, func() error {
			var r struct {
				State string `json:"state"`
			}
			text, err := os.ReadFile(record)
			if err == nil {
				err = json.Unmarshal(text, &r)
			}
			if err != nil || r.State != "ended" {
				return fmt.Errorf("record %s: %q, %v", record, r.State, err)
			}
			return nil
		})
		waitReleased(t, port)
	}
	snapshotsOf := func() []string {
		found, _ := filepath.Glob(filepath.Join(state, "commandcenter", "snapshots", project, "*", "snapshot.json"))
		return found
	}

	if out := up(); strings.Contains(out, "WARNING") {
		t.Errorf("the first up warns:\n%s", out)
	}
	conn := connectPostgres(t, ctx, port)
	if _, err := conn.Exec(ctx, "CREATE TABLE kept (n int); INSERT INTO kept VALUES (7)"); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)
	down()
	if n := len(snapshotsOf()); n != 1 {
		t.Fatalf("%d automatic snapshots after a clean stop, want 1", n)
	}

	// The data goes behind the host command's back.
	dagger(t, ctx, "call", "--project="+project, "wipe", "--confirm="+project)
	out := up()
	for _, want := range []string{"NEW, EMPTY database", filepath.Dir(snapshotsOf()[0]), "restore -p " + project, "wipe --confirm=" + project} {
		if !strings.Contains(out, want) {
			t.Errorf("the up after the loss does not say %q:\n%s", want, out)
		}
	}
	down()
	if n := len(snapshotsOf()); n != 1 {
		t.Errorf("%d automatic snapshots after the run that came up empty, want still 1 (none of the empty database)", n)
	}

	// What the warning says to do brings the row back.
	dagger(t, ctx, "call", "--project="+project, "wipe", "--confirm="+project)
	if out, code := hostCommand(t, bin, state, nil, "restore", "-p", project); code != 0 || !strings.Contains(out, "restored") {
		t.Fatalf("restore: exit %d\n%s", code, out)
	}
	if out := up(); strings.Contains(out, "WARNING") {
		t.Errorf("the up after the restore warns:\n%s", out)
	}
	conn = connectPostgres(t, ctx, port)
	var n int
	if err := conn.QueryRow(ctx, "SELECT n FROM kept").Scan(&n); err != nil || n != 7 {
		t.Errorf("the row after the restore: %d, %v; want 7", n, err)
	}
	conn.Close(ctx)
	down()
}
