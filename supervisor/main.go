// Command commandcenter-supervisor runs the processes of a commandcenter
// project in their containers and holds the Stack together.
//
// In the Stack's front container it runs one command (Postgres) and, next to
// it, forwards TCP ports to other hosts (Redis, the backend, the frontend),
// so that one service answers on every port while Postgres, the port that
// carries the most traffic, is served by its own process with no hop in
// between. It also takes the other services' reports on a control port:
//
//	commandcenter-supervisor --route 6379=redis:6379 --route 8000=backend:8000 --control 65432 -- postgres
//
// In each of the other services' containers it runs the service's command
// and, when that ends, reports its exit status to the front, which then stops
// its own command: the Stack stops as a whole, saying which service ended it,
// rather than running on without one of its services.
//
//	commandcenter-supervisor --report front:65432 --name backend --expect-port 8000 -- uvicorn app.main:app
//
// Reports carry the Stack's token, from the COMMANDCENTER_STACK_TOKEN
// environment variable of both sides; the front ignores reports without it.
//
// With --expect-port it checks that the command listens on that port where
// other containers reach it, and stops it with a message that says what to
// fix when it does not: when it listens on loopback only, on other ports
// only, or nowhere after --start-timeout.
//
// A route's port opens when its target first answers (the services of a
// Stack start at the same time); a connection that arrives while the target
// is not answering later (a dev server restarting) waits for it for up to
// --wait. Signals (SIGTERM, SIGINT, SIGHUP, SIGQUIT) go to the command, and
// the supervisor exits with the command's exit status, or 1 when it stopped
// the command itself. Without a command it forwards until it gets SIGTERM or
// SIGINT.
//
// `commandcenter-supervisor serve-static --dir DIR` serves a frontend's
// production build instead (see static.go).
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
	"path/filepath"
	"regexp"
	"strconv"
	"syscall"
	"time"
)

const name = "commandcenter-supervisor"

// mode is "watch" in the watcher's build (go build -ldflags "-X main.mode=watch"):
// the program is then commandcenter-watch, whatever its file is called.
var mode = "supervisor"

// tokenEnv names the environment variable that holds the Stack's token.
const tokenEnv = "COMMANDCENTER_STACK_TOKEN"

func main() {
	if len(os.Args) > 1 && os.Args[1] == "serve-static" {
		os.Exit(serveStatic(os.Args[2:], os.Stderr))
	}
	if mode == "watch" || filepath.Base(os.Args[0]) == watchName {
		os.Exit(runWatch(os.Args[1:], os.Stderr))
	}
	if len(os.Args) > 1 && os.Args[1] == "watch" {
		os.Exit(runWatch(os.Args[2:], os.Stderr))
	}
	os.Exit(run(os.Args[1:], os.Stderr))
}

type options struct {
	routes       routes
	wait         time.Duration
	control      int
	report       string
	linger       time.Duration
	stopGrace    time.Duration
	service      string
	expectPort   int
	startTimeout time.Duration
	grace        time.Duration
	waits        waitTargets
	waitTimeout  time.Duration
	prestart     string
	also         alsoProcesses
	sync         syncOptions
	token        string
	command      []string
}

// run is the command: it returns the exit status.
func run(args []string, stderr io.Writer) int {
	logger := log.New(stderr, name+": ", 0)
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	fs.Var(&o.routes, "route", "LISTEN=HOST:PORT: forward connections to port LISTEN to HOST:PORT (repeat for more ports)")
	fs.DurationVar(&o.wait, "wait", time.Minute, "how long a connection waits for its target to answer before it is closed, and a report for the front")
	fs.IntVar(&o.control, "control", 0, "port to take other services' reports on: a report stops the command")
	fs.StringVar(&o.report, "report", "", "HOST:PORT of a front's control port, told the command's exit status when it ends")
	fs.DurationVar(&o.linger, "linger", 2*time.Second, "how long a report leaves the command running: the engine passes the ended service's last output on to its client meanwhile, before the command's end ends the client's call")
	fs.DurationVar(&o.stopGrace, "stop-grace", time.Minute, "how long a stopped command (by a report, an --also process's end, --expect-port) may take to end after SIGTERM before it is killed")
	fs.StringVar(&o.service, "name", "", "name of this service: in its report (with --report), in the log when a report stops it")
	fs.IntVar(&o.expectPort, "expect-port", 0, "port the command must listen on, reachable from other containers; it is stopped with a message when it does not")
	fs.DurationVar(&o.startTimeout, "start-timeout", 5*time.Minute, "how long a command may take to listen on --expect-port, and a route's target to answer first")
	fs.DurationVar(&o.grace, "grace", 10*time.Second, "how long the command may listen elsewhere (loopback only, other ports) before --expect-port stops it")
	fs.Var(&o.waits, "wait-for", "postgres://HOST:PORT, redis://HOST:PORT or HOST:PORT to wait for before the command starts (repeat for more; see wait.go)")
	fs.DurationVar(&o.waitTimeout, "wait-timeout", 5*time.Minute, "how long to wait for the --wait-for targets")
	fs.Var(&o.also, "also", "NAME=COMMAND: a process to run next to the command, with sh (repeat for more); when one ends, the command is stopped, and the other way round")
	fs.StringVar(&o.prestart, "prestart", "", "shell command run once the --wait-for targets are ready, before the command; its failure is the command's")
	fs.IntVar(&o.sync.port, "sync", 0, "port to take the live-reload watcher's files on (with the token in "+syncTokenEnv+"; see sync.go)")
	fs.StringVar(&o.sync.root, "sync-root", "", "folder this service's files go to (with --sync)")
	fs.StringVar(&o.sync.info.Dir, "sync-dir", ".", "this service's folder in the project's source, for the watcher")
	fs.Var((*repeated)(&o.sync.info.Ignore), "sync-ignore", "pattern of files the watcher never sends (.dockerignore syntax; repeat for more)")
	fs.Var((*repeated)(&o.sync.info.Deps), "sync-deps", "file (relative to the folder) whose change runs --sync-deps-run and restarts the command (repeat for more)")
	fs.BoolVar(&o.sync.info.Restart, "sync-restart", false, "restart the command after each change (otherwise only after --sync-deps-run)")
	fs.StringVar(&o.sync.run, "sync-run", "", "shell command run in the folder after each change (a production build)")
	fs.StringVar(&o.sync.depsRun, "sync-deps-run", "", "shell command run in the folder after a --sync-deps file changed (the dependency install)")
	fs.Var(syncRoutes{&o.sync}, "sync-route", "NAME=HOST:PORT: pass the files for service NAME on to its sync port (in the Stack's front; repeat for more)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: %s [--route LISTEN=HOST:PORT]... [--control PORT] [--report HOST:PORT] [--name NAME] [--expect-port PORT] [-- COMMAND [ARG...]]\n", name)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	o.command = fs.Args()
	o.token = os.Getenv(tokenEnv)
	o.sync.token = os.Getenv(syncTokenEnv)
	o.sync.info.Name = o.service
	if msg := o.check(); msg != "" {
		logger.Print(msg)
		return 2
	}
	if msg := o.sync.check(o.service, len(o.command) > 0); msg != "" {
		logger.Print(msg)
		return 2
	}

	// Each route's port is tried now, so that a port another process has
	// fails at once; it opens when its target first answers.
	for _, r := range o.routes {
		l, err := listenRoute(r)
		if err != nil {
			logger.Print(err)
			return 1
		}
		l.Close()
	}
	stops := make(chan string, 1)
	if o.control != 0 {
		l, err := net.Listen("tcp", ":"+strconv.Itoa(o.control))
		if err != nil {
			logger.Printf("cannot listen on control port %d: %v (give --control a free port)", o.control, err)
			return 1
		}
		go takeReports(l, o.token, stops, logger)
	}
	for _, r := range o.routes {
		f := &forwarder{target: r.target, wait: o.wait, log: logger}
		go f.open(r, o.startTimeout, stops)
	}
	var restarts chan chan error
	supervised := make(chan struct{})
	defer close(supervised)
	if o.sync.port != 0 {
		l, err := net.Listen("tcp", ":"+strconv.Itoa(o.sync.port))
		if err != nil {
			logger.Printf("cannot listen on sync port %d: %v (give --sync a free port)", o.sync.port, err)
			return 1
		}
		var restart func() error
		if len(o.command) > 0 && o.sync.root != "" {
			restarts = make(chan chan error)
			restart = func() error {
				req := make(chan error, 1)
				select {
				case restarts <- req:
					return <-req
				case <-supervised:
					return errStopping
				}
			}
		}
		go func() {
			if err := serveSync(l, o.sync, restart, logger); err != nil {
				stop(stops, "the sync port failed: "+err.Error())
			}
		}()
	}

	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGQUIT)
	if len(o.command) == 0 {
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
	what := o.service
	if what == "" {
		what = o.command[0]
	}
	status, why := o.prepare(what, sigs, logger)
	if status == 0 {
		if o.expectPort != 0 {
			before, _ := listening()
			go watchPort(o.expectPort, o.startTimeout, o.grace, what, before, stops)
		}
		status, why = supervise(o.command, what, o.linger, o.stopGrace, sigs, stops, o.also, restarts, logger)
	}
	if o.report != "" {
		tell(o.report, o.token, o.service, status, why, o.wait, logger)
	}
	return status
}

var namePattern = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]{0,31}$`)

// check says what is wrong with the options, or nothing.
func (o options) check() string {
	switch {
	case o.wait <= 0:
		return fmt.Sprintf("--wait %s: give a positive duration, such as 60s", o.wait)
	case o.startTimeout <= 0:
		return fmt.Sprintf("--start-timeout %s: give a positive duration, such as 5m", o.startTimeout)
	case o.grace <= 0:
		return fmt.Sprintf("--grace %s: give a positive duration, such as 10s", o.grace)
	case o.stopGrace <= 0:
		return fmt.Sprintf("--stop-grace %s: give a positive duration, such as 1m", o.stopGrace)
	case o.waitTimeout <= 0:
		return fmt.Sprintf("--wait-timeout %s: give a positive duration, such as 5m", o.waitTimeout)
	case (len(o.waits) > 0 || o.prestart != "" || len(o.also) > 0) && len(o.command) == 0:
		return "--wait-for, --prestart and --also need a command to run, after --"
	case o.linger < 0:
		return fmt.Sprintf("--linger %s: give a duration of 0 or more, such as 2s", o.linger)
	case o.control < 0 || o.control > 65535:
		return fmt.Sprintf("--control %d: give a port (1-65535)", o.control)
	case o.expectPort < 0 || o.expectPort > 65535:
		return fmt.Sprintf("--expect-port %d: give a port (1-65535)", o.expectPort)
	case o.expectPort != 0 && len(o.command) == 0:
		return "--expect-port needs a command to run, after --"
	case (o.report != "" || o.service != "") && !namePattern.MatchString(o.service):
		return fmt.Sprintf("--name %q: give the service's name, a letter then letters, digits, - or _ (at most 32)", o.service)
	case o.report != "" && len(o.command) == 0:
		return "--report needs a command to run, after --"
	case (o.report != "" || o.control != 0) && len(o.token) < 16:
		return fmt.Sprintf("--report and --control need the Stack's token in %s (16 characters or more), so that only the Stack's own services can stop it", tokenEnv)
	}
	if o.report != "" {
		if _, err := parseRoute("1=" + o.report); err != nil {
			return fmt.Sprintf("--report %q: give the front's HOST:PORT, such as front:65432", o.report)
		}
	}
	for _, r := range o.routes {
		if r.port == o.control {
			return fmt.Sprintf("--control %d: the port is routed too; give the control port a port of its own", o.control)
		}
		if r.port == o.sync.port {
			return fmt.Sprintf("--sync %d: the port is routed too; give the sync port a port of its own", o.sync.port)
		}
	}
	if o.sync.port != 0 && (o.sync.port == o.control || o.sync.port == o.expectPort) {
		return fmt.Sprintf("--sync %d: the port is the control port or the command's; give the sync port a port of its own", o.sync.port)
	}
	return ""
}

// prepare waits for the --wait targets and runs the prestart command; a
// status other than 0 says the command is not to run, and why.
func (o options) prepare(what string, sigs <-chan os.Signal, logger *log.Logger) (int, string) {
	if len(o.waits) > 0 {
		done := make(chan error, 1)
		go func() { done <- waitAll(o.waits, o.waitTimeout) }()
		select {
		case err := <-done:
			if err != nil {
				why := fmt.Sprintf("%s did not start: %v; that service's log says why it is not up", what, err)
				logger.Print(why)
				return 1, why
			}
		case sig := <-sigs:
			logger.Printf("%s while waiting for %s", sig, o.waits.String())
			return 128 + int(sig.(syscall.Signal)), ""
		}
	}
	if o.prestart != "" {
		cmd := exec.Command("sh", "-c", o.prestart)
		cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
		if err := cmd.Run(); err != nil {
			code := 1
			var exit *exec.ExitError
			if errors.As(err, &exit) && exit.ExitCode() > 0 {
				code = exit.ExitCode()
			}
			why := fmt.Sprintf("%s did not start: the prestart command exited %d", what, code)
			logger.Print(why)
			return code, why
		}
	}
	return 0, ""
}

// stop asks for the command to be stopped, saying why. The first reason
// stops it; later ones add nothing.
func stop(stops chan<- string, why string) {
	select {
	case stops <- why:
	default:
	}
}
