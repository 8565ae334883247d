package supervisor

import (
	"bufio"
	"encoding/hex"
	"fmt"
	"log"
	"net"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"
)

// watchPort checks, while the command starts, that it listens on port
// where other containers reach it, by reading the kernel's table of
// listening sockets (/proc/net/tcp), and closes ready once it does.
//
// A server that listens on port of loopback only (the default of Vite,
// Next, create-react-app and webpack-dev-server, written for a developer's
// own machine) is served there anyway: the supervisor listens on port of
// the container's own addresses and passes connections on to it, and says
// so once. Only where that cannot be done is it stopped, saying why.
//
// A server that listens on other ports only, for grace, is stopped with a
// message that names them (a server may open a port of its own before its
// main one), and one that listens nowhere within timeout too: a command
// that ignores PORT would otherwise leave every client, and `up`, waiting
// for a port that never opens. Sockets in before (listening before the
// command started, such as the engine's own in every container) are not the
// command's, and neither are those of processes that are not the command's
// (owner is the command's process ID, 0 until it runs; uid, when not -1, is
// the user the command runs as, whose sockets are its own: root without
// CAP_SYS_PTRACE, as in a container, cannot read another user's process's
// files): the verdict does not change with what else runs on the machine.
func watchPort(port int, timeout, grace time.Duration, what string, before []socket, owner func() int, uid int, stops chan<- string, ready chan<- struct{}, logger *log.Logger) {
	theirs := map[string]bool{}
	for _, s := range before {
		theirs[s.String()] = true
	}
	start := time.Now()
	var othersSince time.Time
	for {
		socks, err := listening()
		if err != nil {
			close(ready) // no /proc here: nothing to check with
			return
		}
		pid := owner()
		if pid == 0 && time.Since(start) < timeout {
			// Not started yet: nothing listening is its.
			time.Sleep(20 * time.Millisecond)
			continue
		}
		var owned map[uint64]bool
		known := true
		if uid >= 0 {
			owned = socketsOf(socks, uid)
		} else {
			owned, known = ownedSockets(pid)
		}
		var others []string
		var loopback *socket
		reachable := false
		for _, s := range socks {
			switch {
			case theirs[s.String()] || known && !owned[s.inode]:
			case s.port != port:
				others = append(others, s.String())
			case s.ip.IsLoopback():
				loopback = &s
			default:
				reachable = true
			}
		}
		now := time.Now()
		switch {
		case reachable:
			close(ready)
			return
		case loopback != nil:
			if err := bridgeLoopback(*loopback, logger); err != nil {
				stop(stops, fmt.Sprintf("%s listens on port %d of loopback only, where other containers and `up` cannot reach it, and the supervisor could not serve it on the container's addresses (%v): make it listen on 0.0.0.0 (its HOST variable says so)", what, port, err))
				return
			}
			logger.Printf("%s listens on %s only (loopback): serving port %d of the container from it", what, loopback, port)
			close(ready)
			return
		case len(others) > 0:
			if othersSince.IsZero() {
				othersSince = now
			}
			if now.Sub(othersSince) >= grace {
				stop(stops, fmt.Sprintf("%s listens on %s but not on port %d, after it listened there for %s: make it listen on port %d (its PORT variable says so), or set the service's port to the one it uses", what, strings.Join(others, ", "), port, grace, port))
				return
			}
		}
		if now.Sub(start) >= timeout {
			stop(stops, fmt.Sprintf("%s has not listened on port %d after %s: its log above says why", what, port, timeout))
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// bridgeLoopback listens on the port of s on each of the container's own
// addresses, and passes the connections on to s, a loopback socket.
func bridgeLoopback(s socket, logger *log.Logger) error {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return err
	}
	n := 0
	for _, a := range addrs {
		ipnet, ok := a.(*net.IPNet)
		if !ok || ipnet.IP.IsLoopback() || ipnet.IP.IsLinkLocalUnicast() {
			continue
		}
		l, err := net.Listen("tcp", net.JoinHostPort(ipnet.IP.String(), strconv.Itoa(s.port)))
		if err != nil {
			return err
		}
		f := &forwarder{target: s.String(), wait: 10 * time.Second, log: logger}
		go f.serve(l)
		n++
	}
	if n == 0 {
		return fmt.Errorf("the container has no address but loopback")
	}
	return nil
}

type socket struct {
	ip    net.IP
	port  int
	inode uint64
	uid   int // the user that opened it
}

func (s socket) String() string { return net.JoinHostPort(s.ip.String(), strconv.Itoa(s.port)) }

// listening returns the TCP sockets that listen in this network namespace,
// from /proc/net/tcp and tcp6.
func listening() ([]socket, error) {
	var all []socket
	for _, file := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		f, err := os.Open(file)
		if err != nil {
			if file == "/proc/net/tcp6" {
				continue // no IPv6 in this kernel
			}
			return nil, err
		}
		socks, err := parseProcNet(bufio.NewScanner(f))
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		all = append(all, socks...)
	}
	sort.Slice(all, func(i, j int) bool { return all[i].String() < all[j].String() })
	return all, nil
}

// listenState is the st column of a listening socket in /proc/net/tcp.
const listenState = "0A"

// parseProcNet reads the listening sockets of /proc/net/tcp or tcp6: the
// local address is hex, each 32-bit word of the address in host (little
// endian) order, then the port in big endian.
func parseProcNet(sc *bufio.Scanner) ([]socket, error) {
	var socks []socket
	sc.Scan() // the header
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 4 || fields[3] != listenState {
			continue
		}
		addr, portHex, ok := strings.Cut(fields[1], ":")
		raw, err := hex.DecodeString(addr)
		if !ok || err != nil || (len(raw) != 4 && len(raw) != 16) {
			return nil, fmt.Errorf("unexpected local address %q", fields[1])
		}
		port, err := strconv.ParseUint(portHex, 16, 16)
		if err != nil {
			return nil, fmt.Errorf("unexpected port in %q", fields[1])
		}
		ip := make(net.IP, len(raw))
		for w := 0; w < len(raw); w += 4 {
			ip[w], ip[w+1], ip[w+2], ip[w+3] = raw[w+3], raw[w+2], raw[w+1], raw[w]
		}
		var inode uint64
		uid := -1
		if len(fields) > 9 {
			inode, _ = strconv.ParseUint(fields[9], 10, 64)
			uid, _ = strconv.Atoi(fields[7])
		}
		socks = append(socks, socket{ip: ip, port: int(port), inode: inode, uid: uid})
	}
	return socks, sc.Err()
}

// socketsOf are the inodes of the sockets of socks that user uid opened.
func socketsOf(socks []socket, uid int) map[uint64]bool {
	owned := map[uint64]bool{}
	for _, s := range socks {
		if s.uid == uid {
			owned[s.inode] = true
		}
	}
	return owned
}

// ownedSockets are the inodes of the sockets that process pid and its
// descendants hold, from /proc; known is false when they cannot be read
// (no process yet, or no /proc), and then no socket is told apart by its
// owner.
func ownedSockets(pid int) (owned map[uint64]bool, known bool) {
	tree, ok := processTree(pid)
	if !ok {
		return nil, false
	}
	owned = map[uint64]bool{}
	for _, p := range tree {
		dir := "/proc/" + strconv.Itoa(p) + "/fd"
		fds, err := os.ReadDir(dir)
		if err != nil {
			if p == pid && !os.IsNotExist(err) {
				return nil, false // not ours to read
			}
			continue
		}
		for _, fd := range fds {
			target, err := os.Readlink(dir + "/" + fd.Name())
			if err != nil {
				continue
			}
			if n, ok := strings.CutPrefix(target, "socket:["); ok {
				if inode, err := strconv.ParseUint(strings.TrimSuffix(n, "]"), 10, 64); err == nil {
					owned[inode] = true
				}
			}
		}
	}
	return owned, true
}

// processTree is process pid and its descendants, from /proc, pid first;
// ok is false when pid is 0 or there is no /proc.
func processTree(pid int) (tree []int, ok bool) {
	if pid <= 0 {
		return nil, false
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, false
	}
	children := map[int][]int{}
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue // ended meanwhile
		}
		// pid (comm) state ppid ...: comm may hold spaces and parentheses.
		i := strings.LastIndexByte(string(stat), ')')
		if i < 0 {
			continue
		}
		fields := strings.Fields(string(stat[i+1:]))
		if len(fields) < 2 {
			continue
		}
		if ppid, err := strconv.Atoi(fields[1]); err == nil {
			children[ppid] = append(children[ppid], p)
		}
	}
	for queue := []int{pid}; len(queue) > 0; queue = queue[1:] {
		tree = append(tree, queue[0])
		queue = append(queue, children[queue[0]]...)
	}
	return tree, true
}

// freePort is a port of this machine that nothing listens on now.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
