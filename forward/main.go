// Command commandcenter-forward is the front of the commandcenter Stack. It
// runs one command (Postgres, in the Stack) and, next to it, forwards TCP
// ports to other hosts (Redis, the backend and the frontend), so that one
// service answers on all four ports while Postgres, the port that carries the
// most traffic, is served by its own process with no hop in between.
//
//	commandcenter-forward --route 6379=redis:6379 --route 8000=backend:8000 -- postgres
//
// A connection that arrives before its target answers waits for it (the
// services of a Stack start at the same time) for up to --wait. Signals
// (SIGTERM, SIGINT, SIGHUP, SIGQUIT) go to the command, and the forwarder
// exits with the command's exit status. Without a command it forwards until
// it gets SIGTERM or SIGINT.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

const name = "commandcenter-forward"

func main() {
	os.Exit(run(os.Args[1:], os.Stderr))
}

// route forwards connections to a local port to a target host:port.
type route struct {
	port   int
	target string
}

func (r route) String() string { return fmt.Sprintf("%d=%s", r.port, r.target) }

// parseRoute reads LISTEN=HOST:PORT.
func parseRoute(s string) (route, error) {
	listen, target, ok := strings.Cut(s, "=")
	port, err := strconv.Atoi(listen)
	if !ok || err != nil || port < 1 || port > 65535 {
		return route{}, fmt.Errorf("route %q: want LISTEN=HOST:PORT with LISTEN a port (1-65535), such as 6379=redis:6379", s)
	}
	host, tport, err := net.SplitHostPort(target)
	if n, perr := strconv.Atoi(tport); err != nil || host == "" || perr != nil || n < 1 || n > 65535 {
		return route{}, fmt.Errorf("route %q: target %q is not HOST:PORT, such as redis:6379", s, target)
	}
	return route{port: port, target: target}, nil
}

type routes []route

func (rs *routes) String() string {
	parts := make([]string, len(*rs))
	for i, r := range *rs {
		parts[i] = r.String()
	}
	return strings.Join(parts, ",")
}

func (rs *routes) Set(s string) error {
	r, err := parseRoute(s)
	if err != nil {
		return err
	}
	for _, o := range *rs {
		if o.port == r.port {
			return fmt.Errorf("route %q: port %d is routed twice", s, r.port)
		}
	}
	*rs = append(*rs, r)
	return nil
}

// run is the command: it returns the exit status.
func run(args []string, stderr io.Writer) int {
	logger := log.New(stderr, name+": ", 0)
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var rs routes
	fs.Var(&rs, "route", "LISTEN=HOST:PORT: forward connections to port LISTEN to HOST:PORT (repeat for more ports)")
	wait := fs.Duration("wait", time.Minute, "how long a connection waits for its target to answer before it is closed")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: %s --route LISTEN=HOST:PORT... [--wait DURATION] [-- COMMAND [ARG...]]\n", name)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *wait <= 0 {
		logger.Printf("--wait %s: give a positive duration, such as 60s", *wait)
		return 2
	}

	listeners := make([]net.Listener, 0, len(rs))
	for _, r := range rs {
		l, err := net.Listen("tcp", ":"+strconv.Itoa(r.port))
		if err != nil {
			logger.Printf("cannot listen on port %d for %s: %v (another process in the container has it: route a free port)", r.port, r.target, err)
			return 1
		}
		listeners = append(listeners, l)
	}
	for i, r := range rs {
		logger.Printf("port %d -> %s", r.port, r.target)
		f := &forwarder{target: r.target, wait: *wait, log: logger}
		go f.serve(listeners[i])
	}

	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGQUIT)
	command := fs.Args()
	if len(command) == 0 {
		for sig := range sigs {
			if sig == syscall.SIGTERM || sig == syscall.SIGINT {
				return 0
			}
		}
	}
	return supervise(command, sigs, logger)
}

// supervise runs command, passes sigs on to it and returns its exit status.
func supervise(command []string, sigs <-chan os.Signal, logger *log.Logger) int {
	cmd := exec.Command(command[0], command[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	if err := cmd.Start(); err != nil {
		logger.Printf("cannot run %s: %v", command[0], err)
		return 127
	}
	done := make(chan struct{})
	go func() {
		for {
			select {
			case sig := <-sigs:
				_ = cmd.Process.Signal(sig)
			case <-done:
				return
			}
		}
	}()
	err := cmd.Wait()
	close(done)
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &exit):
		if ws, ok := exit.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal())
		}
		return exit.ExitCode()
	default:
		logger.Printf("%s: %v", command[0], err)
		return 1
	}
}

// forwarder sends the connections of one listener to its target.
type forwarder struct {
	target string
	wait   time.Duration
	log    *log.Logger

	mu      sync.Mutex
	waiting bool // the last dial failed: said once, until one works again
}

// dialed notes how a dial went, and says so when the target stops or starts
// answering, once each time.
func (f *forwarder) dialed(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case err != nil && !f.waiting:
		f.log.Printf("%s does not answer (yet): %v; connections wait for it up to %s", f.target, err, f.wait)
	case err == nil && f.waiting:
		f.log.Printf("%s answers", f.target)
	}
	f.waiting = err != nil
}

func (f *forwarder) serve(l net.Listener) {
	for {
		c, err := l.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: the next accept may work.
			f.log.Printf("accept on %s: %v", l.Addr(), err)
			time.Sleep(100 * time.Millisecond)
			continue
		}
		go f.handle(c.(*net.TCPConn))
	}
}

func (f *forwarder) handle(client *net.TCPConn) {
	upstream, err := f.dial()
	if err != nil {
		f.log.Printf("%s did not answer within %s, closed the connection from %s: %v", f.target, f.wait, client.RemoteAddr(), err)
		client.Close()
		return
	}
	pipe(client, upstream)
}

// dial connects to the target, trying again until it answers or wait has
// passed: it may still be starting, or not yet have its name in DNS.
func (f *forwarder) dial() (*net.TCPConn, error) {
	deadline := time.Now().Add(f.wait)
	delay := 20 * time.Millisecond
	for {
		left := time.Until(deadline)
		c, err := net.DialTimeout("tcp", f.target, min(left, 5*time.Second))
		f.dialed(err)
		if err == nil {
			return c.(*net.TCPConn), nil
		}
		if time.Until(deadline) < delay {
			return nil, err
		}
		time.Sleep(delay)
		delay = min(2*delay, time.Second)
	}
}

// pipe copies both ways between a and b until both sides have finished
// sending, passing on each side's end of stream; an error on either way
// closes both.
func pipe(a, b *net.TCPConn) {
	var once sync.Once
	closeBoth := func() {
		once.Do(func() {
			a.Close()
			b.Close()
		})
	}
	var wg sync.WaitGroup
	wg.Add(2)
	oneWay := func(dst, src *net.TCPConn) {
		defer wg.Done()
		// TCPConn to TCPConn copies with splice(2): the bytes stay in the kernel.
		if _, err := io.Copy(dst, src); err != nil {
			closeBoth()
			return
		}
		_ = dst.CloseWrite()
	}
	go oneWay(a, b)
	go oneWay(b, a)
	wg.Wait()
	closeBoth()
}
