package supervisor

import (
	"bytes"
	"errors"
	"io"
	"log"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"dagger/commandcenter/internal/contract"
	"dagger/commandcenter/internal/minihttp"
)

// TestMain lets a test run the command itself, as a child process, for what
// only a process can show: exit statuses and signals.
func TestMain(m *testing.M) {
	if os.Getenv("SUPERVISOR_TEST_RUN") == "1" {
		if etc := os.Getenv("SUPERVISOR_TEST_ACCOUNTS"); etc != "" {
			// A test's own passwd, group and homes, not the machine's.
			userFiles.passwd, userFiles.group, userFiles.homes = filepath.Join(etc, "passwd"), filepath.Join(etc, "group"), filepath.Join(etc, "home")
		}
		os.Exit(run(os.Args[1:], os.Stderr))
	}
	if os.Getenv("SUPERVISOR_TEST_WATCH") == "1" {
		os.Exit(runWatch(os.Args[1:], os.Stderr))
	}
	os.Exit(m.Run())
}

// syncBuffer is a log the forwarder's goroutines write while a test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startForwarder forwards a fresh local port to target and returns its address.
func startForwarder(t *testing.T, target string, wait time.Duration) (string, *syncBuffer) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	logs := &syncBuffer{}
	f := &forwarder{target: target, wait: wait, log: log.New(logs, "", 0)}
	go f.serve(l)
	return l.Addr().String(), logs
}

// upperServer answers each connection with what it read until the client's
// end of stream, in upper case, then ends its own side.
func upperServer(t *testing.T, l net.Listener) {
	t.Helper()
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				b, _ := io.ReadAll(c)
				c.Write(bytes.ToUpper(b))
			}()
		}
	}()
}

// unusedTarget is a local address nothing listens on. It is below the
// ephemeral port range, so that the forwarder's own dials (which take
// ephemeral source ports) cannot take it while a test waits to listen there.
func unusedTarget(t *testing.T) string {
	t.Helper()
	return unusedTargets(t, 1)[0]
}

func unusedTargets(t *testing.T, n int) []string {
	t.Helper()
	var addrs []string
	for port := 20000 + os.Getpid()%5000; port < 32000 && len(addrs) < n; port++ {
		addr := "127.0.0.1:" + strconv.Itoa(port)
		if l, err := net.Listen("tcp", addr); err == nil {
			l.Close()
			addrs = append(addrs, addr)
		}
	}
	if len(addrs) < n {
		t.Fatalf("not %d free ports between 20000 and 32000", n)
	}
	return addrs
}

func listenLocal(t *testing.T) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// roundTrip sends msg, ends its side and reads the whole answer.
func roundTrip(t *testing.T, addr, msg string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, msg); err != nil {
		t.Fatal(err)
	}
	c.(*net.TCPConn).CloseWrite()
	b, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("read the answer: %v", err)
	}
	return string(b)
}

func TestForwardsBothWaysAndEndsOfStream(t *testing.T) {
	target := listenLocal(t)
	upperServer(t, target)
	addr, _ := startForwarder(t, target.Addr().String(), 5*time.Second)
	big := strings.Repeat("select 1;", 200_000) // larger than socket buffers and pipes
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			msg := big + strconv.Itoa(i)
			if got := roundTrip(t, addr, msg); got != strings.ToUpper(msg) {
				t.Errorf("connection %d: got %d bytes back, want %d, the message in upper case", i, len(got), len(msg))
			}
		}()
	}
	wg.Wait()
}

func TestConnectionWaitsForATargetThatStartsLate(t *testing.T) {
	target := unusedTarget(t)
	addr, logs := startForwarder(t, target, 10*time.Second)
	go func() {
		time.Sleep(500 * time.Millisecond)
		late, err := net.Listen("tcp", target)
		if err != nil {
			t.Errorf("listen on %s again: %v", target, err)
			return
		}
		upperServer(t, late)
	}()
	if got := roundTrip(t, addr, "ping"); got != "PING" {
		t.Fatalf("got %q, want PING from the target that started after the client connected", got)
	}
	if got := logs.String(); strings.Count(got, "does not answer (yet)") != 1 || !strings.Contains(got, target+" answers") {
		t.Errorf("the log does not say once that the target was not answering, then that it answers:\n%s", got)
	}
}

// A connection that waits for a restarting target is passed on soon after
// it answers again: the pauses between dials grow, but never past
// dialRetryMax, however long the target is away.
func TestDialsOfAnAbsentTargetStayClose(t *testing.T) {
	next := dialDelays()
	var waited time.Duration
	for i := 0; i < 50; i++ {
		d := next()
		if d <= 0 || d > dialRetryMax || dialRetryMax > 100*time.Millisecond {
			t.Fatalf("pause %d between dials is %s (after %s of pauses): want at most 100ms, so that a connection is passed on within 100ms of its target's return", i+1, d, waited)
		}
		waited += d
	}
	if first := dialDelays()(); first > 20*time.Millisecond {
		t.Errorf("the first pause is %s, want at most 20ms", first)
	}
}

func TestConnectionIsClosedWhenTheTargetNeverAnswers(t *testing.T) {
	target := unusedTarget(t)
	addr, logs := startForwarder(t, target, 300*time.Millisecond)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	c.SetDeadline(start.Add(10 * time.Second))
	if n, err := c.Read(make([]byte, 16)); n != 0 || (err != io.EOF && !errors.Is(err, syscall.ECONNRESET)) {
		t.Fatalf("read %d bytes, %v; want the connection closed (a target that is not there)", n, err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("the connection was closed after %s, want about the 300ms wait", took)
	}
	if !strings.Contains(logs.String(), target+" did not answer within 300ms") {
		t.Errorf("the log does not say which target did not answer:\n%s", logs)
	}
}

// testToken is the Stack's token of the tests' supervisors.
const testToken = "0123456789abcdef0123"

// command runs the supervisor as a child process, with the Stack's token.
func command(args ...string) (*exec.Cmd, *syncBuffer) {
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "SUPERVISOR_TEST_RUN=1", contract.StackTokenEnv+"="+testToken)
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	// A supervisor killed by a test leaves its children, which hold the
	// output pipe open: Wait does not wait for them.
	cmd.WaitDelay = 2 * time.Second
	cmd.SysProcAttr = testProcAttr()
	return cmd, out
}

// killAll sends SIGKILL to a supervisor started by command, its process
// group, and every process under it, as a container's end kills all of
// it. The supervisor runs its command in a group of its own, which the
// group's kill alone would leave running after the test. cmd must not have
// been waited for yet (its PID is still its own).
func killAll(cmd *exec.Cmd) {
	below := descendants(cmd.Process.Pid)
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	for _, pid := range below {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}

// descendants lists the processes under pid, from each process's parent in
// /proc/PID/stat (none where there is no /proc).
func descendants(pid int) []int {
	children := map[int][]int{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// "PID (COMM) STATE PPID ...": COMM may hold spaces and parentheses.
		fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
		if len(fields) < 2 {
			continue
		}
		if parent, err := strconv.Atoi(fields[1]); err == nil {
			children[parent] = append(children[parent], child)
		}
	}
	var below []int
	for queue := []int{pid}; len(queue) > 0; queue = queue[1:] {
		below = append(below, children[queue[0]]...)
		queue = append(queue, children[queue[0]]...)
	}
	return below
}

// exitWait is how long exitStatus waits for a process that should end: far
// longer than any of the tests' takes on a busy machine, so that reaching
// it means the process would not have ended at all.
const exitWait = 2 * time.Minute

func exitStatus(t *testing.T, cmd *exec.Cmd) int {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(exitWait):
		killAll(cmd)
		<-done
		t.Fatalf("%q had not ended %s after the test waited for it to end: killed it", cmd.Args, exitWait)
	}
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return 0
}

func TestExitsWithTheCommandsStatus(t *testing.T) {
	cmd, out := command("--", "sh", "-c", "echo from the command; exit 3")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if code := exitStatus(t, cmd); code != 3 {
		t.Errorf("exit status %d, want the command's 3\n%s", code, out)
	}
	if !strings.Contains(out.String(), "from the command") {
		t.Errorf("the command's output is not passed on:\n%s", out)
	}
}

func TestPassesSignalsToTheCommand(t *testing.T) {
	target := listenLocal(t)
	upperServer(t, target)
	_, port, _ := net.SplitHostPort(unusedTarget(t))
	cmd, out := command("--route", port+"="+target.Addr().String(), "--",
		"sh", "-c", `trap 'echo got TERM; exit 7' TERM; echo ready; while :; do sleep 0.05; done`)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitOutput(t, cmd, out, "ready")
	// The route listens while the command runs.
	waitOutput(t, cmd, out, "port "+port+" -> "+target.Addr().String()+": open\n")
	if got := roundTrip(t, "127.0.0.1:"+port, "ping"); got != "PING" {
		t.Errorf("port %s is not forwarded while the command runs: got %q", port, got)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if code := exitStatus(t, cmd); code != 7 {
		t.Errorf("exit status %d, want 7 from the command's TERM trap\n%s", code, out)
	}
	if !strings.Contains(out.String(), "got TERM") {
		t.Errorf("the command did not get SIGTERM:\n%s", out)
	}
}

func TestBadInputSaysWhatToDo(t *testing.T) {
	t.Setenv(contract.StackTokenEnv, testToken)
	taken := listenLocal(t)
	defer taken.Close()
	port := strconv.Itoa(taken.Addr().(*net.TCPAddr).Port)
	for _, c := range []struct {
		args []string
		code int
		says string
	}{
		{[]string{"--route", "redis:6379"}, 2, "want LISTEN=HOST:PORT"},
		{[]string{"--route", "6379=redis:6379", "--route", "6379=cache:6379"}, 2, "port 6379 is routed twice"},
		{[]string{"--wait", "0s"}, 2, "give a positive duration"},
		{[]string{"--linger", "-1s"}, 2, "give a duration of 0 or more"},
		{[]string{"--report", "front:65432", "--", "true"}, 2, "--name \"\": give the service's name"},
		{[]string{"--expect-port", "3000"}, 2, "--expect-port needs a command"},
		{[]string{"--ready-port", "65435"}, 2, "--ready-port needs a command"},
		{[]string{"--ready-port", "70000", "--", "true"}, 2, "--ready-port 70000: give a port"},
		{[]string{"--ready-port", "8000", "--expect-port", "8000", "--", "true"}, 2, "--ready-port 8000: the run uses that port already"},
		{[]string{"--grace", "0s", "--", "true"}, 2, "--grace 0s"},
		{[]string{"--report", "front:65432", "--name", "backend"}, 2, "--report needs a command"},
		{[]string{"--report", "front", "--name", "backend", "--", "true"}, 2, "give the front's HOST:PORT"},
		{[]string{"--route", "6379=redis:6379", "--control", "6379"}, 2, "give the control port a port of its own"},
		{[]string{"--route", port + "=127.0.0.1:1", "--", "true"}, 1, "cannot listen on port " + port},
		{[]string{"--localhost", "8000=backend:8000", "--expect-port", "8000", "--", "true"}, 2, "port 8000 is the command's own"},
		{[]string{"--localhost", "8000=backend:8000", "--localhost", "8000=api:8000", "--", "true"}, 2, "port 8000 is forwarded twice"},
		{[]string{"--", "/nonexistent/postgres"}, 127, "cannot run /nonexistent/postgres"},
	} {
		var out bytes.Buffer
		if code := run(c.args, &out); code != c.code || !strings.Contains(out.String(), c.says) {
			t.Errorf("run(%q) = %d, %q; want %d and a message with %q", c.args, code, out.String(), c.code, c.says)
		}
	}
}

// waitOutput waits until out has want, or fails.
func waitOutput(t *testing.T, cmd *exec.Cmd, out *syncBuffer, want string) {
	t.Helper()
	waitOutputs(t, cmd, out, want, 1)
}

// waitOutputs waits until want is n times in out.
func waitOutputs(t *testing.T, cmd *exec.Cmd, out *syncBuffer, want string, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for strings.Count(out.String(), want) < n {
		if time.Now().After(deadline) {
			killAll(cmd)
			t.Fatalf("%q %d times in the output, want %d:\n%s", want, strings.Count(out.String(), want), n, out)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestAServiceThatEndsStopsTheFront(t *testing.T) {
	addr := unusedTarget(t)
	_, port, _ := net.SplitHostPort(addr)
	// The service ends before the front listens: its report waits for it.
	member, memberOut := command("--report", addr, "--name", "backend", "--", "sh", "-c", "echo migration failed; exit 3")
	if err := member.Start(); err != nil {
		t.Fatal(err)
	}
	waitOutput(t, member, memberOut, "migration failed")
	waitOutput(t, member, memberOut, "does not answer yet: telling it that backend ended when it does")
	front, frontOut := command("--control", port, "--name", "stack", "--linger", "500ms", "--",
		"sh", "-c", `trap 'echo front got TERM; exit 0' TERM; echo ready; while :; do sleep 0.05; done`)
	started := time.Now()
	if err := front.Start(); err != nil {
		t.Fatal(err)
	}
	if code := exitStatus(t, member); code != 3 {
		t.Errorf("the service's wrapper exited %d, want its command's 3\n%s", code, memberOut)
	}
	if code := exitStatus(t, front); code != 1 {
		t.Errorf("the front exited %d, want 1 after a report\n%s", code, frontOut)
	}
	if took := time.Since(started); took < 500*time.Millisecond {
		t.Errorf("the front ended %s after it started, before its 500ms linger after the report", took)
	}
	for _, want := range []string{"backend ended (exit status 3): stopping stack in 500ms", "front got TERM"} {
		if !strings.Contains(frontOut.String(), want) {
			t.Errorf("the front's output has no %q:\n%s", want, frontOut)
		}
	}
}

// projectCommand is command without the Stack's token in the
// environment: the supervisor takes the project's own from secrets.
func projectCommand(secrets string, args ...string) (*exec.Cmd, *syncBuffer) {
	cmd, out := command(append([]string{"--secrets", secrets}, args...)...)
	cmd.Env = append(cmd.Env, contract.StackTokenEnv+"=")
	return cmd, out
}

// With no token given, the front and its members carry the project's own,
// from its secrets volume: a member's report stops the front, and a report
// of a service with another project's volume is ignored.
func TestReportsCarryTheProjectsOwnToken(t *testing.T) {
	secrets, another := t.TempDir(), t.TempDir()
	addr := unusedTarget(t)
	_, port, _ := net.SplitHostPort(addr)
	front, frontOut := projectCommand(secrets, "--control", port, "--name", "stack", "--",
		"sh", "-c", `trap 'exit 0' TERM; echo ready; while :; do sleep 0.05; done`)
	if err := front.Start(); err != nil {
		t.Fatal(err)
	}
	defer front.Process.Kill()
	waitOutput(t, front, frontOut, "ready")
	stranger, strangerOut := projectCommand(another, "--report", addr, "--name", "backend", "--", "sh", "-c", "exit 4")
	if err := stranger.Start(); err != nil {
		t.Fatal(err)
	}
	if code := exitStatus(t, stranger); code != 4 {
		t.Fatalf("the other project's service exited %d, want its command's 4\n%s", code, strangerOut)
	}
	waitOutput(t, front, frontOut, "ignored a report")
	member, memberOut := projectCommand(secrets, "--report", addr, "--name", "backend", "--", "sh", "-c", "exit 3")
	if err := member.Start(); err != nil {
		t.Fatal(err)
	}
	if code := exitStatus(t, member); code != 3 {
		t.Fatalf("the project's service exited %d, want its command's 3\n%s", code, memberOut)
	}
	waitOutput(t, front, frontOut, "backend ended (exit status 3)")
	if code := exitStatus(t, front); code != 1 {
		t.Errorf("the front exited %d, want 1 after its member's report\n%s", code, frontOut)
	}
	for _, dir := range []string{secrets, another} {
		if token, err := os.ReadFile(filepath.Join(dir, stackTokenFile)); err != nil || len(token) != 32 {
			t.Errorf("the token in %s: %q, %v; want 32 characters", dir, token, err)
		}
	}
}

func TestBadReportsAreIgnored(t *testing.T) {
	addr := unusedTarget(t)
	_, port, _ := net.SplitHostPort(addr)
	front, out := command("--control", port)
	if err := front.Start(); err != nil {
		t.Fatal(err)
	}
	defer front.Process.Kill()
	for _, report := range []string{"backend 3\n", testToken + " backend three\n", testToken + " rm -rf / 3\n",
		"wrong-token-0123456789 backend 3\n", testToken[:len(testToken)-1] + " backend 3\n"} {
		var c net.Conn
		var err error
		for range 100 {
			if c, err = net.Dial("tcp", addr); err == nil {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(c, report)
		c.Close()
	}
	// Each report is either ignored, and logged so, or ends the front:
	// once all five are logged, none can still act.
	waitOutputs(t, front, out, "ignored a report", 5)
	// Still running: SIGTERM ends it with 0, where a report would have made it 1.
	front.Process.Signal(syscall.SIGTERM)
	if code := exitStatus(t, front); code != 0 {
		t.Errorf("exit status %d after bad reports and SIGTERM, want 0\n%s", code, out)
	}
	if n := strings.Count(out.String(), "ignored a report"); n != 5 {
		t.Errorf("%d of 5 bad reports logged as ignored:\n%s", n, out)
	}
}

func TestARouteOpensWhenItsTargetAnswers(t *testing.T) {
	addrs := unusedTargets(t, 2)
	target := addrs[0]
	_, port, _ := net.SplitHostPort(addrs[1])
	cmd, out := command("--route", port+"="+target)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	// Said after the supervisor's first dial of the target failed: the
	// port must be closed from then on.
	waitOutput(t, cmd, out, "opens when "+target+" answers")
	if c, err := net.Dial("tcp", "127.0.0.1:"+port); err == nil {
		c.Close()
		t.Fatalf("port %s is open while nothing answers behind it", port)
	}
	l, err := net.Listen("tcp", target)
	if err != nil {
		t.Fatal(err)
	}
	upperServer(t, l)
	waitOutput(t, cmd, out, "port "+port+" -> "+target+": open\n")
	if got := roundTrip(t, "127.0.0.1:"+port, "ping"); got != "PING" {
		t.Errorf("got %q through the opened port, want PING", got)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if code := exitStatus(t, cmd); code != 0 {
		t.Errorf("exit status %d after SIGTERM with no command, want 0\n%s", code, out)
	}
}

// A route's port stays closed through dials of its target that fail, and
// opens after the first that works: the test holds the forwarder after
// each dial, and looks at the port then.
func TestARouteStaysClosedUntilADialWorks(t *testing.T) {
	addrs := unusedTargets(t, 2)
	target := addrs[0]
	_, port, _ := net.SplitHostPort(addrs[1])
	listen, _ := strconv.Atoi(port)
	type dial struct {
		err  error
		done chan struct{}
	}
	dials := make(chan dial)
	var logs syncBuffer
	f := &forwarder{target: target, wait: time.Second, log: log.New(&logs, "", 0), onDial: func(err error) {
		done := make(chan struct{})
		dials <- dial{err, done}
		<-done
	}}
	stops := make(chan string, 1)
	go f.open(contract.Route{Port: listen, Target: target}, time.Hour, stops)
	next := func() dial {
		select {
		case d := <-dials:
			return d
		case <-time.After(time.Minute):
			t.Fatalf("the forwarder dialed %s no more for a minute:\n%s", target, &logs)
			return dial{}
		}
	}
	for i := 1; i <= 3; i++ {
		d := next()
		if d.err == nil {
			t.Fatalf("dial %d of %s worked with nothing listening there", i, target)
		}
		if c, err := net.Dial("tcp", "127.0.0.1:"+port); err == nil {
			c.Close()
			t.Fatalf("port %s is open after %d dials of %s that failed", port, i, target)
		}
		close(d.done)
	}
	l, err := net.Listen("tcp", target)
	if err != nil {
		t.Fatal(err)
	}
	upperServer(t, l)
	for {
		d := next()
		close(d.done)
		if d.err == nil {
			break
		}
	}
	opened := time.After(time.Minute)
	for !strings.Contains(logs.String(), "port "+port+" -> "+target+": open\n") {
		select {
		case <-time.After(10 * time.Millisecond):
		case why := <-stops:
			t.Fatalf("the route ended instead of opening: %s", why)
		case <-opened:
			t.Fatalf("port %s did not open within a minute of a dial of %s that worked:\n%s", port, target, &logs)
		case d := <-dials:
			close(d.done)
			t.Fatalf("the forwarder dialed %s again after a dial that worked:\n%s", target, &logs)
		}
	}
	if got := roundTrip(t, "127.0.0.1:"+port, "ping"); got != "PING" {
		t.Errorf("got %q through the opened port, want PING", got)
	}
}

func TestAnAlsoProcessThatEndsStopsTheCommand(t *testing.T) {
	// Redis ends once the command listens for TERM (its trap is set).
	trapped := filepath.Join(t.TempDir(), "trapped")
	cmd, out := command("--name", "stack", "--linger", "100ms", "--also", "redis=echo redis up; while [ ! -e "+trapped+" ]; do sleep 0.02; done; exit 4", "--",
		"sh", "-c", `trap 'echo postgres got TERM; exit 0' TERM; touch `+trapped+`; while :; do sleep 0.05; done`)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if code := exitStatus(t, cmd); code != 1 {
		t.Errorf("exit status %d, want 1 after the also process ended\n%s", code, out)
	}
	for _, want := range []string{"redis up", "redis ended (exit status 4): stopping stack in 100ms", "postgres got TERM"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("no %q in the output:\n%s", want, out)
		}
	}
}

func TestTheCommandsEndStopsTheAlsoProcess(t *testing.T) {
	marker := filepath.Join(t.TempDir(), "stopped")
	cmd, out := command("--also", "redis=trap 'touch "+marker+"; exit 0' TERM; while :; do sleep 0.05; done", "--",
		"sh", "-c", "sleep 0.3; exit 3")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if code := exitStatus(t, cmd); code != 3 {
		t.Errorf("exit status %d, want the command's 3\n%s", code, out)
	}
	if _, err := os.Stat(marker); err != nil {
		t.Errorf("the also process did not get SIGTERM when the command ended: %v\n%s", err, out)
	}
}

// A stopped command that lets SIGTERM pass (as a shell running initdb does)
// is killed --stop-grace later, instead of keeping the service up for good.
func TestAStopThatIsIgnoredEndsInAKill(t *testing.T) {
	trapped := filepath.Join(t.TempDir(), "trapped")
	cmd, out := command("--name", "stack", "--linger", "50ms", "--stop-grace", "500ms", "--also", "redis=while [ ! -e "+trapped+" ]; do sleep 0.02; done; exit 4", "--",
		"sh", "-c", `trap 'echo postgres let TERM pass' TERM; touch `+trapped+`; while :; do sleep 0.05; done`)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	timer := time.AfterFunc(10*time.Second, func() { killAll(cmd) })
	defer timer.Stop()
	if code := exitStatus(t, cmd); code != 1 {
		t.Errorf("exit status %d, want 1 after the also process ended (-1: still running after 10 s, killed by the test)\n%s", code, out)
	}
	for _, want := range []string{"postgres let TERM pass", "stack did not end within 500ms of SIGTERM: killed"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("no %q in the output:\n%s", want, out)
		}
	}
}

// A command's last lines are written before its end is acted on: a crash's
// cause is in them.
func TestTheLastLinesComeBeforeTheEnd(t *testing.T) {
	cmd, out := command("--", "sh", "-c", "seq 1 50000; echo the last line; exit 3")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if code := exitStatus(t, cmd); code != 3 {
		t.Errorf("exit status %d, want the command's 3", code)
	}
	if !strings.HasSuffix(strings.TrimSpace(out.String()), "the last line") {
		tail := out.String()
		tail = tail[max(0, len(tail)-200):]
		t.Errorf("the output does not end with the command's last line: ...%q", tail)
	}
}

// A peer given with --localhost answers at localhost:PORT while the command
// runs, on 127.0.0.1 and on ::1 where the machine has IPv6, and the
// redirection is said once; a port another process has stays with it, and
// the command runs all the same.
func TestAPeerAnswersOnLocalhost(t *testing.T) {
	peer := listenLocal(t)
	upperServer(t, peer)
	free := unusedTargets(t, 1)[0]
	_, port, _ := net.SplitHostPort(free)
	taken := listenLocal(t)
	defer taken.Close()
	_, takenPort, _ := net.SplitHostPort(taken.Addr().String())
	cmd, out := command("--localhost", port+"="+peer.Addr().String(), "--localhost", takenPort+"=127.0.0.1:1", "--",
		"sh", "-c", `echo ready; while :; do sleep 0.05; done`)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		exitStatus(t, cmd)
	}()
	waitOutput(t, cmd, out, "ready")
	waitOutput(t, cmd, out, "localhost:"+port+" -> "+peer.Addr().String()+" (on 127.0.0.1")
	waitOutput(t, cmd, out, "localhost:"+takenPort+" stays with the process of this container that has it")
	if got := roundTrip(t, "127.0.0.1:"+port, "ping"); got != "PING" {
		t.Errorf("127.0.0.1:%s: got %q, want the peer's PING", port, got)
	}
	if strings.Contains(out.String(), "on 127.0.0.1 and ::1") {
		if got := roundTrip(t, "[::1]:"+port, "pong"); got != "PONG" {
			t.Errorf("[::1]:%s: got %q, want the peer's PONG", port, got)
		}
	}
	if n := strings.Count(out.String(), "localhost:"+port+" -> "); n != 1 {
		t.Errorf("the redirection is said %d times, want once:\n%s", n, out)
	}
}

// serveForTest serves h on a loopback port until the test ends, and
// returns its address (http://127.0.0.1:PORT).
func serveForTest(t *testing.T, h minihttp.Handler) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &minihttp.Server{Handler: h}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-done; !errors.Is(err, minihttp.ErrServerClosed) {
			t.Errorf("serve: %v", err)
		}
	})
	return "http://" + l.Addr().String()
}
