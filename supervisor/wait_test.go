package supervisor

import (
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"bufio"

	"dagger/commandcenter/internal/contract"
)

// answering listens on a free port and answers the n-th connection with
// answer(n) after reading what the client sent first.
func answering(t *testing.T, answer func(n int) []byte) (string, *atomic.Int32) {
	t.Helper()
	l := listenLocal(t)
	t.Cleanup(func() { l.Close() })
	var count atomic.Int32
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			n := int(count.Add(1))
			c.Read(make([]byte, 512))
			c.Write(answer(n))
			c.Close()
		}
	}()
	return l.Addr().String(), &count
}

func pgError(code, message string) []byte {
	fields := "SFATAL\x00C" + code + "\x00M" + message + "\x00\x00"
	msg := binary.BigEndian.AppendUint32([]byte{'E'}, uint32(4+len(fields)))
	return append(msg, fields...)
}

func TestWaitsForPostgresToFinishStartingUp(t *testing.T) {
	addr, count := answering(t, func(n int) []byte {
		if n <= 3 {
			return pgError("57P03", "the database system is starting up")
		}
		return []byte{'R', 0, 0, 0, 8, 0, 0, 0, 3} // a password, please
	})
	if err := waitAll([]contract.WaitTarget{{Kind: "postgres", Addr: addr}}, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if n := count.Load(); n < 4 {
		t.Errorf("ready after %d connections, while Postgres was starting up", n)
	}
	addr, _ = answering(t, func(int) []byte { return pgError("57P03", "the database system is starting up") })
	err := waitAll([]contract.WaitTarget{{Kind: "postgres", Addr: addr}}, 300*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "was not ready within 300ms (the database system is starting up)") {
		t.Errorf("a Postgres that never finishes starting: %v", err)
	}
}

// realRedis starts a Redis server (redis-server, or Debian's redis-check-rdb
// under that name) in dir with a password, and returns its address.
func realRedis(t *testing.T, dir, password string, args ...string) string {
	t.Helper()
	bin, port, argv := redisCommand(t, dir, password, args...)
	cmd := exec.Command(bin, argv...)
	cmd.SysProcAttr = testProcAttr()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	addr := "127.0.0.1:" + port
	if err := awaitConnection(addr, 30*time.Second); err != nil {
		t.Fatalf("redis did not listen on %s: %v", addr, err)
	}
	return addr
}

// redisCommand is the command line of a Redis server in dir with a
// password, on a free port of loopback.
func redisCommand(t *testing.T, dir, password string, args ...string) (bin, port string, argv []string) {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		check, cerr := exec.LookPath("redis-check-rdb")
		if cerr != nil {
			t.Fatal("no redis-server on PATH: install Debian's redis-tools (scripts/test.sh does)")
		}
		bin = filepath.Join(t.TempDir(), "redis-server")
		if err := os.Symlink(check, bin); err != nil {
			t.Fatal(err)
		}
	}
	port = strconv.Itoa(freeLocalPort(t))
	return bin, port, append([]string{"--port", port, "--bind", "127.0.0.1", "--dir", dir,
		"--requirepass", password, "--appendonly", "yes", "--save", "", "--enable-debug-command", "yes"}, args...)
}

// redisDo sends one command after AUTH and returns the reply's first line.
func redisDo(t *testing.T, addr, password string, args ...string) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := bufio.NewReader(c)
	for _, cmd := range [][]string{{"AUTH", password}, args} {
		fmt.Fprintf(c, "*%d\r\n", len(cmd))
		for _, a := range cmd {
			fmt.Fprintf(c, "$%d\r\n%s\r\n", len(a), a)
		}
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if cmd[0] != "AUTH" {
			return strings.TrimSpace(line)
		}
	}
	return ""
}

// Redis loads its data slowly here by its own setting, not by the data's
// size: its key-load-delay (a setting of Redis's own tests) sleeps 1 ms a key
// while it loads, so 5,000 keys keep it LOADING for at least 5 s however fast
// the machine, and a busy machine only makes that longer. It answers clients
// (LOADING) after every KiB it reads. The data is an RDB file written by
// SAVE, which returns once the file is whole.
func TestWaitsForRedisToLoadItsData(t *testing.T) {
	const password = "supervisor-test-password"
	const keys = "5000"
	dir := t.TempDir()
	redisData(t, dir, password, keys)
	addr := realRedis(t, dir, password, slowLoad...)
	if got := redisDo(t, addr, password, "PING"); !strings.HasPrefix(got, "-LOADING") {
		t.Fatalf("Redis answered %q right after its start, not LOADING: its key-load-delay did not hold it", got)
	}
	t.Setenv("COMMANDCENTER_REDIS_PASSWORD", password)
	if err := waitAll([]contract.WaitTarget{{Kind: "redis", Addr: addr}}, time.Minute); err != nil {
		t.Fatal(err)
	}
	if got := redisDo(t, addr, password, "DBSIZE"); got != ":"+keys {
		t.Errorf("ready while Redis answered %q to DBSIZE: it had not loaded its data", got)
	}
}

// redisData leaves in dir an RDB file of n keys, written by a Redis server
// that has ended.
func redisData(t *testing.T, dir, password, n string) {
	t.Helper()
	addr := realRedis(t, dir, password, "--appendonly", "no")
	if got := redisDo(t, addr, password, "DEBUG", "POPULATE", n); got != "+OK" {
		t.Fatalf("DEBUG POPULATE: %s", got)
	}
	if got := redisDo(t, addr, password, "SAVE"); got != "+OK" {
		t.Fatalf("SAVE: %s", got)
	}
	// SHUTDOWN answers by closing the connection.
	if c, err := net.Dial("tcp", addr); err == nil {
		fmt.Fprintf(c, "*2\r\n$4\r\nAUTH\r\n$%d\r\n%s\r\n*2\r\n$8\r\nSHUTDOWN\r\n$6\r\nNOSAVE\r\n", len(password), password)
		c.SetReadDeadline(time.Now().Add(30 * time.Second))
		c.Read(make([]byte, 64))
		c.Read(make([]byte, 64))
		c.Close()
	}
}

// slowLoad are the settings of a Redis that loads its data slowly (see
// TestWaitsForRedisToLoadItsData).
var slowLoad = []string{"--appendonly", "no", "--key-load-delay", "1000", "--loading-process-events-interval-bytes", "1024"}

// TestTheReadyPortOpensOnceTheServerAnswers: a Redis that loads its data
// listens at once and answers LOADING meanwhile; the supervisor's ready
// port stays closed until its health check passes, so whoever it lets in
// finds the data loaded.
func TestTheReadyPortOpensOnceTheServerAnswers(t *testing.T) {
	const password = "supervisor-test-password"
	const keys = "5000"
	dir := t.TempDir()
	redisData(t, dir, password, keys)
	bin, port, argv := redisCommand(t, dir, password, slowLoad...)
	addr := "127.0.0.1:" + port
	ready := strconv.Itoa(freeLocalPort(t))
	cmd, out := command(append([]string{"--name=redis", "--ready-port=" + ready, "--health", "redis=redis://" + addr, "--", bin}, argv...)...)
	cmd.Env = append(cmd.Env, contract.RedisPasswordEnv+"="+password)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer killAll(cmd)
	if err := awaitConnection(addr, 30*time.Second); err != nil {
		t.Fatalf("redis did not listen on %s: %v\n%s", addr, err, out)
	}
	// Redis listens: the ready port is closed while it still loads (it
	// answers LOADING after the dial, so it loaded before it too).
	if c, err := net.Dial("tcp", "127.0.0.1:"+ready); err == nil {
		c.Close()
		t.Fatalf("the ready port took a connection while Redis had just started\n%s", out)
	}
	if got := redisDo(t, addr, password, "PING"); !strings.HasPrefix(got, "-LOADING") {
		t.Fatalf("Redis answered %q right after its start, not LOADING: its key-load-delay did not hold it", got)
	}
	if err := awaitConnection("127.0.0.1:"+ready, 2*time.Minute); err != nil {
		t.Fatalf("the ready port did not open within 2 minutes of Redis's start: %v\n%s", err, out)
	}
	if got := redisDo(t, addr, password, "DBSIZE"); got != ":"+keys {
		t.Errorf("the ready port opened while Redis answered %q to DBSIZE: it had not loaded its data\n%s", got, out)
	}
}

// TestAServiceNeverReadyIsStopped: a command whose health check never
// passes is stopped after --start-timeout, saying what the engine waited
// for, instead of keeping the engine waiting on its ready port.
func TestAServiceNeverReadyIsStopped(t *testing.T) {
	cmd, out := command("--name=postgres", "--ready-port="+strconv.Itoa(freeLocalPort(t)), "--start-timeout=1s",
		"--health", "postgres=postgres://"+unusedTarget(t), "--", "sleep", "600")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	timer := time.AfterFunc(time.Minute, func() { killAll(cmd) })
	defer timer.Stop()
	if code := exitStatus(t, cmd); code != 1 {
		t.Errorf("exit status %d, want 1\n%s", code, out)
	}
	if want := "postgres was not ready within 1s (--start-timeout): the engine waits until it answers its health check (postgres://"; !strings.Contains(out.String(), want) {
		t.Errorf("the output does not say %q\n%s", want, out)
	}
}

func TestAWrongRedisPasswordFailsAtOnce(t *testing.T) {
	addr := realRedis(t, t.TempDir(), "the-right-one")
	t.Setenv("COMMANDCENTER_REDIS_PASSWORD", "not-the-right-one")
	start := time.Now()
	err := waitAll([]contract.WaitTarget{{Kind: "redis", Addr: addr}}, time.Minute)
	if err == nil || !strings.Contains(err.Error(), "refused the password") || time.Since(start) > 5*time.Second {
		t.Errorf("a wrong password: %v after %s, want a refusal at once", err, time.Since(start))
	}
}

func TestWaitsThenPrestartsThenRuns(t *testing.T) {
	addr := unusedTarget(t)
	go func() {
		time.Sleep(500 * time.Millisecond)
		l, err := net.Listen("tcp", addr)
		if err != nil {
			return
		}
		t.Cleanup(func() { l.Close() })
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	cmd, out := command("--wait-for", addr, "--prestart", "echo prestart ran", "--", "sh", "-c", "echo server ran")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if code := exitStatus(t, cmd); code != 0 || !strings.Contains(out.String(), "prestart ran\nserver ran\n") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	cmd, out = command("--name", "backend", "--prestart", "exit 3", "--", "sh", "-c", "echo server ran")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if code := exitStatus(t, cmd); code != 3 || strings.Contains(out.String(), "server ran") || !strings.Contains(out.String(), "backend did not start: the prestart command exited 3") {
		t.Fatalf("a failing prestart: exit %d:\n%s", code, out)
	}
}

// TestCommandStartsOnceItsPeersNamesResolve: a name that resolves lets the
// command start; one that never does (.invalid) stops the start within
// --wait-timeout, naming it, and the command never runs.
func TestCommandStartsOnceItsPeersNamesResolve(t *testing.T) {
	cmd, out := command("--resolve", "localhost", "--", "sh", "-c", "echo server ran")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if code := exitStatus(t, cmd); code != 0 || !strings.Contains(out.String(), "server ran") {
		t.Fatalf("a name that resolves: exit %d:\n%s", code, out)
	}
	cmd, out = command("--name", "frontend", "--resolve", "backend.invalid", "--wait-timeout", "1s", "--", "sh", "-c", "echo server ran")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	code := exitStatus(t, cmd)
	for _, want := range []string{"waiting for backend.invalid to resolve", "frontend did not start: the host name backend.invalid did not resolve within 1s"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("no %q in:\n%s", want, out)
		}
	}
	if code != 1 || strings.Contains(out.String(), "server ran") {
		t.Fatalf("a name that never resolves: exit %d, the command ran or the start did not fail:\n%s", code, out)
	}
}
