// Package hosttest checks from the host what only the host can show: the
// README's `dagger call stack ... up --ports ...` forwards real host ports,
// real clients (a Postgres driver, a Redis client, net/http) reach the stack
// through them, and the ports are released when the CLI stops.
//
// It needs the dagger CLI on PATH reaching an engine (`make engine` sets
// that up on a machine without Docker).
//
// A test that has host ports and projects of its own calls t.Parallel, and
// runs beside others (scripts/test.sh runs two at a time). The others run
// first, alone: the durability tests share a project and its ports, and
// TestOnlyRootReachesTheEnginesContainers dials every container of the
// engine, which must not come and go under it. A test's verdict waits for
// events, never for a time, so that it holds however busy the engine is.
package hosttest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
)

// Host ports of the test's stack: a block of its own, away from `make up`'s.
const (
	pgPort       = 25000
	redisPort    = 25001
	backendPort  = 25002
	frontendPort = 25003
	project      = "hosttest"
)

// urls asks the module for the stack's host URLs, with the project's passwords.
func urls(t *testing.T, ctx context.Context) map[string]string {
	out := dagger(t, ctx, "call", "--project="+project, "urls",
		fmt.Sprintf("--postgres-port=%d", pgPort), fmt.Sprintf("--redis-port=%d", redisPort),
		fmt.Sprintf("--backend-port=%d", backendPort), fmt.Sprintf("--frontend-port=%d", frontendPort))
	vars := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			vars[k] = v
		}
	}
	for _, k := range []string{"DATABASE_URL", "REDIS_URL", "BACKEND_URL", "FRONTEND_URL"} {
		if vars[k] == "" {
			t.Fatalf("urls printed no %s:\n%s", k, out)
		}
	}
	return vars
}

func TestReadmeStackUpForwardsHostPorts(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	requireFree(t, pgPort, redisPort, backendPort, frontendPort)
	env := urls(t, ctx)
	ports := fmt.Sprintf("%d:5432,%d:6379,%d:8000,%d:3000", pgPort, redisPort, backendPort, frontendPort)
	up := startUp(t, nil, "call", "--project="+project, "stack", "--src=examples/commandcenter", "up", "--ports", ports)

	// The first run builds images; later runs are up in seconds.
	httpc := &http.Client{Timeout: 10 * time.Second}
	up.waitFor("backend /health", 10*time.Minute, func() error {
		return getHealth(httpc, env["BACKEND_URL"]+"/health")
	})
	up.waitFor("frontend /api/health", 2*time.Minute, func() error {
		return getHealth(httpc, env["FRONTEND_URL"]+"/api/health")
	})

	var pg *pgx.Conn
	waitFor(t, "postgres", time.Minute, func() (err error) {
		pg, err = pgx.Connect(ctx, env["DATABASE_URL"])
		return err
	})
	defer pg.Close(ctx)

	opts, err := redis.ParseURL(env["REDIS_URL"])
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opts)
	defer rdb.Close()
	if pong, err := rdb.Ping(ctx).Result(); err != nil || pong != "PONG" {
		t.Fatalf("redis PING through 127.0.0.1:%d: %q, %v", redisPort, pong, err)
	}

	// The page, then a note made through the frontend's /api and read back with SQL.
	res, err := httpc.Get(env["FRONTEND_URL"] + "/")
	if err != nil {
		t.Fatal(err)
	}
	page := new(bytes.Buffer)
	_, _ = page.ReadFrom(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(page.String(), "<title>CommandCenter</title>") {
		t.Fatalf("frontend page: %d %q", res.StatusCode, tail(page.String(), 5))
	}
	title := fmt.Sprintf("hosttest-%d", time.Now().UnixNano())
	res, err = httpc.Post(env["FRONTEND_URL"]+"/api/notes", "application/json",
		strings.NewReader(fmt.Sprintf(`{"title": %q, "body": "made from the host"}`, title)))
	if err != nil {
		t.Fatal(err)
	}
	var created struct {
		ID int64 `json:"id"`
	}
	err = json.NewDecoder(res.Body).Decode(&created)
	res.Body.Close()
	if err != nil || res.StatusCode != 201 {
		t.Fatalf("POST /api/notes: %d, %v", res.StatusCode, err)
	}
	var body string
	if err := pg.QueryRow(ctx, "SELECT body FROM notes WHERE id = $1 AND title = $2", created.ID, title).Scan(&body); err != nil {
		t.Fatalf("the note made through the frontend is not in Postgres: %v", err)
	}
	if body != "made from the host" {
		t.Fatalf("note body = %q", body)
	}

	// Redis is the backend's: its cache holds the note list after a GET.
	if _, err := httpc.Get(env["BACKEND_URL"] + "/api/notes"); err != nil {
		t.Fatal(err)
	}
	if n, err := rdb.Exists(ctx, "notes:all").Result(); err != nil || n != 1 {
		t.Fatalf("the backend's note list is not cached in the stack's Redis: %d, %v", n, err)
	}

	// The Stack's Redis, which runs in the front beside Postgres, writes
	// every key to the project's volume before it answers, as a lone one
	// does: a key and the note are there after the next up.
	for setting, want := range map[string]string{"appendonly": "yes", "appendfsync": "always"} {
		got, err := rdb.ConfigGet(ctx, setting).Result()
		if err != nil || got[setting] != want {
			t.Fatalf("the Stack's Redis runs with %s = %v (%v), want %q", setting, got, err, want)
		}
	}
	kept := "hosttest:kept:" + title
	if err := rdb.Set(ctx, kept, title, 0).Err(); err != nil {
		t.Fatal(err)
	}
	pg.Close(ctx)
	rdb.Close()
	stopUp(t, up)
	waitReleased(t, pgPort, redisPort, backendPort, frontendPort)

	up = startUp(t, nil, "call", "--project="+project, "stack", "--src=examples/commandcenter", "up", "--ports", ports)
	up.waitFor("backend /health after the restart", 5*time.Minute, func() error {
		return getHealth(httpc, env["BACKEND_URL"]+"/health")
	})
	rdb = redis.NewClient(opts)
	defer rdb.Close()
	if got, err := rdb.Get(ctx, kept).Result(); err != nil || got != title {
		t.Fatalf("the key set before the restart: %q, %v; want %q", got, err, title)
	}
	rdb.Del(ctx, kept)
	pg, err = pgx.Connect(ctx, env["DATABASE_URL"])
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close(ctx)
	if err := pg.QueryRow(ctx, "SELECT body FROM notes WHERE id = $1 AND title = $2", created.ID, title).Scan(&body); err != nil {
		t.Fatalf("the note made before the restart: %v", err)
	}
	pg.Close(ctx)
	rdb.Close()
	stopUp(t, up)
	waitReleased(t, pgPort, redisPort, backendPort, frontendPort)
}

func getHealth(c *http.Client, url string) error {
	res, err := c.Get(url)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	var report map[string]string
	if err := json.NewDecoder(res.Body).Decode(&report); err != nil {
		return fmt.Errorf("%s: %d, not JSON: %w", url, res.StatusCode, err)
	}
	if res.StatusCode != 200 || report["postgres"] != "ok" || report["redis"] != "ok" {
		return fmt.Errorf("%s: %d %v", url, res.StatusCode, report)
	}
	return nil
}
