package main

import (
	"errors"
	"fmt"
	"log"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// alsoProcess is a process the supervisor runs next to the command
// (--also NAME=COMMAND, run with sh): in the Stack's front, Redis next to
// Postgres. When it ends, the command is stopped as by a report; when the
// command ends, it is stopped.
type alsoProcess struct {
	name, command string
}

type alsoProcesses []alsoProcess

func (as *alsoProcesses) String() string {
	parts := make([]string, len(*as))
	for i, a := range *as {
		parts[i] = a.name
	}
	return strings.Join(parts, ",")
}

func (as *alsoProcesses) Set(s string) error {
	name, command, ok := strings.Cut(s, "=")
	if !ok || !namePattern.MatchString(name) || strings.TrimSpace(command) == "" {
		return fmt.Errorf("--also %q: want NAME=COMMAND, such as redis=\"redis-server --port 6379\"", s)
	}
	*as = append(*as, alsoProcess{name: name, command: command})
	return nil
}

// startAlso starts the processes of also; when one ends by itself, the
// reason goes to stops.
func startAlso(also alsoProcesses, stops chan<- string, signaled *atomic.Bool, logger *log.Logger) ([]*exec.Cmd, error) {
	var cmds []*exec.Cmd
	for _, a := range also {
		cmd := exec.Command("sh", "-c", a.command)
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		if err := cmd.Start(); err != nil {
			return cmds, fmt.Errorf("cannot run %s: %v", a.name, err)
		}
		cmds = append(cmds, cmd)
		go func() {
			err := cmd.Wait()
			if signaled.Load() {
				return // stopped with the rest
			}
			stop(stops, fmt.Sprintf("%s ended (exit status %d)", a.name, statusOf(err)))
		}()
	}
	return cmds, nil
}

// endAll stops processes with SIGTERM, and SIGKILL those still running
// after grace.
func endAll(cmds []*exec.Cmd, grace time.Duration) {
	for _, c := range cmds {
		_ = c.Process.Signal(syscall.SIGTERM)
	}
	deadline := time.Now().Add(grace)
	for _, c := range cmds {
		for c.ProcessState == nil && syscall.Kill(c.Process.Pid, 0) == nil && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		_ = c.Process.Kill()
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

// restartGrace is how long a restart waits for the command to end after
// SIGTERM before it kills it: a dev server that waits for its clients to
// leave would hold the restart back for as long as they stay.
const restartGrace = 3 * time.Second

// supervise runs command, passes sigs on to it (and to the also
// processes) and returns its exit status. A reason on stops (a report, an
// also process that ended, a port the command does not listen on) ends it
// with SIGTERM linger later, and SIGKILL stopGrace after that (a command
// that lets the signal pass, such as a shell still running Postgres's initdb,
// would otherwise keep the service, and whoever waits for it, up for good):
// the status is then 1, and why says the reason.
//
// A request on restarts (live reload) ends the command's process group
// (SIGTERM, then SIGKILL after restartGrace) and starts it again; its end
// then is not the service's. The request is answered once the new process
// has started, or with why it was not.
func supervise(command []string, what string, linger, stopGrace time.Duration, sigs <-chan os.Signal, stops chan string, also alsoProcesses, restarts <-chan chan error, logger *log.Logger) (status int, why string) {
	var signaled atomic.Bool
	others, err := startAlso(also, stops, &signaled, logger)
	defer endAll(others, 10*time.Second)
	if err != nil {
		logger.Print(err)
		return 127, ""
	}
	// A command that may restart runs in a process group of its own, so
	// that a restart ends what it started too (npm's child, a shell's).
	group := restarts != nil
	start := func() (*exec.Cmd, chan error, error) {
		cmd := exec.Command(command[0], command[1:]...)
		cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: group}
		if err := cmd.Start(); err != nil {
			return nil, nil, err
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		return cmd, exited, nil
	}
	cmd, exited, err := start()
	if err != nil {
		logger.Printf("cannot run %s: %v", command[0], err)
		return 127, ""
	}
	signal := func(sig os.Signal) {
		if group {
			_ = syscall.Kill(-cmd.Process.Pid, sig.(syscall.Signal))
		} else {
			_ = cmd.Process.Signal(sig)
		}
	}
	var (
		stopAt, killAt <-chan time.Time
		killAfter      time.Duration // what killAt waits for, for the log
		reason         string
		restarting     chan error // the request being carried out
	)
	for {
		select {
		case sig := <-sigs:
			signaled.Store(true)
			signal(sig)
			for _, o := range others {
				_ = o.Process.Signal(sig)
			}
		case r := <-stops:
			logger.Printf("%s: stopping %s in %s", r, what, linger)
			reason, stops = r, nil
			stopAt = time.After(linger)
		case <-stopAt:
			signal(syscall.SIGTERM)
			killAfter, killAt = stopGrace, time.After(stopGrace)
		case req := <-restarts:
			if restarting != nil || reason != "" || signaled.Load() {
				req <- errStopping
				continue
			}
			logger.Printf("restarting %s", what)
			restarting = req
			signal(syscall.SIGTERM)
			killAfter, killAt = restartGrace, time.After(restartGrace)
		case <-killAt:
			logger.Printf("%s did not end within %s of SIGTERM: killed", what, killAfter)
			signal(syscall.SIGKILL)
		case err := <-exited:
			if group {
				// What the command left running in its group goes with it.
				_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			}
			if restarting != nil && reason == "" && !signaled.Load() {
				killAt = nil
				cmd, exited, err = start()
				if err != nil {
					restarting <- fmt.Errorf("cannot run %s again: %v", command[0], err)
					logger.Printf("cannot run %s again: %v", command[0], err)
					return 127, ""
				}
				restarting <- nil
				restarting = nil
				continue
			}
			if restarting != nil {
				restarting <- errStopping
			}
			if reason != "" {
				return 1, reason
			}
			if err != nil && statusOf(err) == 1 && !errors.As(err, new(*exec.ExitError)) {
				logger.Printf("%s: %v", command[0], err)
			}
			return statusOf(err), ""
		}
	}
}
