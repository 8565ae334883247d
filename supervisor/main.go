// Command commandcenter-forward holds the commandcenter Stack together.
//
// In the Stack's front container it runs one command (Postgres) and, next to
// it, forwards TCP ports to other hosts (Redis, the backend and the
// frontend), so that one service answers on all four ports while Postgres,
// the port that carries the most traffic, is served by its own process with
// no hop in between. It also listens on a control port for the other
// services' reports:
//
//	commandcenter-forward --route 6379=redis:6379 --route 8000=backend:8000 --control 65432 -- postgres
//
// In each of the other services' containers it runs the service's command
// and, when that ends, reports its exit status to the front, which then stops
// its own command: the Stack stops as a whole, saying which service ended it,
// rather than running on without one of its services.
//
//	commandcenter-forward --report front:65432 --name backend -- uvicorn app.main:app
//
// A route's port opens when its target first answers (the services of a
// Stack start at the same time); a connection that arrives while the target
// is not answering later (a dev server restarting) waits for it for up to
// --wait. Signals
// (SIGTERM, SIGINT, SIGHUP, SIGQUIT) go to the command, and the forwarder
// exits with the command's exit status, or 1 when a report stopped it.
// Without a command it forwards until it gets SIGTERM or SIGINT.
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"regexp"
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
	wait := fs.Duration("wait", time.Minute, "how long a connection waits for its target to answer before it is closed, and a report for the front")
	control := fs.Int("control", 0, "port to take other services' reports on: a report stops the command")
	report := fs.String("report", "", "HOST:PORT of a front's control port, told the command's exit status when it ends")
	linger := fs.Duration("linger", 2*time.Second, "how long a report leaves the command running: the engine passes the ended service's last output on to its client meanwhile, before the command's end ends the client's call")
	service := fs.String("name", "", "name of this service: in its report (with --report), in the log when a report stops it")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: %s [--route LISTEN=HOST:PORT]... [--control PORT] [--report HOST:PORT --name NAME] [--wait DURATION] [-- COMMAND [ARG...]]\n", name)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	command := fs.Args()
	if msg := checkFlags(rs, *wait, *linger, *control, *report, *service, command); msg != "" {
		logger.Print(msg)
		return 2
	}

	// Each route's port is tried now, so that a port another process has
	// fails at once; it opens when its target first answers.
	for _, r := range rs {
		l, err := listenRoute(r)
		if err != nil {
			logger.Print(err)
			return 1
		}
		l.Close()
	}
	stops := make(chan string, 1)
	if *control != 0 {
		l, err := net.Listen("tcp", ":"+strconv.Itoa(*control))
		if err != nil {
			logger.Printf("cannot listen on control port %d: %v (give --control a free port)", *control, err)
			return 1
		}
		go takeReports(l, stops, logger)
	}
	for _, r := range rs {
		f := &forwarder{target: r.target, wait: *wait, log: logger}
		go f.open(r, stops)
	}

	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGQUIT)
	if len(command) == 0 {
		for {
			select {
			case sig := <-sigs:
				if sig == syscall.SIGTERM || sig == syscall.SIGINT {
					return 0
				}
			case why := <-stops:
				logger.Printf("%s: stopping", why)
				return 1
			}
		}
	}
	what := *service
	if what == "" {
		what = command[0]
	}
	status := supervise(command, what, *linger, sigs, stops, logger)
	if *report != "" {
		tell(*report, *service, status, *wait, logger)
	}
	return status
}

var namePattern = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]{0,31}$`)

// checkFlags says what is wrong with the flags, or nothing.
func checkFlags(rs routes, wait, linger time.Duration, control int, report, service string, command []string) string {
	switch {
	case wait <= 0:
		return fmt.Sprintf("--wait %s: give a positive duration, such as 60s", wait)
	case linger < 0:
		return fmt.Sprintf("--linger %s: give a duration of 0 or more, such as 2s", linger)
	case control < 0 || control > 65535:
		return fmt.Sprintf("--control %d: give a port (1-65535)", control)
	case (report != "" || service != "") && !namePattern.MatchString(service):
		return fmt.Sprintf("--name %q: --report needs the service's name, a letter then letters, digits, - or _ (at most 32)", service)
	case report != "" && len(command) == 0:
		return "--report needs a command to run, after --"
	}
	if report != "" {
		if _, err := parseRoute("1=" + report); err != nil {
			return fmt.Sprintf("--report %q: give the front's HOST:PORT, such as front:65432", report)
		}
	}
	for _, r := range rs {
		if r.port == control {
			return fmt.Sprintf("--control %d: the port is routed too; give the control port a port of its own", control)
		}
	}
	return ""
}

// stop asks for the command to be stopped, saying why. The first reason
// stops it; later ones add nothing.
func stop(stops chan<- string, why string) {
	select {
	case stops <- why:
	default:
	}
}

// takeReports reads the reports other services send to the control port,
// one line each, "NAME STATUS", and passes the first on to stops.
func takeReports(l net.Listener, stops chan<- string, logger *log.Logger) {
	for {
		c, err := l.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(100 * time.Millisecond)
			continue
		}
		go func() {
			defer c.Close()
			_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
			line, err := bufio.NewReader(io.LimitReader(c, 256)).ReadString('\n')
			fields := strings.Fields(line)
			status, aerr := 0, error(nil)
			if len(fields) == 2 {
				status, aerr = strconv.Atoi(fields[1])
			}
			if err != nil || len(fields) != 2 || !namePattern.MatchString(fields[0]) || aerr != nil {
				logger.Printf("ignored a report from %s that is not NAME STATUS: %q", c.RemoteAddr(), line)
				return
			}
			stop(stops, fmt.Sprintf("%s ended (exit status %d)", fields[0], status))
		}()
	}
}

// tell reports to the front at addr that this service's command ended with
// status, trying for up to wait while the front starts.
func tell(addr, service string, status int, wait time.Duration, logger *log.Logger) {
	f := &forwarder{target: addr, wait: wait, log: logger}
	c, err := f.dial()
	if err == nil {
		_ = c.SetWriteDeadline(time.Now().Add(5 * time.Second))
		_, err = fmt.Fprintf(c, "%s %d\n", service, status)
		c.Close()
	}
	if err != nil {
		logger.Printf("could not tell %s that %s ended: %v", addr, service, err)
	}
}

// supervise runs command, passes sigs on to it and returns its exit status.
// A report on stops ends it with SIGTERM linger later, and the status is
// then 1.
func supervise(command []string, what string, linger time.Duration, sigs <-chan os.Signal, stops <-chan string, logger *log.Logger) int {
	cmd := exec.Command(command[0], command[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	if err := cmd.Start(); err != nil {
		logger.Printf("cannot run %s: %v", command[0], err)
		return 127
	}
	done := make(chan struct{})
	stopped := make(chan struct{})
	var stopAt <-chan time.Time
	go func() {
		for {
			select {
			case sig := <-sigs:
				_ = cmd.Process.Signal(sig)
			case why := <-stops:
				logger.Printf("%s: stopping %s in %s", why, what, linger)
				close(stopped)
				stops = nil
				stopAt = time.After(linger)
			case <-stopAt:
				_ = cmd.Process.Signal(syscall.SIGTERM)
			case <-done:
				return
			}
		}
	}()
	err := cmd.Wait()
	close(done)
	var exit *exec.ExitError
	select {
	case <-stopped:
		return 1
	default:
	}
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

func listenRoute(r route) (net.Listener, error) {
	l, err := net.Listen("tcp", ":"+strconv.Itoa(r.port))
	if err != nil {
		return nil, fmt.Errorf("cannot listen on port %d for %s: %v (another process in the container has it: route a free port)", r.port, r.target, err)
	}
	return l, nil
}

// open listens on the route's port once its target answers, and forwards
// from then on. Until then the port is closed: a client, or the engine's
// health check of the service, sees it open only when there is something
// behind it. A port that cannot be opened then is reported on stops.
func (f *forwarder) open(r route, stops chan<- string) {
	f.log.Printf("port %d -> %s: opens when %s answers", r.port, r.target, r.target)
	for {
		c, err := net.DialTimeout("tcp", r.target, time.Second)
		if err == nil {
			c.Close()
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	l, err := listenRoute(r)
	if err != nil {
		stop(stops, err.Error())
		return
	}
	f.log.Printf("port %d -> %s: open", r.port, r.target)
	f.serve(l)
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
