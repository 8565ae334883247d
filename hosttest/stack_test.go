// Package hosttest checks from the host what only the host can show: the
// README's `dagger call stack ... up --ports ...` forwards real host ports,
// real clients (a Postgres driver, a Redis client, net/http) reach the stack
// through them, and the ports are released when the CLI stops.
//
// It needs the dagger CLI on PATH reaching an engine (`make engine` sets
// that up on a machine without Docker).
package hosttest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
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

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// dagger runs the CLI from the repository's root and returns its stdout.
func dagger(t *testing.T, ctx context.Context, args ...string) string {
	t.Helper()
	cmd := exec.CommandContext(ctx, "dagger", args...)
	cmd.Dir = repoRoot(t)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("dagger %s: %v\n%s", strings.Join(args, " "), err, tail(stderr.String(), 40))
	}
	return string(out)
}

func tail(s string, lines int) string {
	all := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}

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

// up starts `dagger call stack ... up --ports ...` as a user would, and
// returns a function that stops it with Ctrl-C and waits for it to exit.
func up(t *testing.T) (stop func()) {
	t.Helper()
	ports := fmt.Sprintf("%d:5432,%d:6379,%d:8000,%d:3000", pgPort, redisPort, backendPort, frontendPort)
	cmd := exec.Command("dagger", "call", "--project="+project, "stack", "--src=examples/commandcenter",
		"up", "--ports", ports)
	cmd.Dir = repoRoot(t)
	logFile, err := os.CreateTemp("", "hosttest-up-*.log")
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var stopped bool
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGINT)
		select {
		case <-done:
		case <-time.After(60 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
			t.Errorf("dagger up did not exit within 60s of Ctrl-C")
		}
		logFile.Close()
		os.Remove(logFile.Name())
	}
	t.Cleanup(func() {
		if t.Failed() {
			data, _ := os.ReadFile(logFile.Name())
			t.Logf("end of the up command's output:\n%s", tail(string(data), 60))
		}
		stop()
	})
	return stop
}

// waitFor retries check until it passes or the deadline comes.
func waitFor(t *testing.T, what string, timeout time.Duration, check func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var err error
	for time.Now().Before(deadline) {
		if err = check(); err == nil {
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Fatalf("%s not ready after %s: %v", what, timeout, err)
}

func TestReadmeStackUpForwardsHostPorts(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	for _, port := range []int{pgPort, redisPort, backendPort, frontendPort} {
		if !portFree(port) {
			t.Fatalf("host port %d is taken before the test starts: stop what listens there", port)
		}
	}
	env := urls(t, ctx)
	stop := up(t)

	// The first run builds images; later runs are up in seconds.
	httpc := &http.Client{Timeout: 10 * time.Second}
	waitFor(t, "backend /health", 10*time.Minute, func() error {
		return getHealth(httpc, env["BACKEND_URL"]+"/health")
	})
	waitFor(t, "frontend /api/health", 2*time.Minute, func() error {
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

	pg.Close(ctx)
	rdb.Close()
	stop()
	for _, port := range []int{pgPort, redisPort, backendPort, frontendPort} {
		waitFor(t, fmt.Sprintf("release of host port %d", port), 30*time.Second, func() error {
			if !portFree(port) {
				return fmt.Errorf("port %d still taken", port)
			}
			return nil
		})
	}
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

// portFree says whether nothing listens on 127.0.0.1:port.
func portFree(port int) bool {
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return false
	}
	l.Close()
	return true
}
