package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"dagger/commandcenter/internal/dagger"
)

// installed runs a dependency install step now, so that a failure is
// reported by the function that was called, with the installer's own output
// and what to fix, rather than later as a bare exit code when a service starts.
func installed(ctx context.Context, ctr *dagger.Container, what, fix string) (*dagger.Container, error) {
	synced, err := ctr.Sync(ctx)
	if err == nil {
		return synced, nil
	}
	var execErr *dagger.ExecError
	if errors.As(err, &execErr) {
		output := strings.TrimSpace(execErr.Stdout + "\n" + execErr.Stderr)
		return nil, fmt.Errorf("%s: `%s` failed (exit %d): %s\n%s",
			what, strings.Join(execErr.Cmd, " "), execErr.ExitCode, fix, excerpt(output, 20, 15))
	}
	return nil, fmt.Errorf("%s: %w", what, err)
}

// excerpt keeps the first and last lines of a long output: installers say
// what went wrong first and sum up last.
func excerpt(output string, first, last int) string {
	lines := strings.Split(output, "\n")
	if len(lines) <= first+last {
		return output
	}
	return strings.Join(lines[:first], "\n") + "\n[...]\n" + strings.Join(lines[len(lines)-last:], "\n")
}
