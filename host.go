package main

import (
	"fmt"

	"dagger/commandcenter/internal/dagger"
)

// The programs for the developer's machine, built from the supervisor's
// source for its system: the host command, commandcenter (up, ps, logs,
// restart, down), and the live-reload watcher, commandcenter-watch.

// Cli builds the host command, commandcenter, for the developer's machine:
// it runs a `dagger call ... up` and watches its stack (up -d, a clean stop
// on Ctrl-C, the cause when it ends), and operates a running one (ps, logs
// -f, restart, down), as docker compose's command does.
//
//	dagger call cli export --path=bin/commandcenter
//	bin/commandcenter up -- dagger call stack --src=. up --ports 15000:5432,15001:6379,15002:8000,15003:3000
func (m *Commandcenter) Cli(
	// Operating system of the machine it runs on: linux or darwin (macOS;
	// on Windows, run the linux one in WSL 2, where dagger runs too).
	// +optional
	// +default="linux"
	os string,
	// Processor of that machine: amd64 or arm64.
	// +optional
	// +default="amd64"
	arch string,
) (*dagger.File, error) {
	return hostProgram("commandcenter", "host", os, arch)
}

// Watcher builds the live-reload watcher, commandcenter-watch, for the
// developer's machine: it runs the `dagger call ... up` it is given with
// with-live-reload, watches the --src folder, and sends each saved file to
// the services that run it.
//
//	dagger call watcher export --path=bin/commandcenter-watch
//	bin/commandcenter-watch -- dagger call stack --src=. up --ports 15000:5432,15001:6379,15002:8000,15003:3000
func (m *Commandcenter) Watcher(
	// Operating system of the machine it runs on: linux or darwin (macOS;
	// on Windows, run the linux one in WSL 2, where dagger runs too).
	// +optional
	// +default="linux"
	os string,
	// Processor of that machine: amd64 or arm64.
	// +optional
	// +default="amd64"
	arch string,
) (*dagger.File, error) {
	return hostProgram("commandcenter-watch", "watch", os, arch)
}

// hostProgram builds the supervisor's program as name, in mode, for os and
// arch.
func hostProgram(name, mode, os, arch string) (*dagger.File, error) {
	switch {
	case os == "windows":
		return nil, fmt.Errorf("--os=windows: there is no Windows build; run the linux one in WSL 2 (--os=linux), next to the dagger CLI")
	case os != "linux" && os != "darwin":
		return nil, fmt.Errorf("--os=%s: give linux or darwin (macOS)", os)
	case arch != "amd64" && arch != "arm64":
		return nil, fmt.Errorf("--arch=%s: give amd64 or arm64", arch)
	}
	out := "/out/" + name
	return goBuild(supervisorSource...).
		WithEnvVariable("GOOS", os).
		WithEnvVariable("GOARCH", arch).
		WithExec([]string{"go", "build", "-trimpath", "-ldflags=-s -w -X dagger/commandcenter/supervisor.mode=" + mode, "-o", out, "./supervisor/cmd/commandcenter"}).
		File(out), nil
}
