package hosttest

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// composeExampleArgs is the README's command for examples/compose, a
// project written for docker compose and a developer's machine, run
// unchanged: the module's own builds (the Vite dev server), or with
// --dockerfiles the project's Dockerfiles (nginx proxying /api to
// backend:8000).
func composeExampleArgs(project, ports string, dockerfiles bool) []string {
	args := []string{"call", "--project=" + project, "from-compose", "--src=examples/compose"}
	if dockerfiles {
		args = append(args, "--dockerfiles")
	}
	return append(args, "stack", "--src=examples/compose", "up", "--ports", ports)
}

// natsPing is a NATS client's handshake with the server at addr: its INFO,
// then CONNECT and PING, answered by PONG.
func natsPing(addr string) error {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(c)
	info, err := r.ReadString('\n')
	if err != nil || !strings.HasPrefix(info, "INFO ") {
		return fmt.Errorf("no INFO from nats at %s: %q, %v", addr, info, err)
	}
	if _, err := c.Write([]byte("CONNECT {\"verbose\":false}\r\nPING\r\n")); err != nil {
		return err
	}
	pong, err := r.ReadString('\n')
	if err != nil || pong != "PONG\r\n" {
		return fmt.Errorf("nats at %s answered %q to PING (%v)", addr, pong, err)
	}
	return nil
}

// TestComposeExampleRunsUnchanged: examples/compose (services named
// postgres, redis, nats and search, Redis URLs with no password, a Celery
// worker reading CELERY_BROKER_URL and a status page of the workers on
// 5555, a backend built in the repository's root with libpq5 from its
// Dockerfile's apt-get, a search service built from a Dockerfile of its
// own, a React frontend whose Vite proxies /api to localhost:8000, and an
// nginx stage proxying it to backend:8000) runs from the README's commands
// with no change: real clients on every forwarded port, the page in
// Chromium showing what the backend says through /api, a sum done by the
// worker, and a note kept from the module's builds to the Dockerfiles'
// builds.
func TestComposeExampleRunsUnchanged(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	const project = "hosttest-compose-example"
	const pg, be, fe, nats, status, search = 26200, 26201, 26202, 26203, 26204, 26205
	requireFree(t, pg, be, fe, nats, status, search)
	dagger(t, ctx, "call", "--project="+project, "wipe", "--confirm="+project)
	httpc := &http.Client{Timeout: 40 * time.Second}
	note := fmt.Sprintf("kept %d", time.Now().UnixNano())

	for _, dockerfiles := range []bool{false, true} {
		what, frontendPort := "the module's builds", 3000
		if dockerfiles {
			what, frontendPort = "--dockerfiles", 80
		}
		ports := fmt.Sprintf("%d:5432,%d:8000,%d:%d,%d:4222,%d:5555,%d:7700", pg, be, fe, frontendPort, nats, status, search)
		up := startUp(t, nil, composeExampleArgs(project, ports, dockerfiles)...)
		// The backend reaches postgres, redis (the project's password filled
		// in its URL), nats and search by compose's names.
		var health map[string]string
		up.waitFor(what+": /api/health with every peer ok", 15*time.Minute, func() error {
			if err := getJSON(httpc, fmt.Sprintf("http://127.0.0.1:%d/api/health", be), &health); err != nil {
				return err
			}
			if health["status"] != "ok" {
				return fmt.Errorf("health %v", health)
			}
			return nil
		})
		// The Celery worker, through the broker URL of the compose file.
		res, err := httpc.Post(fmt.Sprintf("http://127.0.0.1:%d/api/sum?a=20&b=22", be), "", nil)
		if err != nil {
			t.Fatalf("%s: POST /api/sum: %v", what, err)
		}
		var sum struct {
			Sum int `json:"sum"`
		}
		err = json.NewDecoder(res.Body).Decode(&sum)
		res.Body.Close()
		if err != nil || res.StatusCode != 200 || sum.Sum != 42 {
			t.Fatalf("%s: POST /api/sum: %d, %+v, %v; want 42 from the worker", what, res.StatusCode, sum, err)
		}
		// The workers' status page, a worker of the backend's build with a
		// port, answers on the host and sees the Celery worker.
		var workers struct {
			Workers []string `json:"workers"`
		}
		if err := getJSON(httpc, fmt.Sprintf("http://127.0.0.1:%d/workers", status), &workers); err != nil || len(workers.Workers) == 0 {
			t.Fatalf("%s: the status page on the host's port: %+v, %v; want the Celery worker", what, workers, err)
		}
		// nats and Postgres, with real clients on their forwarded ports;
		// Postgres takes the compose file's password.
		if err := natsPing(fmt.Sprintf("127.0.0.1:%d", nats)); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		conn, err := pgx.Connect(ctx, fmt.Sprintf("postgresql://app:changeme@127.0.0.1:%d/app?connect_timeout=10", pg))
		if err != nil {
			t.Fatalf("%s: postgres with the compose file's password: %v", what, err)
		}
		var notes int
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM notes WHERE text = $1", note).Scan(&notes); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		conn.Close(ctx)
		if !dockerfiles {
			if notes != 0 {
				t.Fatalf("the wiped project has the note already")
			}
			res, err := httpc.Post(fmt.Sprintf("http://127.0.0.1:%d/api/notes", be), "application/json", strings.NewReader(`{"text": "`+note+`"}`))
			if err != nil || res.StatusCode != 201 {
				t.Fatalf("POST /api/notes: %v, %v", res, err)
			}
			var created struct {
				ID int `json:"id"`
			}
			err = json.NewDecoder(res.Body).Decode(&created)
			res.Body.Close()
			// The backend indexed it in the search service, which answers
			// on the host's port too.
			word := strings.Fields(note)[1]
			var found struct {
				IDs []int `json:"ids"`
			}
			if err := getJSON(httpc, fmt.Sprintf("http://127.0.0.1:%d/search?q=%s", search, word), &found); err != nil || !slices.Contains(found.IDs, created.ID) {
				t.Fatalf("the search service on the host's port: %+v, %v; want note %d", found, err, created.ID)
			}
		} else if notes != 1 {
			t.Fatalf("%s: the note written under the module's builds: %d rows, want 1", what, notes)
		}
		// The page, in a browser, says what the backend says through the
		// frontend's own /api (Vite's proxy to localhost:8000, or nginx's
		// to backend:8000).
		openPage(t, fmt.Sprintf("http://localhost:%d/", fe), "#health", "ok: postgres ok, redis ok, nats ok, search ok")
		stopUp(t, up)
		waitReleased(t, pg, be, fe, nats, status, search)
	}
}

// TestComposeExampleReloadsLive: examples/compose's develop.watch (sync
// and restart of ./backend, tests/ ignored) under the module's watcher,
// from the README's command: a saved backend file answers on the
// backend's port after its restart, and a file under tests/ is never
// sent (the watcher says nothing of it before it says the next save).
func TestComposeExampleReloadsLive(t *testing.T) {
	t.Parallel()
	const project = "hosttest-compose-live"
	const pg, be, fe, nats, status, search, sync = 26210, 26211, 26212, 26213, 26214, 26215, 26216
	requireFree(t, pg, be, fe, nats, status, search, sync)
	watcher := buildWatcher(t)
	src := copyExampleNamed(t, "compose")
	ports := fmt.Sprintf("%d:5432,%d:8000,%d:3000,%d:4222,%d:5555,%d:7700", pg, be, fe, nats, status, search)
	up := startProgram(t, liveEnv, watcher, "--sync-port", fmt.Sprint(sync), "--",
		"dagger", "call", "--project="+project, "from-compose", "--src="+src, "stack", "--src="+src, "up", "--ports", ports)
	httpc := &http.Client{Timeout: 10 * time.Second}
	health := func(want string) func() error {
		return func() error {
			if ended, err := up.exited(0); ended {
				t.Fatalf("the watcher ended (%v):\n%s", err, tail(up.log.String(), 40))
			}
			var h map[string]string
			if err := getJSON(httpc, fmt.Sprintf("http://127.0.0.1:%d/api/health", be), &h); err != nil {
				return err
			}
			if h["status"] != "ok" || h["edit"] != want {
				return fmt.Errorf("health %v", h)
			}
			return nil
		}
	}
	waitFor(t, "the watcher's live line", 15*time.Minute, func() error {
		if ended, err := up.exited(0); ended {
			t.Fatalf("the watcher ended (%v):\n%s", err, tail(up.log.String(), 40))
		}
		if !strings.Contains(up.log.String(), "commandcenter-watch: live: backend (") {
			return fmt.Errorf("not live yet")
		}
		return nil
	})
	waitFor(t, "the stack under the watcher", 5*time.Minute, health(""))
	main := filepath.Join(src, "backend", "app", "main.py")
	original, err := os.ReadFile(main)
	if err != nil {
		t.Fatal(err)
	}
	const line = `    status["status"] = "ok" if all(v == "ok" for v in status.values()) else "degraded"`
	if !strings.Contains(string(original), line) {
		t.Fatalf("examples/compose's main.py has no %q to change", line)
	}
	edit := func(n int) {
		edited := strings.Replace(string(original), line, line+fmt.Sprintf("\n    status[\"edit\"] = \"%d\"", n), 1)
		if err := os.WriteFile(main, []byte(edited), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	edit(1)
	waitFor(t, "the backend with the first edit", 2*time.Minute, health("1"))
	// A file develop.watch ignores, then a save that is sent: the watcher
	// handles them in order, so when it says the second, it has passed
	// over the first.
	if err := os.MkdirAll(filepath.Join(src, "backend", "tests"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "backend", "tests", "test_ignored.py"), []byte("x = 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	edit(2)
	waitFor(t, "the backend with the second edit", 2*time.Minute, health("2"))
	if strings.Contains(up.log.String(), "test_ignored.py") {
		t.Fatalf("the watcher sent a file develop.watch ignores:\n%s", tail(up.log.String(), 40))
	}
	stopUp(t, up)
	waitReleased(t, pg, be, fe, nats, status, search, sync)
}
