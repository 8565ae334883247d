package main

import (
	"context"
	"errors"
	"fmt"
	"regexp"
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
			what, shownCommand(execErr.Cmd), execErr.ExitCode, fix, excerpt(output, 20, 15))
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

// aptPackage is a Debian package name, optionally with =VERSION.
var aptPackage = regexp.MustCompile(`^[a-z0-9][a-z0-9+.-]+(=[A-Za-z0-9.+:~-]+)?$`)

// checkPackages checks the names of a service's Debian packages (the
// option of its with-* function is with, such as with-backend), which go
// into the module's own image, not one built from the service's Dockerfile.
func checkPackages(pkgs []string, build DockerfileSettings, with string) error {
	option := with + " --packages"
	for _, p := range pkgs {
		if !aptPackage.MatchString(p) {
			return fmt.Errorf("%s %q is not a Debian package name: give one name per item, such as libpq-dev (or NAME=VERSION)", option, p)
		}
	}
	if len(pkgs) > 0 && build.Dockerfile != "" {
		return fmt.Errorf("%s installs into the module's own image; a service built from its Dockerfile installs its packages there (RUN apt-get install ...)", option)
	}
	return nil
}

// missingPackage finds the package apt-get could not find in its output.
var missingPackage = regexp.MustCompile(`Unable to locate package (\S+)|Package '?([^' ]+)'? has no installation candidate|Version '[^']+' for '([^']+)' was not found`)

// withPackages installs Debian packages (compiler, headers, C libraries a
// wheel binds to) into ctr in a layer of their own, which the engine keeps
// until the list or the image changes: dependency installs and source
// changes after it never run apt again. A name Debian does not have fails
// here, naming it and the option.
func withPackages(ctx context.Context, ctr *dagger.Container, pkgs []string, what, option string) (*dagger.Container, error) {
	if len(pkgs) == 0 {
		return ctr, nil
	}
	script := "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends " +
		strings.Join(pkgs, " ") + " && rm -rf /var/lib/apt/lists/*"
	synced, err := ctr.WithExec([]string{"sh", "-c", script}).Sync(ctx)
	if err == nil {
		return synced, nil
	}
	var execErr *dagger.ExecError
	if errors.As(err, &execErr) {
		output := strings.TrimSpace(execErr.Stdout + "\n" + execErr.Stderr)
		if m := missingPackage.FindStringSubmatch(output); m != nil {
			name := strings.Join(m[1:], "")
			return nil, fmt.Errorf("%s: %s: the image's Debian release has no package %q; check the name (apt-cache search in the image) and give %s again without it or with the right one", what, option, name, option)
		}
		return nil, fmt.Errorf("%s: %s: apt-get failed (exit %d); its output:\n%s", what, option, execErr.ExitCode, excerpt(output, 10, 15))
	}
	return nil, fmt.Errorf("%s: %s: %w", what, option, err)
}
