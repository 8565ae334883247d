package main

import (
	"context"
	"fmt"
	"path"
	"strconv"
	"strings"

	"dagger/commandcenter/internal/dagger"
)

// syncPort is where the services take the live-reload watcher's files, and
// where the Stack's front takes them for its members (supervisor/sync.go).
const syncPort = 65433

// syncTokenEnv holds the sync port's token in the containers (the
// supervisor's syncTokenEnv).
const syncTokenEnv = "COMMANDCENTER_SYNC_TOKEN"

// WithLiveReload makes the backend, its workers and the frontend take the
// files a developer saves while they run, on port 65433, from the module's
// watcher (see watcher): the backend and the workers restart, the
// frontend's dev server reloads the page's modules itself, a changed
// requirements file, package.json or lock file installs the dependencies
// in the running container first. Postgres and Redis are left alone.
// Services built from a Dockerfile take no files.
//
// The watcher runs this for you: `commandcenter-watch -- dagger call stack
// --src=. up --ports ...`.
func (m *Commandcenter) WithLiveReload(
	ctx context.Context,
	// Token the watcher's requests carry: whoever has it can change the
	// code the services run. The port is forwarded to every interface of
	// the developer's machine, like the others.
	token *dagger.Secret,
) (*Commandcenter, error) {
	plain, err := token.Plaintext(ctx)
	if err != nil {
		return nil, fmt.Errorf("with-live-reload: read the token: %w", err)
	}
	if len(plain) < 16 {
		return nil, fmt.Errorf("with-live-reload: the token has %d characters: give one of 16 or more (the watcher makes one of 48)", len(plain))
	}
	m.LiveToken = token
	return m, nil
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
	switch {
	case os == "windows":
		return nil, fmt.Errorf("watcher --os=windows: there is no Windows build; run the linux one in WSL 2 (--os=linux), next to the dagger CLI")
	case os != "linux" && os != "darwin":
		return nil, fmt.Errorf("watcher --os=%s: give linux or darwin (macOS)", os)
	case arch != "amd64" && arch != "arm64":
		return nil, fmt.Errorf("watcher --arch=%s: give amd64 or arm64", arch)
	}
	const out = "/out/commandcenter-watch"
	return goBuild("supervisor").
		WithEnvVariable("GOOS", os).
		WithEnvVariable("GOARCH", arch).
		WithExec([]string{"go", "build", "-trimpath", "-ldflags=-s -w -X main.mode=watch", "-o", out, "."}).
		File(out), nil
}

// syncSpec says how a service takes the watcher's files (see
// supervisor/sync.go): where they go, from which folder of the project,
// what never goes, and what runs after a change.
type syncSpec struct {
	// root is the folder the files go to in the container; dir the
	// service's folder in the project's source.
	root, dir string
	ignore    []string
	// deps are files (relative to dir) whose change runs depsRun first.
	deps    []string
	depsRun string
	// run runs after each change (a production build); restart restarts
	// the command after each.
	run     string
	restart bool
}

// syncFlags are the supervisor's flags for a service that takes files.
func (s syncSpec) flags() []string {
	flags := []string{"--sync", strconv.Itoa(syncPort), "--sync-root", s.root, "--sync-dir", s.dir}
	for _, p := range s.ignore {
		flags = append(flags, "--sync-ignore", p)
	}
	for _, d := range s.deps {
		flags = append(flags, "--sync-deps", d)
	}
	if s.depsRun != "" {
		flags = append(flags, "--sync-deps-run", s.depsRun)
	}
	if s.run != "" {
		flags = append(flags, "--sync-run", s.run)
	}
	if s.restart {
		flags = append(flags, "--sync-restart")
	}
	return flags
}

// live turns the live-reload settings into s: with a token, s takes the
// watcher's files as spec says; without, s is as it was.
func (m *Commandcenter) live(s service, spec *syncSpec) service {
	if m.LiveToken == nil || spec == nil {
		return s
	}
	s.sync = spec
	s.ctr = s.ctr.
		WithSecretVariable(syncTokenEnv, m.LiveToken).
		WithExposedPort(syncPort, dagger.ContainerWithExposedPortOpts{Description: s.name + " live reload", ExperimentalSkipHealthcheck: true})
	return s
}

// shellLine quotes args for sh.
func shellLine(args []string) string {
	quoted := make([]string, len(args))
	for i, a := range args {
		if a != "" && strings.Trim(a, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:@,+") == "" {
			quoted[i] = a
		} else {
			quoted[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
	}
	return strings.Join(quoted, " ")
}

// installIn is a shell command that copies the changed manifests of the
// service's folder (files, relative to root) to where the dependency
// install ran (at), then runs install there again.
func installIn(root, at string, files []string, install []string) string {
	var copies []string
	for _, f := range files {
		copies = append(copies, fmt.Sprintf("if [ -f %s ]; then cp -f %s %s; fi", shellLine([]string{path.Join(root, f)}), shellLine([]string{path.Join(root, f)}), shellLine([]string{path.Join(at, f)})))
	}
	if root == at {
		copies = nil
	}
	return strings.Join(append(copies, "cd "+shellLine([]string{at}), shellLine(install)), " && ")
}
