package main

import (
	"context"
	"fmt"
	"strings"

	"dagger/tests/internal/dagger"
)

// BadInputFailsBeforeStarting: each bad input fails when the service is
// asked for, with a message naming the problem and the option that fixes it.
func (m *Tests) BadInputFailsBeforeStarting(ctx context.Context) error {
	noBackend := m.Example.WithoutDirectory("backend")
	noRequirements := m.Example.WithoutFile("backend/requirements.txt")
	badRequirements := m.Example.WithNewFile("backend/requirements.txt", "fastapi\nthis is not a requirement\n")
	noDevScript := m.Example.WithNewFile("frontend/package.json", `{"name": "x", "scripts": {"build": "vite build"}}`)
	cc := project("bad-input")
	cases := []struct {
		name string
		svc  func() *dagger.Service
		want []string
	}{
		{"unknown postgres version", func() *dagger.Service {
			return cc.Postgres(dagger.CommandcenterPostgresOpts{Version: "9"})
		}, []string{`version "9"`, "--postgres-version", "15, 16, 17"}},
		{"unknown redis version", func() *dagger.Service {
			return cc.Redis(dagger.CommandcenterRedisOpts{Version: "5"})
		}, []string{`version "5"`, "--redis-version"}},
		{"missing backend folder", func() *dagger.Service {
			return cc.Backend(noBackend)
		}, []string{`no folder "backend"`, "--backend-dir"}},
		{"missing requirements.txt", func() *dagger.Service {
			return cc.Backend(noRequirements)
		}, []string{"no requirements.txt", "--backend-dir"}},
		{"malformed requirements line", func() *dagger.Service {
			return cc.Backend(badRequirements)
		}, []string{"line 2", "this is not a requirement"}},
		{"no dev script", func() *dagger.Service {
			return cc.Frontend(noDevScript)
		}, []string{`no "dev" script`, "--frontend-command"}},
		{"duplicate ports", func() *dagger.Service {
			return cc.Stack(m.Example, dagger.CommandcenterStackOpts{BackendPort: 3000})
		}, []string{"same port", "--backend-port and --frontend-port are all 3000"}},
		{"port out of range", func() *dagger.Service {
			return cc.Backend(m.Example, dagger.CommandcenterBackendOpts{Port: 70000})
		}, []string{"out of range", "--backend-port"}},
		{"bad app reference", func() *dagger.Service {
			return cc.Backend(m.Example, dagger.CommandcenterBackendOpts{App: "main"})
		}, []string{"--app", "MODULE:ATTRIBUTE"}},
		{"frontend folder outside src", func() *dagger.Service {
			return cc.Frontend(m.Example, dagger.CommandcenterFrontendOpts{Dir: "../elsewhere"})
		}, []string{"--frontend-dir"}},
	}
	var failures []string
	for _, c := range cases {
		_, err := c.svc().Endpoint(ctx)
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
