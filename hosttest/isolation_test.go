package hosttest

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestTwoProjectsSideBySide runs two projects' stacks at once on two blocks
// of host ports: each sees only its own data, and stopping one leaves the
// other serving.
func TestTwoProjectsSideBySide(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const portA, portB = 25020, 25021
	requireFree(t, portA, portB)
	upA := upPostgres(t, "hosttest-iso-a", portA)
	upB := upPostgres(t, "hosttest-iso-b", portB)
	connA := connectPostgres(t, ctx, portA)
	defer connA.Close(ctx)
	connB := connectPostgres(t, ctx, portB)
	defer connB.Close(ctx)

	table := fmt.Sprintf("iso_%d", time.Now().UnixNano())
	markers := map[int]string{portA: "project a", portB: "project b"}
	for port, conn := range map[int]*pgx.Conn{portA: connA, portB: connB} {
		if _, err := conn.Exec(ctx, "CREATE TABLE "+table+" (marker text)"); err != nil {
			t.Fatalf("port %d: %v", port, err)
		}
		if _, err := conn.Exec(ctx, "INSERT INTO "+table+" VALUES ($1)", markers[port]); err != nil {
			t.Fatalf("port %d: %v", port, err)
		}
	}
	for port, conn := range map[int]*pgx.Conn{portA: connA, portB: connB} {
		var seen []string
		rows, err := conn.Query(ctx, "SELECT marker FROM "+table)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var m string
			_ = rows.Scan(&m)
			seen = append(seen, m)
		}
		rows.Close()
		if len(seen) != 1 || seen[0] != markers[port] {
			t.Fatalf("the project on port %d sees %q, want only %q", port, seen, markers[port])
		}
	}

	connA.Close(ctx)
	stopUp(t, upA)
	waitReleased(t, portA)
	var marker string
	if err := connB.QueryRow(ctx, "SELECT marker FROM "+table).Scan(&marker); err != nil || marker != "project b" {
		t.Fatalf("project b after project a stopped: %q, %v", marker, err)
	}
	_, _ = connB.Exec(ctx, "DROP TABLE "+table)
	connB.Close(ctx)
	stopUp(t, upB)
	waitReleased(t, portB)

	upA = upPostgres(t, "hosttest-iso-a", portA)
	connA = connectPostgres(t, ctx, portA)
	_, _ = connA.Exec(ctx, "DROP TABLE "+table)
	connA.Close(ctx)
	stopUp(t, upA)
	waitReleased(t, portA)
}

// TestPasswordsStayOutOfTheOutput runs the stack with passwords of its own,
// a private token in the backend's manifest and a prestart command that
// prints its environment and fails, with the CLI's plain progress and debug
// logs captured: the passwords and the token appear nowhere. The token is
// in requirements.txt (a private index's URL) in one case, and in
// pyproject.toml (a VCS dependency's URL) in the other.
func TestPasswordsStayOutOfTheOutput(t *testing.T) {
	t.Parallel()
	// pip masks such a token in its own output; nothing else may print it.
	const indexToken = "index-token-3f9a61c2"
	for _, c := range []struct {
		name, project string
		port          int
		manifest      func(t *testing.T, backend string)
	}{
		{"requirements.txt", "hosttest-secrets", 25030, func(t *testing.T, backend string) {
			reqs := filepath.Join(backend, "requirements.txt")
			text, err := os.ReadFile(reqs)
			if err != nil {
				t.Fatal(err)
			}
			text = append([]byte("--extra-index-url https://__token__:"+indexToken+"@pypi.invalid/simple\n"), text...)
			if err := os.WriteFile(reqs, text, 0o644); err != nil {
				t.Fatal(err)
			}
		}},
		{"pyproject.toml", "hosttest-secrets-pyproject", 25031, func(t *testing.T, backend string) {
			// The private library's marker holds on no Python 3, so pip
			// skips it: the token is in the manifest, and nothing fetches.
			reqs, err := os.ReadFile(filepath.Join(backend, "requirements.txt"))
			if err != nil {
				t.Fatal(err)
			}
			deps := []string{`"privlib @ git+https://` + indexToken + `@git.invalid/org/privlib.git ; python_version < '3'"`}
			for _, line := range strings.Split(string(reqs), "\n") {
				if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
					deps = append(deps, fmt.Sprintf("%q", line))
				}
			}
			toml := "[project]\nname = \"backend\"\nversion = \"0\"\ndependencies = [\n  " + strings.Join(deps, ",\n  ") + ",\n]\n"
			if err := os.WriteFile(filepath.Join(backend, "pyproject.toml"), []byte(toml), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Remove(filepath.Join(backend, "requirements.txt")); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			secretsStayOut(t, c.project, c.port, indexToken, c.manifest)
		})
	}
}

// secretsStayOut is one case of TestPasswordsStayOutOfTheOutput: the
// example, its backend's manifest changed by manifest to hold token.
func secretsStayOut(t *testing.T, project string, port int, token string, manifest func(t *testing.T, backend string)) {
	const pgPassword, redisPassword = "pg-secret-7c1e0d9a", "redis-secret-52b8f4e6"
	requireFree(t, port)
	src := copyExample(t)
	manifest(t, filepath.Join(src, "backend"))
	up := startUp(t, []string{"HOSTTEST_PG=" + pgPassword, "HOSTTEST_REDIS=" + redisPassword},
		"--progress=plain", "--debug", "call", "--project="+project,
		"with-postgres", "--password=env:HOSTTEST_PG", "with-redis", "--password=env:HOSTTEST_REDIS",
		"with-backend", "--prestart=env; echo \"url: $DATABASE_URL\"; exit 3",
		"stack", "--src="+src,
		"up", "--ports", fmt.Sprintf("%d:8000", port))
	ended, err := up.exited(10 * time.Minute)
	if !ended {
		t.Fatal("the stack with a failing prestart did not fail within 10 minutes")
	}
	output := up.log.String()
	if err == nil {
		t.Fatalf("up succeeded with a prestart that exits 3:\n%s", tail(output, 30))
	}
	if !strings.Contains(output, "DATABASE_URL=") || !strings.Contains(output, "exit code: 3") && !strings.Contains(output, "exit code 3") {
		t.Fatalf("the output does not show the failing prestart's environment and exit code:\n%s", tail(output, 60))
	}
	for _, secret := range []string{pgPassword, redisPassword, token} {
		if strings.Contains(output, secret) {
			i := strings.Index(output, secret)
			t.Fatalf("a secret is in the CLI's output: ...%s...", output[max(0, i-200):min(len(output), i+50)])
		}
	}
	waitReleased(t, port)
}

// TestTakenHostPortFailsFast: `up --ports` on a host port another program
// holds fails at once, naming the port, and starts nothing that stays.
func TestTakenHostPortFailsFast(t *testing.T) {
	t.Parallel()
	l, port := holdAnyPort(t, 25041, 25049)
	defer l.Close()
	up := startUp(t, durableEnv, "call", "--project=hosttest-porttaken", "with-redis", "--password=env:HOSTTEST_PASSWORD", "redis",
		"up", "--ports", fmt.Sprintf("%d:6379", port))
	exited, err := up.exited(2 * time.Minute)
	if !exited {
		t.Fatal("up on a taken host port was still running after 2 minutes")
	}
	if err == nil {
		t.Fatal("up on a taken host port exited 0")
	}
	out := up.log.String()
	if !strings.Contains(out, fmt.Sprintf(":%d: bind: address already in use", port)) {
		t.Fatalf("the error does not name the taken port:\n%s", tail(out, 20))
	}
}

// holdAnyPort listens on every address (0.0.0.0, as a program that takes
// a port does) on the first port of first..last it can bind, and returns
// the listener and the port. A port free on 127.0.0.1 may still be held on
// another address (a socket bound to the machine's own address, or an
// IPv6 one), which only a bind on every address finds: such a port is
// skipped, not a failure of the test. It fails, naming what it found,
// only when every port of the range is taken.
func holdAnyPort(t *testing.T, first, last int) (net.Listener, int) {
	t.Helper()
	var taken []string
	for port := first; port <= last; port++ {
		l, err := net.Listen("tcp", fmt.Sprintf("0.0.0.0:%d", port))
		if err == nil {
			return l, port
		}
		taken = append(taken, err.Error())
	}
	t.Fatalf("host ports %d-%d are all taken: stop what listens there\n%s", first, last, strings.Join(taken, "\n"))
	return nil, 0
}
