package main

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"testing"
	"time"

	"dagger/commandcenter/internal/boot"
	"dagger/commandcenter/internal/dagger"
)

// Each call of the module's functions runs its binary in a container of its
// own, with a session of its own on the engine. Dagger v0.19's engine hands
// a function's result back through that session (FunctionCall.returnValue
// writes it into the container), and looks the session up without waiting
// for it. The container's init attaches the session before the function's
// process starts, but the engine registers it on a goroutine of its own: on
// a busy engine the lookup can come first, and the call fails, whatever the
// function did, with "store return value: failed to get requester session:
// session for ... not found" and exit code 2 (dagger/dagger#9557; engines
// that record results on the call itself, dagger/dagger#13319, have no such
// lookup). So before the module's code runs, it waits for its session to be
// known: it reads an empty folder of its container, which needs the same
// lookup, again while the engine does not know the session yet.
func init() {
	if boot.Supervisor || testing.Testing() || os.Getenv("DAGGER_SESSION_PORT") == "" {
		return
	}
	if waited, err := waitForSession(context.Background(), time.Minute); err != nil {
		fmt.Fprintf(os.Stderr, "commandcenter: the engine did not know this call's session after %s: %v\n", waited.Round(time.Millisecond), err)
	} else if waited > 0 {
		fmt.Fprintf(os.Stderr, "commandcenter: waited %s for the engine to know this call's session\n", waited.Round(time.Millisecond))
	}
}

// unknownSession is the engine's error for a session it does not know (yet).
var unknownSession = regexp.MustCompile(`session for "?[0-9a-z]+"? not found|no active session for`)

// waitForSession returns once a read of the function container's files,
// through its session, works; or, after timeout, with the engine's last
// error. Any other error ends the wait at once: the function then runs as
// it would have, and a later call says what is wrong. waited is zero when
// the session was known at the first read.
func waitForSession(ctx context.Context, timeout time.Duration) (waited time.Duration, err error) {
	dir, err := os.MkdirTemp("", "commandcenter-session-")
	if err != nil {
		return 0, nil
	}
	defer os.Remove(dir)
	start := time.Now()
	delay := 10 * time.Millisecond
	for attempt := 0; ; attempt++ {
		// Each read is new (noCache), never an answer the engine kept.
		_, err := dag.Address(dir).Directory(dagger.AddressDirectoryOpts{NoCache: true}).Sync(ctx)
		if err == nil || !unknownSession.MatchString(err.Error()) {
			if attempt == 0 {
				return 0, nil
			}
			return time.Since(start), nil
		}
		if time.Since(start) >= timeout {
			return time.Since(start), err
		}
		time.Sleep(delay)
		delay = min(2*delay, 200*time.Millisecond)
	}
}
