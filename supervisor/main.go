// Package supervisor is the program commandcenter-supervisor: it runs the
// processes of a commandcenter project in their containers and holds the
// Stack together.
//
// The module's own binary carries it: run under the name
// commandcenter-supervisor (contract.SupervisorPath, where the module puts
// that binary in every service's container), the module's binary runs Main
// instead of serving the engine (see the module's supervisor.go), so a
// project's first start compiles nothing more than the module. For a
// developer's machine, cmd/commandcenter builds it as the host command or
// the watcher.
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
package supervisor

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
	"strconv"
	"strings"
	"sync"
	"syscall"

	"dagger/commandcenter/internal/contract"
)

const name = "commandcenter-supervisor"

// mode is "watch" in the watcher's build (go build -ldflags
// "-X dagger/commandcenter/supervisor.mode=watch") and "host" in the host
// command's: the program is then commandcenter-watch, or commandcenter,
// whatever its file is called.
var mode = "supervisor"

// Main runs the program on os.Args and exits with its status.
func Main() {
	switch {
	case mode == "host" || filepath.Base(os.Args[0]) == hostName:
		os.Exit(runHost(os.Args[1:], os.Stdout, os.Stderr))
	case mode == "watch" || filepath.Base(os.Args[0]) == watchName:
		os.Exit(runWatch(os.Args[1:], os.Stderr))
	}
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case contract.StaticCommand:
			os.Exit(serveStatic(os.Args[2:], os.Stderr))
		case contract.StatusCommand:
			os.Exit(runStatus(os.Args[2:], os.Stdout, os.Stderr))
		case contract.LogsCommand:
			os.Exit(runLogs(os.Args[2:], os.Stdout, os.Stderr))
		case contract.RequestCommand:
			os.Exit(runRequest(os.Args[2:], os.Stdout, os.Stderr))
		case contract.ControlCommand:
			os.Exit(runControl(os.Args[2:], os.Stderr))
		case "watch":
			os.Exit(runWatch(os.Args[2:], os.Stderr))
		}
	}
	os.Exit(run(os.Args[1:], os.Stderr))
}

// options are the supervisor's: the run the module asked for (its command
// line, see contract.Run), and the tokens of its environment.
type options struct {
	contract.Run
	// token is the Stack's (contract.StackTokenEnv): reports carry it.
	token string
	sync  syncOptions
	// mask hides the project's secrets in the output.
	mask *masker
	// as is the user the command runs as (--user); nil: root.
	as *account
}

// run is the command: it returns the exit status.
func run(args []string, stderr io.Writer) int {
	logger := log.New(stderr, name+": ", 0)
	run, fs, err := contract.Parse(args)
	fs.SetOutput(stderr)
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(stderr, err)
		}
		fmt.Fprintf(stderr, "usage: %s [--route LISTEN=HOST:PORT]... [--control PORT] [--report HOST:PORT] [--name NAME] [--expect-port PORT] [-- COMMAND [ARG...]]\n", name)
		fs.PrintDefaults()
		return 2
	}
	o := options{Run: run, token: os.Getenv(contract.StackTokenEnv)}
	o.sync = syncOptions{Sync: run.Sync, token: os.Getenv(contract.SyncTokenEnv),
		info: syncInfo{Name: run.Name, Dir: run.Sync.Dir, Ignore: run.Sync.Ignore, Deps: run.Sync.Deps, Restart: run.Sync.Restart}}
	if msg := o.check(); msg != "" {
		logger.Print(msg)
		return 2
	}
	if msg := o.sync.check(o.Name, len(o.Command) > 0); msg != "" {
		logger.Print(msg)
		return 2
	}
	what := o.Name
	if what == "" && len(o.Command) > 0 {
		what = o.Command[0]
	}

	if (o.Report != "" || o.Control != 0) && o.token == "" {
		token, err := stackToken(o.Secrets)
		if err != nil {
			logger.Print(err)
			return 1
		}
		o.token = token
	}

	// The project's data first: a run that cannot have it starts nothing.
	held, err := takeLocks(o.State, o.Project, o.logName(), o.Locks)
	if err != nil {
		logger.Print(err)
		if o.Report != "" {
			tell(o.Report, o.token, o.Name, exitInUse, err.Error(), max(o.Wait, o.StartTimeout), logger)
		}
		if errors.As(err, new(inUseError)) {
			return exitInUse
		}
		return 1
	}
	defer closeAll(held)
	pw, err := readPasswords(o.Secrets, contract.Needs(o.Env), o.Folders)
	if err == nil {
		var secrets []string
		if secrets, err = setEnv(o.Env, o.Mask, pw); err == nil {
			o.mask = newMasker(secrets)
		}
	}
	if err != nil {
		logger.Print(err)
		return 1
	}
	// From here on, what the processes and the supervisor say goes through
	// the output (masked, and into the service's log).
	units := o.units(stderr)
	record := o.State
	if o.Quiet {
		record = ""
	}
	rec, err := newRecorder(record, o.Project, unitNames(units), o.ports())
	if err != nil {
		logger.Printf("cannot record the run's status in the state volume: %v", err)
		return 1
	}
	if len(units) > 0 {
		logger.SetOutput(units[0].outs.err)
	}
	if o.User != "" && len(units) > 0 {
		var folders []string
		if o.Secrets != "" {
			// The folders' volumes are mounted beside the secrets volume.
			for _, kind := range o.Folders {
				folders = append(folders, filepath.Join(filepath.Dir(o.Secrets), kind))
			}
		}
		if o.as, err = newAccount(o.User, folders, logger.Printf); err != nil {
			logger.Printf("%s cannot run as user %s: %v", what, o.User, err)
			return 1
		}
		units[0].as = o.as
	}
	defer func() {
		for _, u := range units {
			u.outs.close()
		}
	}()

	// Each route's port is tried now, so that a port another process has
	// fails at once; it opens when its target first answers.
	for _, r := range o.Routes {
		l, err := listenRoute(r)
		if err != nil {
			logger.Print(err)
			return 1
		}
		l.Close()
	}
	stops := make(chan string, 1)
	if o.Control != 0 {
		l, err := net.Listen("tcp", ":"+strconv.Itoa(o.Control))
		if err != nil {
			logger.Printf("cannot listen on control port %d: %v (give --control a free port)", o.Control, err)
			return 1
		}
		go takeReports(l, o.token, stops, logger)
	}
	for _, r := range o.Routes {
		f := &forwarder{target: r.Target, wait: o.Wait, log: logger}
		go f.open(r, o.StartTimeout, stops)
	}
	for _, l := range serveLocal(o.Local, o.Wait, logger) {
		defer l.Close()
	}
	restarts := make(chan restartRequest)
	supervised := make(chan struct{})
	defer close(supervised)
	if o.Sync.Port != 0 {
		l, err := net.Listen("tcp", ":"+strconv.Itoa(o.Sync.Port))
		if err != nil {
			logger.Printf("cannot listen on sync port %d: %v (give --sync a free port)", o.Sync.Port, err)
			return 1
		}
		var restart func(reload bool) error
		if len(o.Command) > 0 && o.Sync.Root != "" {
			restart = func(reload bool) error { return askRestart(restarts, supervised, "", reload) }
		}
		go func() {
			if err := serveSync(l, o.sync, restart, logger); err != nil {
				stop(stops, "the sync port failed: "+err.Error())
			}
		}()
	}
	if record != "" && len(units) > 0 {
		go takeRequests(o.State, what, unitNames(units), restarts, stops, supervised)
	}

	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGQUIT)
	if len(o.Command) == 0 {
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
	status, why := o.prepare(what, units[0].outs, sigs, logger)
	if status == 0 {
		// The command's service is ready once it listens on its port;
		// without one, once its health check first passes, or at once.
		ready := make(chan struct{})
		var once sync.Once
		markReady := func() { once.Do(func() { close(ready) }) }
		checked := map[string]bool{}
		for _, h := range o.Health {
			checked[h.Name] = true
		}
		switch {
		case o.ExpectPort != 0:
			before, _ := listening()
			go watchPort(o.ExpectPort, o.StartTimeout, o.Grace, what, before, units[0].pid, o.as.userID(), stops, ready, logger)
		case !checked[units[0].name]:
			markReady()
		}
		unhealthy := make(chan string, 1)
		commandStarted := make(chan struct{})
		for _, h := range o.Health {
			to, start, pass, every := chan<- string(nil), (<-chan struct{})(closed), func() {}, startInterval
			if h.Name == units[0].name {
				// Checked from its start on: a pass before it would be
				// another process's.
				to, start = unhealthy, commandStarted
				if o.ExpectPort != 0 {
					start = ready
				} else {
					pass = markReady
				}
				if o.ReadyPort != 0 {
					every = readyInterval
				}
			}
			go healthLoop(h.Name, h.Target, o.HealthInterval, every, o.HealthRetries, start, supervised, rec, to, pass)
		}
		if o.Memory > 0 {
			go memoryLoop(o.Memory, units[0].pid, commandStarted, supervised, unhealthy)
		}
		if o.ReadyPort != 0 {
			go openWhenReady(o.ReadyPort, ready, supervised, o.StartTimeout, what, o.readiness(units[0].name), stops, logger)
		}
		sv := &supervisor{what: what, command: units[0], also: units[1:], linger: o.Linger, stopGrace: o.StopGrace,
			policy: policy{restart: o.Restart, max: o.RestartMax}, logger: logger, ready: ready, started: commandStarted, status: rec, checked: checked}
		status, why = sv.run(sigs, stops, restarts, unhealthy)
	} else {
		rec.exited(units[0].name, status, why)
	}
	// A stop asked for reaches the front too: no report to wait on it for.
	// Otherwise the report waits for the front as long as the front may
	// take to start (its members start first, and under load it can come a
	// minute later): the member stays up meanwhile, so that the front still
	// finds it by name.
	if o.Report != "" && why != stopAsked {
		tell(o.Report, o.token, o.Name, status, why, max(o.Wait, o.StartTimeout), logger)
	}
	return status
}

// closed is a channel that is closed.
var closed = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// askRestart asks the supervisor to restart unit name ("" the command),
// or with reload to send it SIGHUP, and waits for its answer.
func askRestart(restarts chan<- restartRequest, supervised <-chan struct{}, name string, reload bool) error {
	reply := make(chan error, 1)
	select {
	case restarts <- restartRequest{name: name, reload: reload, reply: reply}:
		return <-reply
	case <-supervised:
		return errStopping
	}
}

// readiness says what makes the command's service ready, for messages.
func (o options) readiness(command string) string {
	if o.ExpectPort != 0 {
		return fmt.Sprintf("listens on port %d", o.ExpectPort)
	}
	for _, h := range o.Health {
		if h.Name == command {
			return fmt.Sprintf("answers its health check (%s)", h.Target)
		}
	}
	return "starts"
}

// logName is the name of the command's log and status.
func (o options) logName() string {
	if o.LogAs != "" {
		return o.LogAs
	}
	return logName(o.Name, o.Command)
}

// units are the processes of the run: the command, then the ones next to
// it, each with its output (masked, and into its log in the state volume).
func (o options) units(stderr io.Writer) []*unit {
	if len(o.Command) == 0 {
		return nil
	}
	open := func(name string) *serviceLog {
		if o.State == "" || o.Quiet {
			return nil
		}
		l, err := openLog(filepath.Join(o.State, "logs"), name)
		if err != nil {
			fmt.Fprintf(os.Stderr, "%s: cannot open the log of %s in the state volume: %v\n", "commandcenter-supervisor", name, err)
			return nil
		}
		return l
	}
	main := o.logName()
	// A command that may restart runs in a process group of its own, so
	// that a restart ends what it started too (npm's child, a shell's).
	group := o.Sync.Root != "" || o.Restart != contract.RestartNo || o.State != ""
	units := []*unit{{name: main, argv: o.Command, group: group, outs: newOutputs(os.Stdout, stderr, open(main), o.mask)}}
	for _, a := range o.Also {
		units = append(units, &unit{name: a.Name, argv: []string{"sh", "-c", a.Command}, group: true, outs: newOutputs(os.Stdout, stderr, open(a.Name), o.mask)})
	}
	return units
}

func unitNames(units []*unit) []string {
	var names []string
	for _, u := range units {
		names = append(names, u.name)
	}
	return names
}

// ports are the ports the run's processes serve, by name, for their status.
func (o options) ports() map[string]int {
	ports := map[string]int{}
	if o.ExpectPort != 0 {
		ports[o.logName()] = o.ExpectPort
	}
	for _, h := range o.Health {
		if _, ok := ports[h.Name]; ok {
			continue
		}
		if w, err := contract.ParseWaitTarget(strings.TrimPrefix(h.Target, "http://")); err == nil {
			host := w.Addr
			if i := strings.Index(host, "/"); i >= 0 {
				host = host[:i]
			}
			if _, p, err := net.SplitHostPort(host); err == nil {
				ports[h.Name], _ = strconv.Atoi(p)
			}
		}
	}
	return ports
}

// check says what is wrong with the options, or nothing.
func (o options) check() string {
	switch {
	case o.Wait <= 0:
		return fmt.Sprintf("--wait %s: give a positive duration, such as 60s", o.Wait)
	case o.StartTimeout <= 0:
		return fmt.Sprintf("--start-timeout %s: give a positive duration, such as 5m", o.StartTimeout)
	case o.Grace <= 0:
		return fmt.Sprintf("--grace %s: give a positive duration, such as 10s", o.Grace)
	case o.StopGrace <= 0:
		return fmt.Sprintf("--stop-grace %s: give a positive duration, such as 1m", o.StopGrace)
	case o.WaitTimeout <= 0:
		return fmt.Sprintf("--wait-timeout %s: give a positive duration, such as 5m", o.WaitTimeout)
	case (len(o.WaitFor) > 0 || len(o.Resolve) > 0 || o.Prestart != "" || len(o.Also) > 0) && len(o.Command) == 0:
		return "--wait-for, --resolve, --prestart and --also need a command to run, after --"
	case o.Linger < 0:
		return fmt.Sprintf("--linger %s: give a duration of 0 or more, such as 2s", o.Linger)
	case o.Control < 0 || o.Control > 65535:
		return fmt.Sprintf("--control %d: give a port (1-65535)", o.Control)
	case o.ExpectPort < 0 || o.ExpectPort > 65535:
		return fmt.Sprintf("--expect-port %d: give a port (1-65535)", o.ExpectPort)
	case o.ExpectPort != 0 && len(o.Command) == 0:
		return "--expect-port needs a command to run, after --"
	case o.ReadyPort < 0 || o.ReadyPort > 65535:
		return fmt.Sprintf("--ready-port %d: give a port (1-65535)", o.ReadyPort)
	case o.ReadyPort != 0 && len(o.Command) == 0:
		return "--ready-port needs a command to run, after --"
	case o.ReadyPort != 0 && (o.ReadyPort == o.ExpectPort || o.ReadyPort == o.Control || o.ReadyPort == o.Sync.Port):
		return fmt.Sprintf("--ready-port %d: the run uses that port already; give another", o.ReadyPort)
	case (o.Report != "" || o.Name != "") && !contract.NamePattern.MatchString(o.Name):
		return fmt.Sprintf("--name %q: give the service's name, a letter then letters, digits, - or _ (at most 32)", o.Name)
	case o.Report != "" && len(o.Command) == 0:
		return "--report needs a command to run, after --"
	case (o.Report != "" || o.Control != 0) && len(o.token) < 16 && (o.token != "" || o.Secrets == ""):
		return fmt.Sprintf("--report and --control need the Stack's token in %s (16 characters or more), or the project's secrets volume (--secrets), which keeps the project's own, so that only the Stack's own services can stop it", contract.StackTokenEnv)
	}
	if o.Report != "" {
		if err := contract.CheckHostPort(o.Report); err != nil {
			return fmt.Sprintf("--report %q: give the front's HOST:PORT, such as front:65432", o.Report)
		}
	}
	seen := map[int]bool{}
	for _, r := range o.Routes {
		if seen[r.Port] {
			return fmt.Sprintf("--route %s: port %d is routed twice", r, r.Port)
		}
		seen[r.Port] = true
		if r.Port == o.Control {
			return fmt.Sprintf("--control %d: the port is routed too; give the control port a port of its own", o.Control)
		}
		if r.Port == o.Sync.Port {
			return fmt.Sprintf("--sync %d: the port is routed too; give the sync port a port of its own", o.Sync.Port)
		}
	}
	if o.Sync.Port != 0 && (o.Sync.Port == o.Control || o.Sync.Port == o.ExpectPort) {
		return fmt.Sprintf("--sync %d: the port is the control port or the command's; give the sync port a port of its own", o.Sync.Port)
	}
	if why := checkLocal(o); why != "" {
		return why
	}
	return ""
}

// prepare waits for the --wait targets and runs the prestart command; a
// status other than 0 says the command is not to run, and why.
func (o options) prepare(what string, outs outputs, sigs <-chan os.Signal, logger *log.Logger) (int, string) {
	if len(o.Resolve) > 0 || len(o.WaitFor) > 0 {
		done := make(chan error, 1)
		go func() {
			if err := waitNames(o.Resolve, o.WaitTimeout, logger.Printf); err != nil {
				done <- err
				return
			}
			done <- waitAll(o.WaitFor, o.WaitTimeout)
		}()
		select {
		case err := <-done:
			if err != nil {
				why := fmt.Sprintf("%s did not start: %v; that service's log says why it is not up", what, err)
				logger.Print(why)
				return 1, why
			}
		case sig := <-sigs:
			logger.Printf("%s while waiting for %s", sig, strings.TrimSpace(strings.Join(o.Resolve, " ")+" "+waitList(o.WaitFor)))
			return 128 + int(sig.(syscall.Signal)), ""
		}
	}
	if o.Prestart != "" {
		cmd := exec.Command("sh", "-c", o.Prestart)
		cmd.Stdin = os.Stdin
		cmd.SysProcAttr, cmd.Env = o.as.credential(), o.as.environ()
		release, drained, err := attach(cmd, outs)
		if err == nil {
			err = cmd.Start()
			release()
			if err == nil {
				err = cmd.Wait()
				waitDrained(drained)
			}
		}
		if err != nil {
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

// waitList is the targets, for messages.
func waitList(ws []contract.WaitTarget) string {
	parts := make([]string, len(ws))
	for i, w := range ws {
		parts[i] = w.String()
	}
	return strings.Join(parts, " ")
}
