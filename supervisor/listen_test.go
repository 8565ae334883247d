package supervisor

import (
	"bufio"
	"log"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestParseProcNetReadsListeningSockets(t *testing.T) {
	tcp := `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:0BB8 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0000000000000000 100 0 0 10 0
   1: 00000000:1F40 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2 1 0000000000000000 100 0 0 10 0
   2: 0100007F:D2F0 0100007F:1F40 01 00000000:00000000 00:00000000 00000000     0        0 3 1 0000000000000000 20 4 30 10 -1
`
	socks, err := parseProcNet(bufio.NewScanner(strings.NewReader(tcp)))
	if err != nil {
		t.Fatal(err)
	}
	if len(socks) != 2 || socks[0].String() != "127.0.0.1:3000" || socks[1].String() != "0.0.0.0:8000" {
		t.Errorf("sockets %v, want 127.0.0.1:3000 and 0.0.0.0:8000 (the established one left out)", socks)
	}
	tcp6 := `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000001000000:1538 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4 1 0000000000000000 100 0 0 10 0
   1: 00000000000000000000000000000000:0BB8 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 5 1 0000000000000000 100 0 0 10 0
`
	socks, err = parseProcNet(bufio.NewScanner(strings.NewReader(tcp6)))
	if err != nil {
		t.Fatal(err)
	}
	if len(socks) != 2 || socks[0].String() != "[::1]:5432" || socks[1].String() != "[::]:3000" {
		t.Errorf("sockets %v, want [::1]:5432 and [::]:3000", socks)
	}
}

// listenOn listens on addr for the test's duration.
func listenOn(t *testing.T, addr string) {
	t.Helper()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
}

func freeLocalPort(t *testing.T) int {
	t.Helper()
	l := listenLocal(t)
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return port
}

// awaitConnection dials addr until it takes a connection, for within at
// most, and returns the last dial's error otherwise.
func awaitConnection(addr string, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// watch runs watchPort for a port and returns what it reported, "" if
// nothing, and whether it said the port was ready.
func watchReady(port int, timeout, grace time.Duration, logs *syncBuffer, before ...socket) (string, bool) {
	stops := make(chan string, 1)
	ready := make(chan struct{})
	// The test's own process is the command whose sockets count.
	watchPort(port, timeout, grace, "frontend", before, os.Getpid, -1, stops, ready, log.New(logs, "", 0))
	isReady := false
	select {
	case <-ready:
		isReady = true
	default:
	}
	select {
	case why := <-stops:
		return why, isReady
	default:
		return "", isReady
	}
}

func watch(port int, timeout, grace time.Duration, before ...socket) string {
	why, _ := watchReady(port, timeout, grace, &syncBuffer{}, before...)
	return why
}

func TestWatchPortAcceptsAReachablePort(t *testing.T) {
	port := freeLocalPort(t)
	listenOn(t, net.JoinHostPort("0.0.0.0", itoa(port)))
	if why := watch(port, 2*time.Second, time.Second); why != "" {
		t.Errorf("a port on 0.0.0.0 was reported: %s", why)
	}
}

// A server on loopback only (a dev server's default) is served on the
// machine's own addresses at once, and says so: no wait, no stop.
func TestWatchPortServesLoopbackOnTheOwnAddresses(t *testing.T) {
	port := freeLocalPort(t)
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", itoa(port)))
	if err != nil {
		t.Fatal(err)
	}
	upperServer(t, l)
	logs := &syncBuffer{}
	start := time.Now()
	why, ready := watchReady(port, 10*time.Second, 5*time.Second, logs)
	if why != "" || !ready {
		t.Fatalf("report %q, ready %v; want it served and ready", why, ready)
	}
	if took := time.Since(start); took > 4*time.Second {
		t.Errorf("ready after %s: the bridge waited for the grace (5s), not for the socket", took)
	}
	if !strings.Contains(logs.String(), "frontend listens on 127.0.0.1:"+itoa(port)+" only (loopback): serving port "+itoa(port)) {
		t.Errorf("no word of the redirection:\n%s", logs)
	}
	own := ownAddress(t)
	if got := roundTrip(t, net.JoinHostPort(own, itoa(port)), "ping"); got != "PING" {
		t.Errorf("through %s:%d: %q, want PING from the loopback server", own, port, got)
	}
}

// ownAddress is an address of this machine that is not loopback.
func ownAddress(t *testing.T) string {
	t.Helper()
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if ipnet, ok := a.(*net.IPNet); ok && !ipnet.IP.IsLoopback() && ipnet.IP.To4() != nil {
			return ipnet.IP.String()
		}
	}
	t.Skip("this machine has no address but loopback")
	return ""
}

func TestWatchPortReportsOtherPorts(t *testing.T) {
	want, other := freeLocalPort(t), freeLocalPort(t)
	listenOn(t, net.JoinHostPort("0.0.0.0", itoa(other)))
	why := watch(want, 10*time.Second, 300*time.Millisecond)
	// Only the command's own listeners are named: other processes' are not its.
	if !strings.Contains(why, ":"+itoa(other)) || !strings.Contains(why, "not on port "+itoa(want)) || !strings.Contains(why, "PORT") {
		t.Errorf("report %q, want one naming port %d, not %d, and PORT", why, other, want)
	}
}

func TestWatchPortIgnoresWhatListenedBefore(t *testing.T) {
	// Every container of the engine has a listener of the engine's own.
	theirs := freeLocalPort(t)
	listenOn(t, net.JoinHostPort("127.0.0.1", itoa(theirs)))
	before, err := listening()
	if err != nil {
		t.Fatal(err)
	}
	port := freeLocalPort(t)
	why := watch(port, 500*time.Millisecond, 100*time.Millisecond, before...)
	if strings.Contains(why, ":"+itoa(theirs)) || !strings.Contains(why, "has not listened") {
		t.Errorf("report %q, want one that says nothing listened, without the earlier listener", why)
	}
}

func TestWatchPortReportsNoListenerAfterTheTimeout(t *testing.T) {
	port := freeLocalPort(t)
	start := time.Now()
	why := watch(port, 500*time.Millisecond, time.Minute)
	if !strings.Contains(why, "has not listened on port "+itoa(port)+" after 500ms") {
		t.Errorf("report %q, want one that says nothing listened", why)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("the report came after %s, want about the 500ms timeout", took)
	}
}

func TestAFrontendOnTheWrongPortStopsTheStack(t *testing.T) {
	addr := unusedTarget(t)
	_, control, _ := net.SplitHostPort(addr)
	wrong := freeLocalPort(t)
	front, frontOut := command("--control", control, "--name", "stack", "--linger", "100ms", "--",
		"sh", "-c", `trap 'exit 0' TERM; while :; do sleep 0.05; done`)
	if err := front.Start(); err != nil {
		t.Fatal(err)
	}
	// A dev server that ignores PORT and listens on a port of its own.
	member, memberOut := command("--report", addr, "--name", "frontend", "--expect-port", "1", "--grace", "300ms", "--linger", "100ms", "--",
		"python3", "-c", "import socket,time; s=socket.socket(); s.bind(('0.0.0.0', "+itoa(wrong)+")); s.listen(); print('listening', flush=True); time.sleep(60)")
	if err := member.Start(); err != nil {
		t.Fatal(err)
	}
	if code := exitStatus(t, member); code != 1 {
		t.Errorf("the frontend's supervisor exited %d, want 1\n%s", code, memberOut)
	}
	if code := exitStatus(t, front); code != 1 {
		t.Errorf("the front exited %d, want 1 after the report\n%s", code, frontOut)
	}
	log := frontOut.String()
	for _, want := range []string{"frontend ended (exit status 1: frontend listens on ", ":" + itoa(wrong), "but not on port 1", "stopping stack"} {
		if !strings.Contains(log, want) {
			t.Errorf("the front's log does not say %q:\n%s", want, log)
		}
	}
}

func TestARouteWhoseTargetNeverAnswersStopsTheFront(t *testing.T) {
	addrs := unusedTargets(t, 2)
	_, port, _ := net.SplitHostPort(addrs[1])
	front, out := command("--route", port+"="+addrs[0], "--start-timeout", "500ms")
	if err := front.Start(); err != nil {
		t.Fatal(err)
	}
	if code := exitStatus(t, front); code != 1 {
		t.Errorf("exit status %d, want 1\n%s", code, out)
	}
	if want := addrs[0] + " did not answer within 500ms (port " + port + ")"; !strings.Contains(out.String(), want) {
		t.Errorf("the log does not say %q:\n%s", want, out)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// Sockets of other processes than the command's are not its: the verdict
// does not change with what else runs on the machine.
func TestWatchPortNamesOnlyTheCommandsSockets(t *testing.T) {
	want, other := freeLocalPort(t), freeLocalPort(t)
	listenOn(t, net.JoinHostPort("0.0.0.0", itoa(other))) // this test's, not the command's
	command := exec.Command("sleep", "30")
	if err := command.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { command.Process.Kill(); command.Wait() }()
	stops := make(chan string, 1)
	watchPort(want, 500*time.Millisecond, 100*time.Millisecond, "frontend", nil, func() int { return command.Process.Pid }, -1, stops, make(chan struct{}), log.New(&syncBuffer{}, "", 0))
	why := <-stops
	if strings.Contains(why, ":"+itoa(other)) || !strings.Contains(why, "has not listened on port "+itoa(want)) {
		t.Errorf("report %q, want one that says nothing listened, without another process's port %d", why, other)
	}
}
