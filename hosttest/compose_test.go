package hosttest

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// composeFile is a compose file for the example project written by the
// usual habits of docker compose: a literal database password from .env,
// a healthcheck, named volumes, published ports.
const composeFile = `services:
  postgres:
    image: postgres:17
    environment:
      POSTGRES_USER: app
      POSTGRES_DB: app
      POSTGRES_PASSWORD: ${POSTGRES_PASSWORD}
    volumes:
      - pgdata:/var/lib/postgresql/data
    healthcheck:
      test: ["CMD-SHELL", "pg_isready -U app"]
  redis:
    image: redis:8
  backend:
    build: ./backend
    ports:
      - "8000:8000"
    depends_on:
      postgres:
        condition: service_healthy
  frontend:
    build: ./frontend
    ports:
      - "3000:3000"
volumes:
  pgdata:
`

// TestComposeFileRunsAsTheStack: the example project with a compose file
// runs from the README's command (from-compose, then the Stack): Postgres
// takes the file's password on the forwarded port, the backend answers
// /health with Postgres and Redis ok, the frontend serves its page, and a
// row written through the port is there after a restart.
func TestComposeFileRunsAsTheStack(t *testing.T) {
	t.Parallel()
	const project = "hostcompose"
	ports := stackPorts{26100, 26101, 26102, 26103}
	requireFree(t, ports.pg, ports.redis, ports.backend, ports.frontend)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	src := copyExample(t)
	password := fmt.Sprintf("compose-%d", time.Now().UnixNano())
	if err := os.WriteFile(filepath.Join(src, "docker-compose.yml"), []byte(composeFile), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, ".env"), []byte("POSTGRES_PASSWORD="+password+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	dagger(t, ctx, "call", "--project="+project, "wipe", "--confirm="+project)
	up := func() *upProc {
		return startUp(t, nil, "call", "--project="+project, "from-compose", "--src="+src, "stack", "--src="+src,
			"up", "--ports", fmt.Sprintf("%d:5432,%d:6379,%d:8000,%d:3000", ports.pg, ports.redis, ports.backend, ports.frontend))
	}
	connect := func() *pgx.Conn {
		var conn *pgx.Conn
		waitFor(t, "postgres with the compose file's password", 10*time.Minute, func() (err error) {
			conn, err = pgx.Connect(ctx, fmt.Sprintf("postgresql://app:%s@127.0.0.1:%d/app?connect_timeout=5", password, ports.pg))
			return err
		})
		return conn
	}
	page := func(port int) (int, string, error) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://localhost:%d/", port), nil)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, "", err
		}
		defer res.Body.Close()
		body, err := io.ReadAll(res.Body)
		return res.StatusCode, string(body), err
	}

	first := up()
	conn := connect()
	if _, err := conn.Exec(ctx, "CREATE TABLE IF NOT EXISTS kept (note text); INSERT INTO kept VALUES ('from compose')"); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)
	waitFor(t, "the backend's /health with postgres and redis ok", 5*time.Minute, func() error {
		return getHealth(http.DefaultClient, fmt.Sprintf("http://127.0.0.1:%d/health", ports.backend))
	})
	waitFor(t, "the frontend's page", 5*time.Minute, func() error {
		code, body, err := page(ports.frontend)
		if err == nil && (code != 200 || !strings.Contains(body, "<title>CommandCenter</title>")) {
			err = fmt.Errorf("%d %.80q", code, body)
		}
		return err
	})
	stopUp(t, first)
	waitReleased(t, ports.pg, ports.redis, ports.backend, ports.frontend)

	second := up()
	conn = connect()
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM kept WHERE note = 'from compose'").Scan(&n); err != nil || n != 1 {
		t.Errorf("after a restart: %d rows, %v; want the row written before it", n, err)
	}
	conn.Close(ctx)
	stopUp(t, second)
	waitReleased(t, ports.pg, ports.redis, ports.backend, ports.frontend)
}
