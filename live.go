package main

import (
	"context"
	"fmt"
	"path"
	"strings"

	"dagger/commandcenter/internal/contract"
	"dagger/commandcenter/internal/dagger"
)

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

// live turns the live-reload settings into s: with a token, s takes the
// watcher's files as spec says; without, s is as it was.
func (m *Commandcenter) live(s service, spec *contract.Sync) service {
	if m.LiveToken == nil || spec == nil {
		return s
	}
	sync := *spec
	sync.Port = contract.SyncPort
	s.sync = &sync
	s.ctr = s.ctr.
		WithSecretVariable(contract.SyncTokenEnv, m.LiveToken).
		WithExposedPort(contract.SyncPort, dagger.ContainerWithExposedPortOpts{Description: s.name + " live reload", ExperimentalSkipHealthcheck: true})
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
