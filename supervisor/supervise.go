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

// supervise runs command, passes sigs on to it (and to the also
// processes) and returns its exit status. A reason on stops (a report, an
// also process that ended, a port the command does not listen on) ends it
// with SIGTERM linger later: the status is then 1, and why says the reason.
func supervise(command []string, what string, linger time.Duration, sigs <-chan os.Signal, stops chan string, also alsoProcesses, logger *log.Logger) (status int, why string) {
	var signaled atomic.Bool
	others, err := startAlso(also, stops, &signaled, logger)
	defer endAll(others, 10*time.Second)
	if err != nil {
		logger.Print(err)
		return 127, ""
	}
	cmd := exec.Command(command[0], command[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	if err := cmd.Start(); err != nil {
		logger.Printf("cannot run %s: %v", command[0], err)
		return 127, ""
	}
	done := make(chan struct{})
	stopped := make(chan string, 1)
	go func() {
		var stopAt <-chan time.Time
		for {
			select {
			case sig := <-sigs:
				signaled.Store(true)
				_ = cmd.Process.Signal(sig)
				for _, o := range others {
					_ = o.Process.Signal(sig)
				}
			case reason := <-stops:
				logger.Printf("%s: stopping %s in %s", reason, what, linger)
				stopped <- reason
				stops = nil
				stopAt = time.After(linger)
			case <-stopAt:
				_ = cmd.Process.Signal(syscall.SIGTERM)
			case <-done:
				return
			}
		}
	}()
	err = cmd.Wait()
	close(done)
	select {
	case reason := <-stopped:
		return 1, reason
	default:
	}
	if err != nil && statusOf(err) == 1 && !errors.As(err, new(*exec.ExitError)) {
		logger.Printf("%s: %v", command[0], err)
	}
	return statusOf(err), ""
}
