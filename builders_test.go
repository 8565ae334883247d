package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// The pure string builders of the module, checked without an engine; the
// shell lines are run by a real sh. `dagger -m .dagger call lint` runs them
// after code generation.

// runSh runs line with sh in dir and returns its output.
func runSh(t *testing.T, dir, line string) string {
	t.Helper()
	cmd := exec.Command("sh", "-c", line)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("sh -c %q: %v\n%s", line, err, out)
	}
	return string(out)
}

func TestShellLineQuotesEveryArgumentForSh(t *testing.T) {
	args := []string{"plain", "with space", "it's", "", "$HOME", "`id`", "a;b", "tab\there", "--flag=x:y@z"}
	out := runSh(t, t.TempDir(), `printf '%s\n' `+shellLine(args))
	if got := strings.Split(strings.TrimSuffix(out, "\n"), "\n"); strings.Join(got, "|") != strings.Join(args, "|") {
		t.Errorf("sh read %q, want %q", got, args)
	}
	if got := shellLine([]string{"npm", "ci", "--no-audit"}); got != "npm ci --no-audit" {
		t.Errorf("plain words are quoted: %q", got)
	}
}

func TestInstallInCopiesTheManifestsThenInstalls(t *testing.T) {
	root, at := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "requirements.txt"), []byte("fastapi==1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A manifest that is not there is left alone, not an error.
	line := installIn(root, at, []string{"requirements.txt", "requirements-dev.txt"}, []string{"sh", "-c", "pwd > ran-in; cat requirements.txt > installed"})
	runSh(t, t.TempDir(), line)
	if got, _ := os.ReadFile(filepath.Join(at, "installed")); string(got) != "fastapi==1\n" {
		t.Errorf("the install saw %q, want the new requirements", got)
	}
	if got, _ := os.ReadFile(filepath.Join(at, "ran-in")); strings.TrimSpace(string(got)) != at {
		t.Errorf("the install ran in %q, want %s", got, at)
	}
	if same := installIn(root, root, []string{"requirements.txt"}, []string{"pip", "install"}); strings.Contains(same, "cp ") {
		t.Errorf("copies a folder onto itself: %q", same)
	}
}

func TestShellExecsASimpleCommandOnly(t *testing.T) {
	for command, want := range map[string]string{
		"uvicorn app.main:app --port 8000":             "exec uvicorn app.main:app --port 8000",
		"alembic upgrade head && uvicorn app.main:app": "alembic upgrade head && uvicorn app.main:app",
		"celery -A app worker; echo done":              "celery -A app worker; echo done",
	} {
		got := shell(command)
		if len(got) != 3 || got[0] != "sh" || got[1] != "-c" || got[2] != want {
			t.Errorf("shell(%q) = %q, want sh -c %q", command, got, want)
		}
	}
	// exec: the shell is replaced by the command (the same process), so
	// the command gets the signals the service is stopped with.
	cmd := exec.Command("sh", "-c", shell(`sh -c 'echo $$'`)[2])
	var out strings.Builder
	cmd.Stdout = &out
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	if got, want := strings.TrimSpace(out.String()), strconv.Itoa(cmd.Process.Pid); got != want {
		t.Errorf("the command ran as process %s, not as the shell's %s: the shell was not replaced", got, want)
	}
}

func TestRedisArgsPersistOnlyWhenAsked(t *testing.T) {
	durable := redisArgs(true, 0)
	for _, want := range []string{`--requirepass "$REDIS_PASSWORD"`, "--appendonly yes", "--appendfsync always", "--dir " + keepPath("redis")} {
		if !strings.Contains(durable, want) {
			t.Errorf("persistent redis args %q lack %q", durable, want)
		}
	}
	if throwaway := redisArgs(false, 0); !strings.Contains(throwaway, "--appendonly no") || !strings.Contains(throwaway, `--save ""`) || strings.Contains(throwaway, "--dir") {
		t.Errorf("redis args without persistence: %q", throwaway)
	}
	// The password reaches redis-server as one argument, whatever it holds.
	out := runSh(t, t.TempDir(), `REDIS_PASSWORD='p a$s'; set -- `+redisArgs(false, 0)+`; for a; do printf '[%s]' "$a"; done`)
	if !strings.Contains(out, "[--requirepass][p a$s]") {
		t.Errorf("sh split the args as %s", out)
	}
}

func TestPostgresMajorReadsTheVersionLine(t *testing.T) {
	for out, want := range map[string]string{
		"postgres (PostgreSQL) 16.4 (Debian 16.4-1.pgdg120+2)": "16",
		"postgres (PostgreSQL) 17.2\n":                         "17",
		"postgres (PostgreSQL) 18beta1":                        "18beta1",
		"something else":                                       "?",
	} {
		if got := postgresMajor(out); got != want {
			t.Errorf("postgresMajor(%q) = %q, want %q", out, got, want)
		}
	}
}

func TestSchemePatternTakesPostgresDriverSchemesOnly(t *testing.T) {
	for scheme, want := range map[string]bool{
		"postgresql": true, "postgres": true, "postgresql+asyncpg": true, "postgresql+psycopg": true,
		"": false, "mysql": false, "postgresql://": false, "Postgresql": false, "postgresql+async pg": false,
	} {
		if got := schemePattern(scheme); got != want {
			t.Errorf("schemePattern(%q) = %v, want %v", scheme, got, want)
		}
	}
}

func TestFailedStepIsNamedWithoutTheOwnership(t *testing.T) {
	if got := shownCommand(asUser([]string{"npm", "ci", "--no-audit"}, "1000:1000", "/app")); got != "npm ci --no-audit" {
		t.Errorf("shownCommand = %q, want the install's own command", got)
	}
	if got := shownCommand(asUser([]string{"npm", "ci"}, "", "/app")); got != "npm ci" {
		t.Errorf("shownCommand as root = %q", got)
	}
}
