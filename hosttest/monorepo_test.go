package hosttest

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// monorepoArgs is the README's command for the monorepo example: a
// CommandCenter-shaped backend (asyncpg, Alembic before the server, a Celery
// worker and beat, a persistent folder, a secret env file).
func monorepoArgs(project, secrets, ports string) []string {
	return []string{"call", "--project=" + project,
		"with-backend", "--database-scheme=postgresql+asyncpg", "--prestart=alembic upgrade head",
		"with-worker", "--name=worker", "--command=celery -A app.worker worker --pool=solo --loglevel=INFO",
		"with-worker", "--name=beat", "--command=celery -A app.worker beat --loglevel=INFO --schedule=/app/storage/celerybeat-schedule",
		"with-volume", "--path=/app/storage",
		"with-env", "--name=ENVIRONMENT", "--value=development",
		"with-secret-env-file", "--file=file:" + secrets,
		"stack", "--src=examples/monorepo", "up", "--ports", ports}
}

// getJSON GETs url into v and fails on anything but a 200.
func getJSON(c *http.Client, url string, v any) error {
	res, err := c.Get(url)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != 200 {
		return fmt.Errorf("%s: %s", url, res.Status)
	}
	return json.NewDecoder(res.Body).Decode(v)
}

func TestMonorepoStackRunsItsWorkersWithItsSecrets(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	const project = "hosttest-monorepo"
	const pg, rd, be, fe = 25200, 25201, 25202, 25203
	requireFree(t, pg, rd, be, fe)
	ports := fmt.Sprintf("%d:5432,%d:6379,%d:8000,%d:3000", pg, rd, be, fe)
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	secretKey := "monorepo-secret-" + hex.EncodeToString(b)
	secrets := filepath.Join(t.TempDir(), "secrets.env")
	if err := os.WriteFile(secrets, []byte("# the backend's secrets\nSECRET_KEY="+secretKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// Plain progress and debug logs: what a user might paste in an issue.
	args := append([]string{"--progress=plain", "--debug"}, monorepoArgs(project, secrets, ports)...)
	up := startUp(t, nil, args...)

	httpc := &http.Client{Timeout: 10 * time.Second}
	base := fmt.Sprintf("http://127.0.0.1:%d", be)
	var health map[string]string
	up.waitFor("backend /health with the migration applied", 10*time.Minute, func() error {
		if err := getJSON(httpc, base+"/health", &health); err != nil {
			return err
		}
		if health["status"] != "ok" || health["migration"] != "0001" {
			return fmt.Errorf("health %v", health)
		}
		return nil
	})

	// A task through the API, done by the worker, its report written to the
	// persistent folder the backend reads.
	res, err := httpc.Post(base+"/api/analyses", "application/json", strings.NewReader(`{"text": "a rose is a rose is a rose"}`))
	if err != nil {
		t.Fatal(err)
	}
	var created struct {
		ID int `json:"id"`
	}
	err = json.NewDecoder(res.Body).Decode(&created)
	res.Body.Close()
	if err != nil || res.StatusCode != 201 {
		t.Fatalf("POST /api/analyses: %d, %v", res.StatusCode, err)
	}
	analysis := fmt.Sprintf("%s/api/analyses/%d", base, created.ID)
	var done struct {
		Status string   `json:"status"`
		Words  int      `json:"words"`
		Top    []string `json:"top"`
		Report bool     `json:"report"`
	}
	waitFor(t, "the worker's result", 2*time.Minute, func() error {
		if err := getJSON(httpc, analysis, &done); err != nil {
			return err
		}
		if done.Status != "done" {
			return fmt.Errorf("status %q", done.Status)
		}
		return nil
	})
	if done.Words != 8 || strings.Join(done.Top, ",") != "a,rose,is" || !done.Report {
		t.Fatalf("the worker's result: %+v, want 8 words, a rose is, and its report", done)
	}

	// Beat runs: its heartbeat is fresh.
	waitFor(t, "a heartbeat from beat", time.Minute, func() error {
		var beat struct {
			Last *float64 `json:"last"`
			Age  float64  `json:"age_seconds"`
		}
		if err := getJSON(httpc, base+"/api/beat", &beat); err != nil {
			return err
		}
		if beat.Last == nil || beat.Age > 10 {
			return fmt.Errorf("beat %+v", beat)
		}
		return nil
	})

	// The secret reached the app: its token is signed with it.
	var token struct {
		Token string `json:"token"`
	}
	if err := getJSON(httpc, base+"/api/token", &token); err != nil {
		t.Fatal(err)
	}
	mac := hmac.New(sha256.New, []byte(secretKey))
	mac.Write([]byte("monorepo"))
	if want := hex.EncodeToString(mac.Sum(nil)); token.Token != want {
		t.Fatalf("the app's token %q is not signed with the secret file's SECRET_KEY", token.Token)
	}

	// The migration's tables, seen with SQL through the forwarded port.
	env := dagger(t, ctx, "call", "--project="+project, "urls", fmt.Sprintf("--postgres-port=%d", pg))
	dbURL := strings.TrimPrefix(strings.Split(env, "\n")[0], "DATABASE_URL=")
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	var version string
	var rows int
	if err := conn.QueryRow(ctx, "SELECT version_num FROM alembic_version").Scan(&version); err != nil || version != "0001" {
		t.Fatalf("alembic_version: %q, %v", version, err)
	}
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM analyses WHERE id = $1 AND status = 'done'", created.ID).Scan(&rows); err != nil || rows != 1 {
		t.Fatalf("the analysis in Postgres: %d rows, %v", rows, err)
	}
	conn.Close(ctx)

	stopUp(t, up)
	waitReleased(t, pg, rd, be, fe)
	if i := strings.Index(up.log.String(), secretKey); i >= 0 {
		t.Fatalf("the secret file's SECRET_KEY is in the CLI's plain and debug output: ...%s...", up.log.String()[max(0, i-200):i])
	}

	// The persistent folder and the database outlive the stack.
	up = startUp(t, nil, monorepoArgs(project, secrets, ports)...)
	waitFor(t, "the analysis after a restart", 5*time.Minute, func() error {
		if err := getJSON(httpc, analysis, &done); err != nil {
			return err
		}
		if done.Status != "done" || !done.Report {
			return fmt.Errorf("after the restart: %+v", done)
		}
		return nil
	})
	stopUp(t, up)
	waitReleased(t, pg, rd, be, fe)
}
