package supervisor

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestRequestWakesOnARequestWritten: a file moved into the requests folder
// (as ask writes a request: a temporary file renamed) and a file written
// there each wake the supervisor's look for requests, which otherwise waits
// for its slow poll.
func TestRequestWakesOnARequestWritten(t *testing.T) {
	dir, elsewhere := t.TempDir(), t.TempDir()
	done := make(chan struct{})
	defer close(done)
	wakes := requestWakes(dir, done)
	if wakes == nil {
		t.Fatal("no inotify on this Linux machine: the supervisor polls")
	}
	tmp := filepath.Join(elsewhere, "1-1.json")
	if err := os.WriteFile(tmp, []byte(`{"action":"stop"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, "1-1.json")); err != nil {
		t.Fatal(err)
	}
	waitWake(t, wakes, "a request moved into the folder")
	if err := os.WriteFile(filepath.Join(dir, "2-1.json"), []byte(`{"action":"stop"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	waitWake(t, wakes, "a request written in the folder")
}

// waitWake waits for a wake, up to a bound far past any machine's delay.
func waitWake(t *testing.T, wakes <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-wakes:
	case <-time.After(time.Minute):
		t.Fatalf("no wake within a minute of %s", what)
	}
}
