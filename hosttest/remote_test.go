package hosttest

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
)

// A shared engine: the engine on one host, developers' CLIs on others.
// Here the hosts are network namespaces of this machine joined to it by
// veth pairs: the engine host is the machine's own namespace, each
// developer host a namespace that reaches nothing but the engine's address.
// The kit's engine listens on that address (KIT_ENGINE_TCP) and each CLI
// finds it with _EXPERIMENTAL_DAGGER_RUNNER_HOST=tcp://.

// requireEngineRestarts skips tests that restart the engine: every service
// running on it stops. .ci/run asks for them.
func requireEngineRestarts(t *testing.T) {
	t.Helper()
	if why := engineRestartsRefused(); why != "" {
		t.Skip(why)
	}
}

// engineRestartsRefused says why tests and measurements that restart the
// engine with developer hosts around it cannot run here, or nothing.
func engineRestartsRefused() string {
	switch {
	case os.Getenv("COMMANDCENTER_ENGINE_TESTS") != "yes":
		return "it restarts the engine, which stops every service on it: run with COMMANDCENTER_ENGINE_TESTS=yes"
	case os.Geteuid() != 0:
		return "it makes network namespaces: run as root"
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return "it needs ip (iproute2)"
	}
	return ""
}

// devHost is a network namespace that reaches the engine host at engineIP.
type devHost struct {
	name, engineIP, ownIP string
}

func ipCmd(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// newDevHost makes namespace name joined to this one by a veth pair on
// 10.199.N.0/30; it goes when the test ends.
func newDevHost(t *testing.T, name string, n int) devHost {
	t.Helper()
	h := devHost{name: name, engineIP: fmt.Sprintf("10.199.%d.1", n), ownIP: fmt.Sprintf("10.199.%d.2", n)}
	_ = exec.Command("ip", "netns", "del", name).Run() // a failed run's
	ipCmd(t, "netns", "add", name)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", name).Run() })
	host, dev := "cch"+name[len(name)-1:], "ccd"+name[len(name)-1:]
	_ = exec.Command("ip", "link", "del", host).Run()
	ipCmd(t, "link", "add", host, "type", "veth", "peer", "name", dev)
	t.Cleanup(func() { _ = exec.Command("ip", "link", "del", host).Run() })
	ipCmd(t, "link", "set", dev, "netns", name)
	ipCmd(t, "addr", "add", h.engineIP+"/30", "dev", host)
	ipCmd(t, "link", "set", host, "up")
	ipCmd(t, "-n", name, "addr", "add", h.ownIP+"/30", "dev", dev)
	ipCmd(t, "-n", name, "link", "set", dev, "up")
	ipCmd(t, "-n", name, "link", "set", "lo", "up")
	return h
}

// restartEngine runs the kit's `up` with env: a changed KIT_ENGINE_TCP
// restarts the engine.
func restartEngine(t *testing.T, env ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	kit(t, ctx, env...)
}

// remotePorts are the developer hosts' ports: the same numbers in both, as
// two developers' machines would have.
var remotePorts = stackPorts{15100, 15101, 15102, 15103}

// upOn runs the README's stack command on a developer host, against the
// engine at its tcp:// address.
func upOn(t *testing.T, h devHost, project, pgPW, redisPW string) *upProc {
	t.Helper()
	env := []string{"_EXPERIMENTAL_DAGGER_RUNNER_HOST=tcp://" + h.engineIP + ":7443", "REMOTE_PG=" + pgPW, "REMOTE_REDIS=" + redisPW}
	return startProgram(t, env, "ip", "netns", "exec", h.name, "dagger", "call", "--project="+project,
		"with-postgres", "--password=env:REMOTE_PG", "with-redis", "--password=env:REMOTE_REDIS",
		"stack", "--src=examples/commandcenter", "up", "--ports", remotePorts.arg())
}

// onHost runs this test binary's TestRemoteClient in the developer host's
// namespace, as a client on that host: it returns what the client printed.
// When up ends first, the client is stopped and the test fails with up's
// output.
func onHost(t *testing.T, h devHost, up *upProc, env ...string) string {
	t.Helper()
	cmd := exec.Command("ip", "netns", "exec", h.name, os.Args[0], "-test.run=^TestRemoteClient$", "-test.v")
	cmd.Env = append(append(os.Environ(), "REMOTE_CLIENT=yes"), env...)
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("the client on %s: %v\n%s", h.name, err, out.String())
		}
	case <-up.ended:
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("`up` on %s ended before its stack answered:\n%s", h.name, tail(up.log.String(), 20))
	}
	return out.String()
}

// TestRemoteClient is the client onHost runs on a developer host: it waits
// for the four services on the host's loopback, inserts REMOTE_ROW into a
// table and prints the rows it sees.
func TestRemoteClient(t *testing.T) {
	if os.Getenv("REMOTE_CLIENT") != "yes" {
		t.Skip("run by TestStackOnASharedEngine in a developer host's namespace")
	}
	ctx := context.Background()
	c := &http.Client{Timeout: 5 * time.Second}
	waitFor(t, "backend /health", 5*time.Minute, func() error {
		return getHealth(c, fmt.Sprintf("http://127.0.0.1:%d/health", remotePorts.backend))
	})
	waitFor(t, "frontend /api/health", 2*time.Minute, func() error {
		return getHealth(c, fmt.Sprintf("http://127.0.0.1:%d/api/health", remotePorts.frontend))
	})
	rdb := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", remotePorts.redis), Password: os.Getenv("REMOTE_REDIS")})
	defer rdb.Close()
	if pong, err := rdb.Ping(ctx).Result(); err != nil || pong != "PONG" {
		t.Fatalf("redis: %q, %v", pong, err)
	}
	db, err := pgx.Connect(ctx, fmt.Sprintf("postgres://commandcenter:%s@127.0.0.1:%d/commandcenter?sslmode=disable", os.Getenv("REMOTE_PG"), remotePorts.pg))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(ctx)
	if _, err := db.Exec(ctx, "CREATE TABLE IF NOT EXISTS remote_rows (who text)"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(ctx, "INSERT INTO remote_rows VALUES ($1)", os.Getenv("REMOTE_ROW")); err != nil {
		t.Fatal(err)
	}
	rows, err := db.Query(ctx, "SELECT DISTINCT who FROM remote_rows ORDER BY who")
	if err != nil {
		t.Fatal(err)
	}
	var seen []string
	for rows.Next() {
		var who string
		if err := rows.Scan(&who); err != nil {
			t.Fatal(err)
		}
		seen = append(seen, who)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	fmt.Printf("REMOTE_ROWS=%s\n", strings.Join(seen, ","))
}

// closed says whether nothing answers on addr.
func closed(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err == nil {
		c.Close()
		return false
	}
	return true
}

// TestStackOnASharedEngine: two developers on two hosts run the README's
// stack command, each for a project of their own, on one engine on a third
// host, at the same time: each reaches Postgres, Redis, the backend and the
// frontend on its own host's loopback, sees only its own rows, and the
// ports are not open on the engine's host.
func TestStackOnASharedEngine(t *testing.T) {
	requireEngineRestarts(t)
	// Each developer's project starts empty: the rows are the test's.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	for _, p := range []string{"remote-alice", "remote-bob"} {
		dagger(t, ctx, "call", "--project="+p, "wipe", "--confirm="+p)
	}
	alice, bob := newDevHost(t, "ccdev1", 1), newDevHost(t, "ccdev2", 2)
	restartEngine(t, fmt.Sprintf("KIT_ENGINE_TCP=%s:7443,%s:7443", alice.engineIP, bob.engineIP))
	t.Cleanup(func() { restartEngine(t, "KIT_ENGINE_TCP=") })

	start := time.Now()
	upA := upOn(t, alice, "remote-alice", "remote-alice-pg-1", "remote-alice-redis-1")
	upB := upOn(t, bob, "remote-bob", "remote-bob-pg-2", "remote-bob-redis-2")
	outA := onHost(t, alice, upA, "REMOTE_PG=remote-alice-pg-1", "REMOTE_REDIS=remote-alice-redis-1", "REMOTE_ROW=alice")
	t.Logf("alice's stack answered on her host %s after its up", time.Since(start).Round(100*time.Millisecond))
	outB := onHost(t, bob, upB, "REMOTE_PG=remote-bob-pg-2", "REMOTE_REDIS=remote-bob-redis-2", "REMOTE_ROW=bob")
	if !strings.Contains(outA, "REMOTE_ROWS=alice\n") || !strings.Contains(outB, "REMOTE_ROWS=bob\n") {
		t.Errorf("each project sees only its own rows; alice saw:\n%s\nbob saw:\n%s", tail(outA, 5), tail(outB, 5))
	}
	// The engine's host has none of the ports: up listens where the CLI runs.
	for _, p := range []int{remotePorts.pg, remotePorts.redis, remotePorts.backend, remotePorts.frontend} {
		for _, host := range []string{"127.0.0.1", alice.engineIP} {
			if addr := fmt.Sprintf("%s:%d", host, p); !closed(addr) {
				t.Errorf("%s answers on the engine's host", addr)
			}
		}
	}
	stopUp(t, upA)
	stopUp(t, upB)
}
