package main

import (
	"errors"
	"log"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// supervise runs command, passes sigs on to it and returns its exit status.
// A reason on stops (a report, a port the command does not listen on) ends
// it with SIGTERM linger later: the status is then 1, and why says the
// reason.
func supervise(command []string, what string, linger time.Duration, sigs <-chan os.Signal, stops <-chan string, logger *log.Logger) (status int, why string) {
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
				_ = cmd.Process.Signal(sig)
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
	err := cmd.Wait()
	close(done)
	select {
	case reason := <-stopped:
		return 1, reason
	default:
	}
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0, ""
	case errors.As(err, &exit):
		if ws, ok := exit.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal()), ""
		}
		return exit.ExitCode(), ""
	default:
		logger.Printf("%s: %v", command[0], err)
		return 1, ""
	}
}
