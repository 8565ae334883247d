package supervisor

import (
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"dagger/commandcenter/internal/contract"
)

// A unit is a process the supervisor runs: the command, or a process next
// to it (--also, run with sh: in the Stack's front, Redis next to
// Postgres). Its output passes through the supervisor (output.go).
type unit struct {
	name  string
	argv  []string
	group bool // in a process group of its own, ended with what it started
	outs  outputs
	as    *account // the user it runs as; nil: the supervisor's (root)

	cmd     *exec.Cmd
	exited  chan error    // the end of the process, for whoever waits for it
	done    chan struct{} // closed at the end of the process
	lastPid atomic.Int64  // the process ID of its last start, for other goroutines
}

// pid is the process ID of the unit's last start, 0 before it started.
func (u *unit) pid() int { return int(u.lastPid.Load()) }

// start starts the unit's process; its end comes on u.exited.
func (u *unit) start() error {
	cmd := exec.Command(u.argv[0], u.argv[1:]...)
	cmd.Stdin = os.Stdin
	cmd.SysProcAttr = u.as.credential()
	cmd.SysProcAttr.Setpgid = u.group
	cmd.Env = u.as.environ()
	// The process writes to pipes of its own, which the supervisor reads:
	// its end does not wait for what it left running to close them.
	closers, drained, err := attach(cmd, u.outs)
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		closers()
		return err
	}
	closers()
	u.cmd = cmd
	u.lastPid.Store(int64(cmd.Process.Pid))
	exited, done := make(chan error, 1), make(chan struct{})
	u.exited, u.done = exited, done
	go func() {
		err := cmd.Wait()
		// Its last lines are written before its end is acted on (a
		// crash's cause is in them).
		waitDrained(drained)
		exited <- err
		close(done)
	}()
	return nil
}

// attach gives cmd pipes for its stdout and stderr whose other ends feed
// outs; the returned func closes the supervisor's copies of the child's
// ends, once the child has them, and drained closes once both pipes are
// read to their end.
func attach(cmd *exec.Cmd, outs outputs) (closers func(), drained <-chan struct{}, err error) {
	var ends []*os.File
	var copies sync.WaitGroup
	for _, p := range []struct {
		dst io.Writer
		set **os.File
	}{{outs.out, nil}, {outs.err, nil}} {
		r, w, err := os.Pipe()
		if err != nil {
			for _, e := range ends {
				e.Close()
			}
			return nil, nil, err
		}
		copies.Add(1)
		go func() {
			defer copies.Done()
			_, _ = io.Copy(p.dst, r)
			r.Close()
		}()
		ends = append(ends, w)
	}
	cmd.Stdout, cmd.Stderr = ends[0], ends[1]
	done := make(chan struct{})
	go func() {
		copies.Wait()
		close(done)
	}()
	return func() {
		for _, e := range ends {
			e.Close()
		}
	}, done, nil
}

// drainGrace is how long the end of a process waits for its last output
// when what it started still holds its pipes open.
const drainGrace = time.Second

// waitDrained waits, after a process ended, until its output (attach's
// drained) is read to its end, or drainGrace.
func waitDrained(drained <-chan struct{}) {
	select {
	case <-drained:
	case <-time.After(drainGrace):
	}
}

// signal sends sig to the unit's process, or its group.
func (u *unit) signal(sig syscall.Signal) {
	if u.cmd == nil || u.cmd.Process == nil {
		return
	}
	if u.group {
		_ = syscall.Kill(-u.cmd.Process.Pid, sig)
	} else {
		_ = u.cmd.Process.Signal(sig)
	}
}

// running says whether the unit's process has not ended yet.
func (u *unit) running() bool {
	if u.done == nil {
		return false
	}
	select {
	case <-u.done:
		return false
	default:
		return true
	}
}

func statusOf(err error) int {
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &exit):
		if ws, ok := exit.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal())
		}
		return exit.ExitCode()
	}
	return 1
}

// restartGrace is how long a restart waits for a process to end after
// SIGTERM before it kills it: a dev server that waits for its clients to
// leave would hold the restart back for as long as they stay.
const restartGrace = 3 * time.Second

// alsoGrace is how long the processes next to the command may take to end
// after SIGTERM, once the command has ended.
const alsoGrace = 10 * time.Second

// restartRequest asks for a unit to be restarted (by its name; "" is the
// command): live reload after a change, or the project's restart. The
// answer comes once the new process has started, or says why it did not.
type restartRequest struct {
	name string
	// reload sends the command SIGHUP in place of a restart: it starts its
	// server again itself (contract.Sync.Reload).
	reload bool
	reply  chan error
}

// policy says what happens when the command ends by itself.
type policy struct {
	// restart: "no", "on-failure" (an exit status other than 0) or
	// "always"; at most max times, the n-th after backoff(n).
	restart string
	max     int
}

// backoff is the wait before the n-th restart after a crash (from 1): 1 s,
// 2 s, 4 s, ... at most 30 s.
func backoff(n int) time.Duration {
	d := time.Second << min(n-1, 5)
	return min(d, 30*time.Second)
}

// allows says whether the policy restarts a command that exited with
// status, after restarts restarts.
func (p policy) allows(status, restarts int) bool {
	switch {
	case restarts >= p.max:
		return false
	case p.restart == contract.RestartAlways:
		return true
	case p.restart == contract.RestartOnFailure:
		return status != 0
	}
	return false
}

// supervisor runs the command and the processes next to it.
type supervisor struct {
	what      string
	command   *unit
	also      []*unit
	linger    time.Duration
	stopGrace time.Duration
	policy    policy
	logger    *log.Logger
	// ready comes once the command's service is ready (listens where it
	// should); before that, its end is a failed start, never restarted.
	ready <-chan struct{}
	// started is closed once the command has first started.
	started chan struct{}
	// status hears of every change of state.
	status *recorder
	// checked are the processes next to the command that have a health
	// check: they are ready when it first passes.
	checked map[string]bool
}

// run runs the command and the processes next to it until the command
// ends for good, passing sigs on to them, and returns its exit status. A
// reason on stops (a report, an also process that ended, a port the
// command does not listen on, a stop asked for) ends it with SIGTERM
// linger later, and SIGKILL stopGrace after that (a command that lets the
// signal pass, such as a shell still running Postgres's initdb, would
// otherwise keep the service, and whoever waits for it, up for good): the
// status is then 1, and why says the reason.
//
// A request on restarts ends a unit (SIGTERM, then SIGKILL after
// restartGrace) and starts it again; one with reload sends the running
// command SIGHUP instead, and the command starts its server again itself.
// When the command ends by itself after its service was ready, the policy
// may start it again after a backoff; health failures (unhealthy) end it
// the same way, as a crash.
func (s *supervisor) run(sigs <-chan os.Signal, stops chan string, restarts <-chan restartRequest, unhealthy <-chan string) (status int, why string) {
	signaled := false
	for _, a := range s.also {
		if err := a.start(); err != nil {
			s.logger.Printf("cannot run %s: %v", a.name, err)
			s.endAlso()
			return 127, ""
		}
		s.status.started(a.name, a.cmd.Process.Pid)
		if !s.checked[a.name] {
			s.status.set(a.name, stateReady, "")
		}
	}
	defer s.endAlso()
	if err := s.command.start(); err != nil {
		s.logger.Printf("cannot run %s: %v", s.command.argv[0], err)
		s.status.exited(s.command.name, 127, err.Error())
		return 127, ""
	}
	s.status.started(s.command.name, s.command.cmd.Process.Pid)
	if s.started != nil {
		close(s.started)
	}
	var (
		stopAt, killAt <-chan time.Time
		killAfter      time.Duration // what killAt waits for, for the log
		killWhat       = s.what
		reason         string
		restarting     = map[*unit]*restartRequest{} // restarts being carried out
		crashes        int
		again          <-chan time.Time // a restart after a crash, due then
		isReady        bool
		crashed        string // why the command is being ended as a crash
	)
	ready := s.ready
	alsoExits := make(chan struct {
		u   *unit
		err error
	}, len(s.also))
	watchAlso := func(u *unit) {
		go func(ch chan error) {
			err := <-ch
			alsoExits <- struct {
				u   *unit
				err error
			}{u, err}
		}(u.exited)
	}
	for _, a := range s.also {
		watchAlso(a)
	}
	find := func(name string) *unit {
		if name == "" || name == s.command.name {
			return s.command
		}
		for _, a := range s.also {
			if a.name == name {
				return a
			}
		}
		return nil
	}
	for {
		// The command's end, once per start: a new start makes a new
		// channel, and an end taken leaves this one empty. (Not running()
		// here: the end can come between that check and the select, and
		// would be missed for good.)
		exited := s.command.exited
		select {
		case sig := <-sigs:
			signaled = true
			sg := sig.(syscall.Signal)
			s.command.signal(sg)
			for _, a := range s.also {
				a.signal(sg)
			}
			if again != nil {
				// Between a crash and its restart: nothing to wait for.
				return 128 + int(sg), ""
			}
		case <-ready:
			ready, isReady = nil, true
			s.status.set(s.command.name, stateReady, "")
		case r := <-stops:
			s.logger.Printf("%s: stopping %s in %s", r, s.what, s.linger)
			reason, stops = r, nil
			stopAt = time.After(s.linger)
			for u, req := range restarting {
				req.reply <- errStopping
				delete(restarting, u)
			}
		case <-stopAt:
			if again != nil {
				return 1, reason
			}
			s.command.signal(syscall.SIGTERM)
			killWhat, killAfter, killAt = s.what, s.stopGrace, time.After(s.stopGrace)
		case req := <-restarts:
			u := find(req.name)
			switch {
			case u == nil:
				req.reply <- fmt.Errorf("%s runs no process %q", s.what, req.name)
				continue
			case reason != "" || signaled:
				req.reply <- errStopping
				continue
			case restarting[u] != nil:
				req.reply <- fmt.Errorf("%s is restarting already", u.name)
				continue
			}
			if req.reload && u == s.command && again == nil && u.running() {
				s.logger.Printf("reloading %s (SIGHUP)", u.name)
				if err := u.cmd.Process.Signal(syscall.SIGHUP); err != nil {
					req.reply <- fmt.Errorf("cannot reload %s: %v", u.name, err)
					continue
				}
				s.status.restarted(u.name, u.cmd.Process.Pid, false)
				if isReady {
					s.status.set(u.name, stateReady, "")
				}
				req.reply <- nil
				continue
			}
			s.logger.Printf("restarting %s", u.name)
			s.status.set(u.name, stateRestarting, "asked for")
			restarting[u] = &req
			if u == s.command && again != nil {
				// Waiting to restart after a crash: now.
				again = time.After(0)
				continue
			}
			u.signal(syscall.SIGTERM)
			killWhat, killAfter, killAt = u.name, restartGrace, time.After(restartGrace)
		case why := <-unhealthy:
			if reason != "" || signaled || restarting[s.command] != nil || crashed != "" || !s.command.running() {
				continue
			}
			crashed = why
			s.logger.Printf("%s is unhealthy (%s): ending it as a crash", s.what, why)
			s.command.signal(syscall.SIGTERM)
			killWhat, killAfter, killAt = s.what, restartGrace, time.After(restartGrace)
		case <-killAt:
			s.logger.Printf("%s did not end within %s of SIGTERM: killed", killWhat, killAfter)
			if u := find(killWhat); u != nil && u != s.command {
				u.signal(syscall.SIGKILL)
			} else {
				s.command.signal(syscall.SIGKILL)
			}
		case e := <-alsoExits:
			if s.command.group {
				_ = syscall.Kill(-e.u.cmd.Process.Pid, syscall.SIGKILL)
			}
			if req := restarting[e.u]; req != nil && reason == "" && !signaled {
				delete(restarting, e.u)
				killAt = nil
				if err := e.u.start(); err != nil {
					req.reply <- fmt.Errorf("cannot run %s again: %v", e.u.name, err)
					stop(stops, fmt.Sprintf("%s could not be started again: %v", e.u.name, err))
					continue
				}
				s.status.restarted(e.u.name, e.u.cmd.Process.Pid, false)
				if !s.checked[e.u.name] {
					s.status.set(e.u.name, stateReady, "")
				}
				watchAlso(e.u)
				req.reply <- nil
				continue
			}
			st := statusOf(e.err)
			s.status.exited(e.u.name, st, "")
			if signaled || reason != "" {
				continue // stopped with the rest
			}
			stop(stops, fmt.Sprintf("%s ended (exit status %d)", e.u.name, st))
		case <-again:
			again = nil
			req := restarting[s.command]
			delete(restarting, s.command)
			if err := s.command.start(); err != nil {
				s.logger.Printf("cannot run %s again: %v", s.command.argv[0], err)
				if req != nil {
					req.reply <- err
				}
				s.status.exited(s.command.name, 127, err.Error())
				return 127, ""
			}
			s.status.restarted(s.command.name, s.command.cmd.Process.Pid, req == nil)
			if req != nil {
				req.reply <- nil
			}
			if isReady {
				s.status.set(s.command.name, stateReady, "")
			}
		case err := <-exited:
			if s.command.group {
				// What the command left running in its group goes with it.
				_ = syscall.Kill(-s.command.cmd.Process.Pid, syscall.SIGKILL)
			}
			killAt = nil
			st := statusOf(err)
			if req := restarting[s.command]; req != nil && reason == "" && !signaled {
				again = time.After(0)
				continue
			}
			if reason != "" {
				s.status.exited(s.command.name, st, reason)
				return 1, reason
			}
			if err != nil && st == 1 && !errors.As(err, new(*exec.ExitError)) {
				s.logger.Printf("%s: %v", s.command.argv[0], err)
			}
			if signaled {
				s.status.exited(s.command.name, st, "")
				return st, ""
			}
			how := fmt.Sprintf("exit status %d", st)
			if crashed != "" {
				how, crashed = "unhealthy: "+crashed, ""
			}
			if isReady && s.policy.allows(st, crashes) || crashed != "" && s.policy.allows(1, crashes) {
				crashes++
				wait := backoff(crashes)
				s.logger.Printf("%s ended (%s): restarting it in %s (restart %d of %d)", s.what, how, wait, crashes, s.policy.max)
				s.status.set(s.command.name, stateRestarting, how)
				again = time.After(wait)
				continue
			}
			if isReady && crashes > 0 && crashes >= s.policy.max && st != 0 {
				why := fmt.Sprintf("%s ended (%s) after %d restarts: giving up", s.what, how, crashes)
				s.logger.Print(why)
				s.status.exited(s.command.name, st, why)
				return st, why
			}
			s.status.exited(s.command.name, st, "")
			return st, ""
		}
	}
}

// endAlso stops the processes next to the command: SIGTERM, then SIGKILL
// for those still running after alsoGrace.
func (s *supervisor) endAlso() {
	for _, a := range s.also {
		if a.running() {
			a.signal(syscall.SIGTERM)
		}
	}
	deadline := time.After(alsoGrace)
	for _, a := range s.also {
		if !a.running() {
			continue
		}
		select {
		case <-a.done:
		case <-deadline:
			a.signal(syscall.SIGKILL)
			<-a.done
		}
		code := 0
		if a.cmd.ProcessState != nil {
			code = statusOf(&exec.ExitError{ProcessState: a.cmd.ProcessState})
			if a.cmd.ProcessState.Success() {
				code = 0
			}
		}
		s.status.exited(a.name, code, "stopped with "+s.what)
	}
}
