package main

import (
	"context"
	"fmt"
	"strings"

	"dagger/tests/internal/dagger"
)

// BadInputFailsBeforeStarting: each bad input fails when the service is
// asked for, with a message naming the problem and the option that fixes it.
//
// +cache="never"
func (m *Tests) BadInputFailsBeforeStarting(ctx context.Context) error {
	noBackend := m.Example.WithoutDirectory("backend")
	noRequirements := m.Example.WithoutFile("backend/requirements.txt")
	badRequirements := m.Example.WithNewFile("backend/requirements.txt", "fastapi\nthis is not a requirement\n")
	noDevScript := m.Example.WithNewFile("frontend/package.json", `{"name": "x", "scripts": {"build": "vite build"}}`)
	cc := project("bad-input")
	brokenLock := m.Example.WithNewFile("frontend/package-lock.json", `{"name": "broken", "lockfileVersion": 3, "packages": {"": {"dependencies": {"no-such-package-commandcenter": "9.9.9"}}}}`)
	cases := []struct {
		name  string
		svc   func() *dagger.Service
		want  []string
		start bool // the problem shows only when the service starts
	}{
		{"unknown postgres version", func() *dagger.Service {
			return cc.Postgres(dagger.CommandcenterPostgresOpts{Version: "9"})
		}, []string{`version "9"`, "--postgres-version", "15, 16, 17"}, false},
		{"unknown redis version", func() *dagger.Service {
			return cc.Redis(dagger.CommandcenterRedisOpts{Version: "5"})
		}, []string{`version "5"`, "--redis-version"}, false},
		{"missing backend folder", func() *dagger.Service {
			return cc.Backend(noBackend)
		}, []string{`no folder "backend"`, "--backend-dir"}, false},
		{"missing requirements.txt", func() *dagger.Service {
			return cc.Backend(noRequirements)
		}, []string{"no requirements.txt", "--backend-dir"}, false},
		{"malformed requirements line", func() *dagger.Service {
			return cc.Backend(badRequirements)
		}, []string{"line 2", "this is not a requirement"}, false},
		{"no dev script", func() *dagger.Service {
			return cc.Frontend(noDevScript)
		}, []string{`no "dev" script`, "--frontend-command"}, false},
		{"duplicate ports", func() *dagger.Service {
			return cc.Stack(m.Example, dagger.CommandcenterStackOpts{BackendPort: 3000})
		}, []string{"same port", "--backend-port and --frontend-port are all 3000"}, false},
		{"port out of range", func() *dagger.Service {
			return cc.Backend(m.Example, dagger.CommandcenterBackendOpts{Port: 70000})
		}, []string{"out of range", "--backend-port"}, false},
		{"bad app reference", func() *dagger.Service {
			return cc.Backend(m.Example, dagger.CommandcenterBackendOpts{App: "main"})
		}, []string{"--app", "MODULE:ATTRIBUTE"}, false},
		{"frontend folder outside src", func() *dagger.Service {
			return cc.Frontend(m.Example, dagger.CommandcenterFrontendOpts{Dir: "../elsewhere"})
		}, []string{"--frontend-dir"}, false},
		{"backend that crashes at start", func() *dagger.Service {
			return cc.Backend(m.Example, dagger.CommandcenterBackendOpts{
				Prestart: "echo 'migration failed: no such table' >&2; exit 3",
			})
		}, []string{"exit code: 3"}, true},
		{"frontend whose install fails", func() *dagger.Service {
			return cc.Frontend(brokenLock)
		}, []string{"`npm ci --no-audit --no-fund` failed", "are in sync", "fix frontend/package.json or its lock file"}, false},
	}
	var failures []string
	for _, c := range cases {
		var err error
		if c.start {
			_, err = c.svc().Start(ctx)
		} else {
			_, err = c.svc().Endpoint(ctx)
		}
		if err == nil {
			failures = append(failures, c.name+": no error")
			continue
		}
		for _, want := range c.want {
			if !strings.Contains(err.Error(), want) {
				failures = append(failures, fmt.Sprintf("%s: error does not say %q: %v", c.name, want, err))
			}
		}
	}
	// An empty project name is refused by the constructor.
	_, err := dag.Commandcenter(dagger.CommandcenterOpts{Project: "Not Valid"}).Postgres().Endpoint(ctx)
	if err == nil || !strings.Contains(err.Error(), "--project") {
		failures = append(failures, fmt.Sprintf("bad project name: %v, want an error naming --project", err))
	}
	if len(failures) > 0 {
		return fmt.Errorf("%d of %d bad inputs: %s", len(failures), len(cases)+1, strings.Join(failures, "; "))
	}
	return nil
}
