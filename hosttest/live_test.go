package hosttest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/jackc/pgx/v5"
)

// Live reload as a developer runs it: the watcher the module builds, around
// the README's stack command, on a copy of the example.

const (
	livePgPassword    = "hosttest-live-pg-7d21"
	liveRedisPassword = "hosttest-live-redis-7d21"
	// liveToken is the sync token the watcher takes from its environment
	// (it makes one otherwise), so that the test can send requests of its
	// own to the sync port.
	liveToken = "hosttest-live-sync-token-0f3a9c"
)

var liveEnv = []string{"LIVE_PG=" + livePgPassword, "LIVE_REDIS=" + liveRedisPassword, "COMMANDCENTER_SYNC_TOKEN=" + liveToken}

// buildWatcher exports the watcher as the README says, once per run.
func buildWatcher(t *testing.T) string {
	t.Helper()
	return exportProgram(t, "watcher", "commandcenter-watch")
}

// exportProgram exports the host program the module's function builds
// for this machine (dagger call FUNCTION export), as the README says, and
// returns its path.
func exportProgram(t *testing.T, function, name string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	dagger(t, ctx, "call", function, "export", "--path="+path)
	return path
}

// liveStack is the example's stack run by the watcher.
type liveStack struct {
	up    *upProc
	src   string
	ports stackPorts
	sync  int
	http  *http.Client
}

func startLive(t *testing.T, project string, ports stackPorts, syncPort int) *liveStack {
	t.Helper()
	return startLiveOn(t, project, copyExample(t), ports, syncPort)
}

// startLiveOn is startLive on the project folder src, a changed copy of the
// example.
func startLiveOn(t *testing.T, project, src string, ports stackPorts, syncPort int) *liveStack {
	t.Helper()
	requireFree(t, ports.pg, ports.redis, ports.backend, ports.frontend, syncPort)
	watcher := buildWatcher(t)
	l := &liveStack{src: src, ports: ports, sync: syncPort, http: &http.Client{Timeout: 10 * time.Second}}
	l.up = startProgram(t, liveEnv, watcher, "--sync-port", fmt.Sprint(syncPort), "--",
		"dagger", "call", "--project="+project, "with-postgres", "--password=env:LIVE_PG", "with-redis", "--password=env:LIVE_REDIS",
		"stack", "--src="+l.src, "up", "--ports", ports.arg())
	waitFor(t, "the watcher's live line", 15*time.Minute, func() error {
		if ended, err := l.up.exited(0); ended {
			t.Fatalf("the watcher ended (%v) before the stack was up:\n%s", err, tail(l.up.log.String(), 40))
		}
		if !strings.Contains(l.up.log.String(), "commandcenter-watch: live: backend (") {
			return fmt.Errorf("not live yet")
		}
		return nil
	})
	l.up.waitFor("backend /health", 5*time.Minute, func() error {
		return getHealth(l.http, fmt.Sprintf("http://127.0.0.1:%d/health", ports.backend))
	})
	return l
}

// replaceIn replaces old with new in the copy's file p, and says when.
func (l *liveStack) replaceIn(t *testing.T, p, old, new string) time.Time {
	t.Helper()
	full := filepath.Join(l.src, p)
	text, err := os.ReadFile(full)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(text, []byte(old)) {
		t.Fatalf("%s has no %q", p, old)
	}
	saved := time.Now()
	if err := os.WriteFile(full, bytes.Replace(text, []byte(old), []byte(new), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	return saved
}

// editBackend makes the backend's /health say edit = n, and returns how long
// after the save the backend's port answered so.
func (l *liveStack) editBackend(t *testing.T, n int) time.Duration {
	t.Helper()
	old := `    report["status"] = "ok" if ok else "degraded"` + "\n"
	if n > 1 {
		old += fmt.Sprintf(`    report["edit"] = "%d"`+"\n", n-1)
	}
	saved := l.replaceIn(t, "backend/app/main.py", old, `    report["status"] = "ok" if ok else "degraded"`+"\n"+fmt.Sprintf(`    report["edit"] = "%d"`+"\n", n))
	url := fmt.Sprintf("http://127.0.0.1:%d/health", l.ports.backend)
	for {
		var report struct {
			Edit string `json:"edit"`
		}
		if res, err := l.http.Get(url); err == nil {
			_ = json.NewDecoder(res.Body).Decode(&report)
			res.Body.Close()
		}
		if report.Edit == fmt.Sprint(n) {
			return time.Since(saved)
		}
		if time.Since(saved) > time.Minute {
			t.Fatalf("the backend did not answer with edit %d within a minute of the save:\n%s", n, tail(l.up.log.String(), 30))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// browser opens the frontend's page in headless Chromium (Debian's
// chromium package) and waits for the page's health line.
func (l *liveStack) browser(t *testing.T) context.Context {
	t.Helper()
	// The dev server answers localhost names only.
	return openPage(t, fmt.Sprintf("http://localhost:%d/", l.ports.frontend), "#health", "all good")
}

// openPage opens page in headless Chromium (Debian's chromium package) and
// waits, for 2 minutes at most, until the text of the element sel has want;
// the browser lives until the test ends.
func openPage(t *testing.T, page, sel, want string) context.Context {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatalf("no chromium: apt-get install chromium (scripts/test.sh does)")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.NoSandbox,
		chromedp.Flag("disable-background-networking", true))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	// The first run starts the browser, for as long as ctx lives: no
	// timeout on it.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	runCtx, done := context.WithTimeout(ctx, 2*time.Minute)
	defer done()
	if err := chromedp.Do(runCtx, chromedp.Navigate(page), waitText(sel, want)); err != nil {
		t.Fatalf("the page at %s: %v", page, err)
	}
	return ctx
}

// waitText waits until the element's text has want.
func waitText(sel, want string) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, target *chromedp.Target) (chromedp.Void, error) {
		for {
			text, err := chromedp.Text(chromedp.CSS(sel))(ctx, target)
			if err == nil && strings.Contains(text, want) {
				return chromedp.Void{}, nil
			}
			select {
			case <-ctx.Done():
				return chromedp.Void{}, fmt.Errorf("%s never said %q (it says %q): %w", sel, want, text, ctx.Err())
			case <-time.After(10 * time.Millisecond):
			}
		}
	}
}

// editFrontend changes the page's health text to say edit n, and returns
// how long after the save the open page showed it; it fails when the page
// reloaded instead of taking a hot update (a mark set on the page before
// the save is gone then).
func (l *liveStack) editFrontend(t *testing.T, ctx context.Context, n int) time.Duration {
	t.Helper()
	mark := fmt.Sprintf("mark-%d", n)
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[string](fmt.Sprintf("window.__liveMark = %q", mark))); err != nil {
		t.Fatal(err)
	}
	old := "'all good'"
	if n > 1 {
		old = fmt.Sprintf("'all good (edit %d)'", n-1)
	}
	saved := l.replaceIn(t, "frontend/src/format.js", old, fmt.Sprintf("'all good (edit %d)'", n))
	runCtx, done := context.WithTimeout(ctx, time.Minute)
	defer done()
	if _, err := chromedp.Run(runCtx, waitText("#health", fmt.Sprintf("(edit %d)", n))); err != nil {
		t.Fatalf("the open page did not show edit %d: %v\n%s", n, err, tail(l.up.log.String(), 30))
	}
	took := time.Since(saved)
	got, err := chromedp.Run(ctx, chromedp.Evaluate[string]("String(window.__liveMark)"))
	if err != nil || got != mark {
		t.Fatalf("the page reloaded for edit %d instead of a hot update (its mark is %q, %v)", n, got, err)
	}
	return took
}

// syncRequest sends a request of the test's own to the sync port.
func (l *liveStack) syncRequest(t *testing.T, token, name string, body any) int {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, fmt.Sprintf("http://127.0.0.1:%d/sync/%s", l.sync, name), bytes.NewReader(b))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := l.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

// TestLiveReloadKeepsTheDatabase: under the watcher, a backend edit changes
// its answer and a frontend edit reaches the open page as a hot update,
// while Postgres runs on untouched: a connection made before the edits is
// the same server process after them, and the rows are there. A changed
// requirements.txt installs in the running backend. The sync port refuses
// requests without the token and paths out of the service's folder.
func TestLiveReloadKeepsTheDatabase(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ports := stackPorts{25400, 25401, 25402, 25403}
	l := startLive(t, "hosttest-live", ports, 25409)

	db, err := pgx.Connect(ctx, fmt.Sprintf("postgres://commandcenter:%s@127.0.0.1:%d/commandcenter?sslmode=disable", livePgPassword, ports.pg))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(ctx)
	var pid int
	var started time.Time
	if err := db.QueryRow(ctx, "SELECT pg_backend_pid(), pg_postmaster_start_time()").Scan(&pid, &started); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(ctx, "CREATE TABLE IF NOT EXISTS live_rows (n int); TRUNCATE live_rows; INSERT INTO live_rows SELECT generate_series(1, 100)"); err != nil {
		t.Fatal(err)
	}

	took := l.editBackend(t, 1)
	t.Logf("backend edit: new answer %s after the save", took.Round(time.Millisecond))
	page := l.browser(t)
	took = l.editFrontend(t, page, 1)
	t.Logf("frontend edit: on the open page %s after the save, without a reload", took.Round(time.Millisecond))

	// A changed requirements file installs in the running backend, which
	// then restarts; the watcher says so.
	saved := time.Now()
	f, err := os.OpenFile(filepath.Join(l.src, "backend", "requirements.txt"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintln(f, "# a comment: the same requirements")
	f.Close()
	waitFor(t, "the install after the requirements change", 5*time.Minute, func() error {
		if !strings.Contains(l.up.log.String(), "backend: requirements.txt in ") {
			return fmt.Errorf("not sent yet")
		}
		return nil
	})
	if log := l.up.log.String(); !strings.Contains(log, "dependencies installed; restarted") {
		t.Fatalf("the requirements change did not install and restart:\n%s", tail(log, 30))
	}
	waitFor(t, "backend /health after the install", time.Minute, func() error {
		return getHealth(l.http, fmt.Sprintf("http://127.0.0.1:%d/health", ports.backend))
	})
	t.Logf("requirements change: installed and restarted %s after the save", time.Since(saved).Round(time.Millisecond))

	// Postgres never restarted: the same connection, the same server.
	var pidAfter, rows int
	var startedAfter time.Time
	if err := db.QueryRow(ctx, "SELECT pg_backend_pid(), pg_postmaster_start_time(), (SELECT count(*) FROM live_rows)").Scan(&pidAfter, &startedAfter, &rows); err != nil {
		t.Fatalf("the connection made before the edits: %v", err)
	}
	if pidAfter != pid || !startedAfter.Equal(started) || rows != 100 {
		t.Errorf("after the edits: backend pid %d (was %d), server started %s (was %s), %d rows (want 100)", pidAfter, pid, startedAfter, started, rows)
	}

	// The sync port is forwarded to every interface: it takes nothing
	// without the token, and nothing outside the service's folder with it.
	batch := map[string]any{"files": []map[string]any{{"path": "app/evil.py", "data": []byte("import os")}}}
	if code := l.syncRequest(t, "", "backend", batch); code != http.StatusUnauthorized {
		t.Errorf("a batch without the token: %d, want 401", code)
	}
	if code := l.syncRequest(t, "wrong-token-but-long-enough", "backend", batch); code != http.StatusUnauthorized {
		t.Errorf("a batch with another token: %d, want 401", code)
	}
	escape := map[string]any{"files": []map[string]any{{"path": "../../etc/evil.py", "data": []byte("x")}}}
	if code := l.syncRequest(t, liveToken, "backend", escape); code != http.StatusBadRequest {
		t.Errorf("a path out of the service's folder: %d, want 400", code)
	}

	stopUp(t, l.up)
	waitReleased(t, ports.pg, ports.redis, ports.backend, ports.frontend, l.sync)
}
