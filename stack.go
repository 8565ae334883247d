package main

import (
	"context"
	"crypto/sha256"
	"fmt"

	"golang.org/x/sync/errgroup"

	"dagger/commandcenter/internal/dagger"
	"dagger/commandcenter/internal/spec"
)

// Stack starts Postgres, Redis, the backend and the frontend together as one
// service: a TCP proxy bound to the four of them, listening on 5432 (Postgres),
// 6379 (Redis), the backend's port (8000) and the frontend's port (3000), so
// that `up --ports` forwards any of them to the host:
//
//	dagger call stack --src=. up --ports 15000:5432,15001:6379,15002:8000,15003:3000
//
// The four start at once. The backend reaches Postgres and Redis, and the
// frontend the backend, by hostnames of the session given in DATABASE_URL,
// REDIS_URL and BACKEND_URL; the backend waits until Postgres takes logins
// and Redis has loaded its data before its prestart command and server start.
//
// +cache="session"
func (m *Commandcenter) Stack(
	ctx context.Context,
	// The project's source folder, with the backend and frontend folders.
	src *dagger.Directory,
	// Folder of the backend inside src, with requirements.txt.
	// +optional
	// +default="backend"
	backendDir string,
	// Folder of the frontend inside src, with package.json.
	// +optional
	// +default="frontend"
	frontendDir string,
	// Major version of PostgreSQL: 15, 16 or 17.
	// +optional
	// +default="17"
	postgresVersion string,
	// Major version of Redis: 8.
	// +optional
	// +default="8"
	redisVersion string,
	// Python version of the backend: 3.11, 3.12, 3.13 or 3.14.
	// +optional
	// +default="3.13"
	pythonVersion string,
	// Major version of Node.js for the frontend: 22 or 24.
	// +optional
	// +default="24"
	nodeVersion string,
	// Name of the Postgres superuser.
	// +optional
	// +default="commandcenter"
	user string,
	// Name of the database.
	// +optional
	// +default="commandcenter"
	database string,
	// Postgres password; without it the project's generated one (see urls).
	// +optional
	postgresPassword *dagger.Secret,
	// Redis password; without it the project's generated one (see urls).
	// +optional
	redisPassword *dagger.Secret,
	// SQL and shell scripts run once, when the database is created.
	// +optional
	initScripts *dagger.Directory,
	// ASGI application the backend serves, as MODULE:ATTRIBUTE.
	// +optional
	// +default="app.main:app"
	app string,
	// Port of the backend, in the stack and on the proxy.
	// +optional
	// +default=8000
	backendPort int,
	// Command that runs the backend server instead of uvicorn.
	// +optional
	backendCommand []string,
	// Shell command run just before the backend starts (migrations, seed data).
	// +optional
	prestart string,
	// Port of the frontend, in the stack and on the proxy.
	// +optional
	// +default=3000
	frontendPort int,
	// Command that serves the frontend instead of "npm run dev".
	// +optional
	frontendCommand []string,
) (*dagger.Service, error) {
	pgOpts := postgresOpts{Version: postgresVersion, User: user, Database: database, Password: postgresPassword, Init: initScripts}
	rdOpts := redisOpts{Version: redisVersion, Password: redisPassword, Persist: true}
	beOpts := backendOpts{Dir: backendDir, Version: pythonVersion, App: app, Port: backendPort, Command: backendCommand, Prestart: prestart}
	feOpts := frontendOpts{Dir: frontendDir, Version: nodeVersion, Port: frontendPort, Command: frontendCommand}
	for _, check := range []func() error{pgOpts.check, rdOpts.check, beOpts.check, feOpts.check} {
		if err := check(); err != nil {
			return nil, fmt.Errorf("stack: %w", err)
		}
	}
	routes := []spec.Route{
		{Port: postgresPort, Host: "postgres", Target: postgresPort, Service: "Postgres"},
		{Port: redisPort, Host: "redis", Target: redisPort, Service: "Redis"},
		{Port: backendPort, Host: "backend", Target: backendPort, Service: "backend"},
		{Port: frontendPort, Host: "frontend", Target: frontendPort, Service: "frontend"},
	}
	if err := spec.Ports(
		spec.PortUse{Port: postgresPort, Option: "Postgres (5432)"}, spec.PortUse{Port: redisPort, Option: "Redis (6379)"},
		spec.PortUse{Port: backendPort, Option: "--backend-port"}, spec.PortUse{Port: frontendPort, Option: "--frontend-port"},
	); err != nil {
		return nil, fmt.Errorf("stack: %w", err)
	}

	// The three lookups the services need are independent: the generated
	// passwords (an exec), and the backend's and frontend's dependency layers.
	var beCtr, feCtr *dagger.Container
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return m.withPasswords(gctx, &pgOpts, &rdOpts) })
	g.Go(func() (err error) {
		beCtr, err = m.backendContainer(gctx, src, beOpts)
		return err
	})
	g.Go(func() (err error) {
		feCtr, err = m.frontendContainer(gctx, src, feOpts, frontendScript(feOpts))
		return err
	})
	if err := g.Wait(); err != nil {
		return nil, err
	}

	// Postgres, Redis, the backend and the frontend all start at once, bound
	// to the proxy. The backend and the frontend reach the others by
	// hostnames of the session rather than bindings, which would hold each
	// back until the other is up: the backend waits for Postgres and Redis
	// itself while its app loads, and the dev server needs the backend only
	// per request. Hostnames are short (sethostname takes at most 64
	// characters with the session's domain), and differ between projects.
	projectHash := fmt.Sprintf("%x", sha256.Sum256([]byte(m.Project)))[:10]
	host := func(service string) string { return service + "-" + projectHash }
	pgHost, rdHost, beHost := host("postgres"), host("redis"), host("backend")
	pg, err := m.postgres(ctx, pgOpts)
	if err != nil {
		return nil, err
	}
	rd, err := m.redis(ctx, rdOpts)
	if err != nil {
		return nil, err
	}
	pgURL, err := m.databaseURL(ctx, pgOpts, pgHost, postgresPort)
	if err != nil {
		return nil, err
	}
	rdURL, err := m.redisURL(ctx, rdOpts, rdHost, redisPort)
	if err != nil {
		return nil, err
	}
	pg, rd = pg.WithHostname(pgHost), rd.WithHostname(rdHost)
	backend := m.backendService(beCtr, beOpts, backendLinks{
		pgURL: pgURL, rdURL: rdURL,
		wait: []string{fmt.Sprintf("postgres://%s:%d", pgHost, postgresPort), fmt.Sprintf("redis://%s:%d", rdHost, redisPort)},
	}).WithHostname(beHost)
	frontend := m.frontendService(feCtr, feOpts, nil, beHost, backendPort)

	proxy := dag.Container().
		From(nginxImage).
		WithNewFile("/etc/commandcenter/nginx.conf", spec.ProxyConfig(routes)).
		WithServiceBinding("postgres", pg).
		WithServiceBinding("redis", rd).
		WithServiceBinding("backend", backend).
		WithServiceBinding("frontend", frontend)
	for _, r := range routes {
		proxy = proxy.WithExposedPort(r.Port, dagger.ContainerWithExposedPortOpts{Description: r.Service})
	}
	return proxy.AsService(dagger.ContainerAsServiceOpts{
		Args: []string{"nginx", "-c", "/etc/commandcenter/nginx.conf", "-g", "daemon off;"},
	}), nil
}
