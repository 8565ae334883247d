package supervisor

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"dagger/commandcenter/internal/contract"
)

// upOptions are up's.
type upOptions struct {
	detach   bool
	child    bool // the background half of up -d
	watch    bool
	syncPort int
	timeout  time.Duration
	stopWait time.Duration
	// Automatic snapshots at a clean stop: at most one every
	// snapshotEvery (0: none), the last snapshotKeep kept.
	snapshotEvery time.Duration
	snapshotKeep  int
}

// hostUp is up.
func hostUp(args []string, stdout io.Writer, logger *log.Logger) int {
	fs := flag.NewFlagSet(hostName+" up", flag.ContinueOnError)
	var o upOptions
	fs.BoolVar(&o.detach, "d", false, "run in the background: return once every service is ready (down stops it)")
	fs.BoolVar(&o.child, "detached-child", false, "the background half of -d (set by up -d)")
	fs.BoolVar(&o.watch, "watch", false, "live reload: run the stack under the watcher (see commandcenter-watch)")
	fs.IntVar(&o.syncPort, "sync-port", contract.SyncPort, "with --watch, the host port of the sync port")
	fs.DurationVar(&o.timeout, "timeout", 15*time.Minute, "how long every service may take to be ready (a first start builds images)")
	fs.DurationVar(&o.stopWait, "stop-timeout", 2*time.Minute, "how long a clean stop may take before the stack is killed")
	fs.DurationVar(&o.snapshotEvery, "snapshot-every", time.Hour, "at a clean stop, a snapshot of the project's data when the last is older than this (0: none)")
	fs.IntVar(&o.snapshotKeep, "snapshot-keep", 5, "how many automatic snapshots to keep")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if o.snapshotKeep < 1 {
		logger.Printf("--snapshot-keep=%d: keep 1 or more (--snapshot-every=0 takes none)", o.snapshotKeep)
		return 2
	}
	call, err := parseDaggerCall(fs.Args())
	if err == nil {
		err = call.checkPorts(o.watch)
	}
	if err != nil {
		logger.Print(err)
		return 2
	}
	if o.detach && !o.child {
		return detach(call, args, stdout, logger)
	}
	return keep(call, o, stdout, logger)
}

// expected are the services the command's function runs, by name.
func (c daggerCall) expected() []string {
	switch c.function {
	case "stack":
		names := []string{"postgres", "redis", "backend", "frontend"}
		for i, a := range c.argv {
			if a != "with-worker" {
				continue
			}
			rest := c.argv[i+1:]
			for j, f := range rest {
				if isFunction(f) {
					break
				}
				if n, ok := strings.CutPrefix(f, "--name="); ok {
					names = append(names, n)
				} else if f == "--name" && j+1 < len(rest) {
					names = append(names, rest[j+1])
				}
			}
		}
		return names
	case "backend":
		return []string{"postgres", "redis", "backend"}
	case "frontend":
		return []string{"postgres", "redis", "backend", "frontend"}
	case "worker":
		return []string{"postgres", "redis", c.flagValue("worker", "name")}
	}
	return []string{c.function}
}

// keep runs the dagger command and the project's control service, and
// watches the stack until it ends: the foreground of up, or the background
// of up -d.
func keep(call daggerCall, o upOptions, stdout io.Writer, logger *log.Logger) int {
	start := time.Now()
	rec := runRecord{Project: call.project, Module: call.module(), PID: os.Getpid(), State: "starting",
		Served: call.served(o.watch)}
	for _, p := range call.ports {
		rec.Ports = append(rec.Ports, fmt.Sprintf("%d:%d", p.host, p.container))
	}
	if o.child {
		rec.Log = logFile(call.project)
	}
	writeRecord(rec)
	ctl, err := startControl(call.module(), logger)
	if err != nil {
		logger.Print(err)
		return 1
	}
	defer ctl.stop()
	rec.Control, rec.Token = ctl.base, ctl.token
	writeRecord(rec)

	argv := call.argv
	if o.watch {
		self, err := os.Executable()
		if err != nil {
			logger.Print(err)
			return 1
		}
		argv = append([]string{self, "watch", "--sync-port", strconv.Itoa(o.syncPort), "--"}, argv...)
	}
	child := exec.Command(argv[0], argv[1:]...)
	// In a process group of its own: a Ctrl-C reaches up alone, which stops
	// the stack cleanly before it ends the dagger command (whose own end
	// would kill every service).
	child.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	child.Stdout, child.Stderr = os.Stdout, os.Stderr
	if err := child.Start(); err != nil {
		logger.Printf("cannot run %s: %v", argv[0], err)
		return 127
	}
	exited := make(chan struct{})
	var childErr error
	go func() {
		childErr = child.Wait()
		close(exited)
	}()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	events := make(chan statusReport, 16)
	go followEvents(ctx, ctl, events)
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	signal.Ignore(syscall.SIGHUP)

	had := readDataRecord(call.project)
	var (
		last     statusReport
		ran      bool
		ready    bool
		lost     bool // the project had data, and came up with a new database
		stopping bool
		stopDue  <-chan time.Time
		recheck  <-chan time.Time // the next look at the host ports, until they listen
		deadline = time.After(o.timeout)
		expected = call.expected()
	)
	finish := func(state, message string) {
		rec.State, rec.Message = state, message
		if state == "ended" {
			rec.Control, rec.Token = "", ""
		}
		writeRecord(rec)
	}
	// becomeReady says, once, that the project is up (rep: every service
	// ready, and the host ports listen).
	becomeReady := func(rep statusReport) {
		ready = true
		recheck = nil
		msg := readyLine(call, rep, time.Since(start))
		if slices.Contains(expected, "postgres") {
			created, err := ctl.createdDatabase(start)
			if err != nil {
				logger.Printf("could not read Postgres's log to see whether its database is new: %v", err)
			}
			if lost = created && had.HadData; lost {
				msg += "\n" + lossWarning(call.project, call.module(), had)
			}
			writeDataRecord(dataRecord{Project: call.project, HadData: true, LastReady: time.Now()})
		}
		fmt.Fprintln(stdout, hostName+": "+strings.TrimSpace(msg))
		finish("ready", strings.TrimSpace(msg))
		deadline = nil
	}
	for {
		select {
		case <-exited:
			code := statusOf(childErr)
			if ready || stopping {
				finish("ended", "")
				return code
			}
			why := "the dagger command ended before the stack was ready (exit status " + strconv.Itoa(code) + ")"
			if rep, err := ctl.status(); err == nil {
				if c, _ := ctl.cause(recent(rep, start)); c != "" && c != "the stack ended" {
					why += ": " + c
				}
			}
			logger.Print(why)
			finish("ended", why)
			if code == 0 {
				code = 1
			}
			return code
		case <-recheck:
			recheck = nil
			switch {
			case ready || !allReady(last, expected):
				// A later event starts the looks again.
			case portsListen(call.ports):
				becomeReady(last)
			default:
				recheck = time.After(portRecheck)
			}
		case rep := <-events:
			last = rep
			if rep.Running {
				ran = true
			}
			if !ready && ran && allReady(rep, expected) && recheck == nil {
				// The services are ready; the CLI opens the host ports
				// once the engine has checked them, which may be later.
				// The next event may be long in coming (a health check
				// every 30 s), so the ports are looked at now, and again
				// until they listen.
				recheck = time.After(0)
			}
			if ran && !rep.Running {
				why, asked := ctl.cause(recent(rep, start))
				endGroup(child, exited, 10*time.Second)
				if asked {
					logger.Printf("project %q stopped", call.project)
					// The record says "ended" once the snapshot is taken:
					// until then, the snapshot holds the project's data.
					if lost {
						logger.Printf("no automatic snapshot: this run's database was new and empty, and the snapshots in %s are of the data before", snapshotRoot(call.project))
					} else if ready {
						autoSnapshot(call.project, call.module(), o.snapshotEvery, o.snapshotKeep, logger)
					}
					finish("ended", "stopped")
					return 0
				}
				logger.Printf("project %q ended: %s", call.project, strings.TrimSpace(why))
				finish("ended", why)
				return 1
			}
		case sig := <-sigs:
			if stopping || !ran {
				logger.Printf("%s: ending the dagger command", sig)
				endGroup(child, exited, 10*time.Second)
				finish("ended", "killed")
				return 130
			}
			stopping = true
			logger.Printf("stopping project %q cleanly (Postgres shuts down, Redis writes its data); %s again ends it at once", call.project, sig)
			go func() {
				if _, err := ctl.post(context.Background(), "/stop"); err != nil {
					logger.Printf("the stop was not taken: %v", err)
				}
			}()
			stopDue = time.After(o.stopWait)
		case <-stopDue:
			logger.Printf("the stack did not stop within %s: ending the dagger command", o.stopWait)
			endGroup(child, exited, 10*time.Second)
			finish("ended", "killed after a stop that did not end")
			return 1
		case <-deadline:
			var waiting []string
			for _, name := range expected {
				st := "not started"
				for _, s := range last.Services {
					if s.Name == name {
						st = s.State
					}
				}
				if st != contract.StateReady {
					waiting = append(waiting, name+" ("+st+")")
				}
			}
			why := fmt.Sprintf("not every service was ready within %s (--timeout): %s", o.timeout, strings.Join(waiting, ", "))
			if len(waiting) == 0 {
				var ports []string
				for _, p := range call.ports {
					ports = append(ports, strconv.Itoa(p.host))
				}
				why = fmt.Sprintf("every service was ready, but the host ports %s did not all listen within %s (--timeout): the dagger command's up --ports opens them", strings.Join(ports, ", "), o.timeout)
			}
			logger.Print(why)
			endGroup(child, exited, 10*time.Second)
			finish("ended", why)
			return 1
		}
	}
}

// portRecheck is how often up looks at the host ports once every service
// is ready, until the CLI listens on them.
const portRecheck = 100 * time.Millisecond

// recent is rep with the services of this run only (a service of an
// earlier run keeps its last file).
func recent(rep statusReport, since time.Time) statusReport {
	var keep []contract.ServiceStatus
	for _, s := range rep.Services {
		if t, err := time.Parse(time.RFC3339Nano, s.Run); err != nil || !t.Before(since.Add(-time.Minute)) {
			keep = append(keep, s)
		}
	}
	rep.Services = keep
	return rep
}

// allReady says whether every expected service is ready.
func allReady(rep statusReport, expected []string) bool {
	for _, name := range expected {
		ok := false
		for _, s := range rep.Services {
			if s.Name == name && s.State == contract.StateReady {
				ok = true
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// portsListen says whether every forwarded port takes connections on this
// machine: `up` opens them once the service is ready.
func portsListen(ports []portMap) bool {
	for _, p := range ports {
		c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p.host)), time.Second)
		if err != nil {
			return false
		}
		c.Close()
	}
	return true
}

// readyLine says that the project is up, and where.
func readyLine(call daggerCall, rep statusReport, took time.Duration) string {
	served := call.served(false)
	var where []string
	for _, p := range call.ports {
		name := served[p.container]
		if name == "" {
			name = strconv.Itoa(p.container)
		}
		where = append(where, fmt.Sprintf("%s on localhost:%d", name, p.host))
	}
	msg := fmt.Sprintf("project %q is up in %.1fs", call.project, took.Seconds())
	if len(where) > 0 {
		msg += ": " + strings.Join(where, ", ")
	}
	return msg + " (commandcenter ps, logs -f, restart SERVICE, down)"
}

// status is the project's status now.
func (c *control) status() (statusReport, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var rep statusReport
	res, err := c.get(ctx, "/status")
	if err != nil {
		return rep, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(res.Body)
		return rep, fmt.Errorf("the control service answered %s: %s", res.Status, strings.TrimSpace(string(b)))
	}
	return rep, json.NewDecoder(res.Body).Decode(&rep)
}

// followEvents passes on the project's status at each change, from the
// control service, connecting again when the connection drops.
func followEvents(ctx context.Context, ctl *control, events chan<- statusReport) {
	for ctx.Err() == nil {
		if err := ctl.waitReady(ctx, time.Hour); err != nil {
			return
		}
		res, err := ctl.get(ctx, "/events")
		if err == nil {
			sc := bufio.NewScanner(res.Body)
			sc.Buffer(make([]byte, 64<<10), 4<<20)
			for sc.Scan() {
				var rep statusReport
				if json.Unmarshal(sc.Bytes(), &rep) == nil {
					select {
					case events <- rep:
					case <-ctx.Done():
						res.Body.Close()
						return
					}
				}
			}
			res.Body.Close()
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// logFile is where a detached up writes the dagger command's output.
func logFile(project string) string {
	return filepath.Join(stateHome(), "projects", project+".up.log")
}

// detach starts up again in the background, in a session of its own, and
// returns once its record says the stack is ready, or ended.
func detach(call daggerCall, args []string, stdout io.Writer, logger *log.Logger) int {
	self, err := os.Executable()
	if err != nil {
		logger.Print(err)
		return 1
	}
	if r, ok := runningUp(call.project); ok {
		logger.Printf("project %q is up already on this machine (commandcenter up, process %d): commandcenter down stops it", call.project, r.PID)
		return 1
	}
	if err := os.MkdirAll(filepath.Dir(logFile(call.project)), 0o700); err != nil {
		logger.Print(err)
		return 1
	}
	out, err := os.OpenFile(logFile(call.project), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		logger.Print(err)
		return 1
	}
	defer out.Close()
	childArgs := []string{"up", "--detached-child"}
	for _, a := range args {
		if a != "-d" && a != "--d" && a != "-d=true" {
			childArgs = append(childArgs, a)
		}
	}
	// Not a stale record of an earlier run: the child writes a new one.
	_ = os.Remove(recordFile(call.project))
	cmd := exec.Command(self, childArgs...)
	cmd.Env = append(os.Environ(), "COMMANDCENTER_HOST_MODE=1")
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		logger.Print(err)
		return 1
	}
	pid := cmd.Process.Pid
	_ = cmd.Process.Release()
	logger.Printf("starting project %q in the background (process %d; its output: %s)", call.project, pid, logFile(call.project))
	for {
		time.Sleep(200 * time.Millisecond)
		r, ok := readRecord(call.project)
		if ok && r.PID == pid {
			switch r.State {
			case "ready":
				fmt.Fprintln(stdout, hostName+": "+r.Message)
				return 0
			case "ended":
				logger.Printf("project %q did not come up: %s", call.project, r.Message)
				return 1
			}
		}
		if !processAlive(pid) {
			logger.Printf("the background up ended before the stack was ready: see %s", logFile(call.project))
			return 1
		}
	}
}

// processAlive says whether process pid runs (and is not a zombie).
func processAlive(pid int) bool {
	if pid <= 0 || syscall.Kill(pid, 0) != nil {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true // no /proc (macOS): kill(0) said it runs
	}
	fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
	return len(fields) == 0 || fields[0] != "Z"
}
