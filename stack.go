package main

import (
	"context"
	"crypto/sha256"
	"fmt"
	"strconv"

	"golang.org/x/sync/errgroup"

	"dagger/commandcenter/internal/dagger"
	"dagger/commandcenter/internal/spec"
)

// Stack starts Postgres, Redis, the backend and the frontend together as one
// service that listens on 5432 (Postgres), 6379 (Redis), the backend's port
// (8000) and the frontend's port (3000), so that `up --ports` forwards any of
// them to the host:
//
//	dagger call stack --src=. up --ports 15000:5432,15001:6379,15002:8000,15003:3000
//
// The service is the Postgres container, which serves 5432 itself, with a
// small forwarder next to Postgres that sends the other three ports on to
// Redis, the backend and the frontend. The four start at once. The backend
// reaches Postgres and Redis, and the frontend the backend, by hostnames of
// the session given in DATABASE_URL, REDIS_URL and BACKEND_URL; the backend
// waits until Postgres takes logins and Redis has loaded its data before its
// prestart command and server start. The service is ready, and `up`
// forwards its ports, once all four answer. When one of the four ends (a
// failed prestart command, a crash), the Stack stops, and its output names
// the service.
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
	// Port of the backend, in the stack and on the Stack's service.
	// +optional
	// +default=8000
	backendPort int,
	// Command that runs the backend server instead of uvicorn.
	// +optional
	backendCommand []string,
	// Shell command run just before the backend starts (migrations, seed data).
	// +optional
	prestart string,
	// Port of the frontend, in the stack and on the Stack's service.
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
	if err := spec.Ports(
		spec.PortUse{Port: postgresPort, Option: "Postgres (5432)"}, spec.PortUse{Port: redisPort, Option: "Redis (6379)"},
		spec.PortUse{Port: backendPort, Option: "--backend-port"}, spec.PortUse{Port: frontendPort, Option: "--frontend-port"},
		spec.PortUse{Port: stackControlPort, Option: "the Stack's control port (65432)"},
	); err != nil {
		return nil, fmt.Errorf("stack: %w", err)
	}

	// The lookups and builds the services need are independent: the
	// generated passwords (an exec), the backend's and frontend's dependency
	// layers, and the forwarder.
	var beCtr, feCtr *dagger.Container
	forward := forwarder()
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
	g.Go(func() error {
		if _, err := forward.Sync(gctx); err != nil {
			return fmt.Errorf("stack: build the port forwarder: %w", err)
		}
		return nil
	})
	if err := g.Wait(); err != nil {
		return nil, err
	}

	// Postgres is the front: a client of the Stack's 5432 talks to Postgres
	// with nothing in between, as it would to the Postgres function's
	// service. Redis, the backend and the frontend are bound to it, and the
	// engine starts them when it starts the front, all at once: their ports
	// skip the engine's health check, which would hold the front back until
	// they answer, and the backend answers only once Postgres, in the front,
	// does. The backend and the frontend reach the others by hostnames of the
	// session; the backend waits for Postgres and Redis itself while its app
	// loads, and the dev server needs the backend only per request. Each of
	// the three tells the front when it ends (stackMember).
	// Hostnames are short (sethostname takes at most 64 characters with the
	// session's domain), and differ between projects.
	projectHash := fmt.Sprintf("%x", sha256.Sum256([]byte(m.Project)))[:10]
	host := func(service string) string { return service + "-" + projectHash }
	pgHost, rdHost, beHost := host("postgres"), host("redis"), host("backend")
	front, err := m.postgresContainer(ctx, pgOpts, true)
	if err != nil {
		return nil, err
	}
	control := fmt.Sprintf("%s:%d", pgHost, stackControlPort)
	member := func(name string) *stackMember { return &stackMember{name: name, forward: forward, front: control} }
	rd, err := m.redis(ctx, rdOpts, member("Redis"))
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
	backend := m.backendService(beCtr, beOpts, backendLinks{
		pgURL: pgURL, rdURL: rdURL,
		wait: []string{fmt.Sprintf("postgres://%s:%d", pgHost, postgresPort), fmt.Sprintf("redis://%s:%d", rdHost, redisPort)},
	}, member("backend")).WithHostname(beHost)
	frontend := m.frontendService(feCtr, feOpts, nil, beHost, backendPort, member("frontend"))

	args := []string{forwardPath, "--control", strconv.Itoa(stackControlPort), "--name", "stack"}
	for _, r := range []struct {
		port    int
		alias   string
		service *dagger.Service
		what    string
	}{
		{redisPort, "redis", rd.WithHostname(rdHost), "Redis"},
		{backendPort, "backend", backend, "backend"},
		{frontendPort, "frontend", frontend, "frontend"},
	} {
		front = front.
			WithServiceBinding(r.alias, r.service).
			WithExposedPort(r.port, dagger.ContainerWithExposedPortOpts{Description: r.what + ", forwarded"})
		args = append(args, "--route", fmt.Sprintf("%d=%s:%d", r.port, r.alias, r.port))
	}
	return front.
		WithFile(forwardPath, forward).
		AsService(dagger.ContainerAsServiceOpts{Args: append(append(args, "--"), postgresArgs...)}).
		WithHostname(pgHost), nil
}

// stackControlPort is where the Stack's front takes the other services'
// reports (see stackMember).
const stackControlPort = 65432

// stackMember is how Redis, the backend or the frontend run in a Stack; nil
// outside one.
type stackMember struct {
	name    string       // in the front's log
	forward *dagger.File // the forwarder
	front   string       // HOST:PORT of the front's control port
}

// serve runs args on ctr as a service listening on port.
//
// Outside a Stack (m is nil) the engine waits for the port to answer before
// it starts what the service is bound to. In a Stack it does not, so that the
// front starts at once (see Stack), and the forwarder runs args and tells the
// front when they end, whatever the reason: the front then stops, and with
// it the Stack, its log naming the service, instead of running on without
// it (the engine does not stop a service when one bound to it ends).
func (m *stackMember) serve(ctr *dagger.Container, port int, args []string) *dagger.Service {
	if m == nil {
		return ctr.WithExposedPort(port).AsService(dagger.ContainerAsServiceOpts{Args: args})
	}
	return ctr.
		WithFile(forwardPath, m.forward).
		WithExposedPort(port, dagger.ContainerWithExposedPortOpts{ExperimentalSkipHealthcheck: true}).
		AsService(dagger.ContainerAsServiceOpts{
			Args: append([]string{forwardPath, "--report", m.front, "--name", m.name, "--"}, args...),
		})
}

// forwardPath is where the forwarder goes in the Stack's front container.
const forwardPath = "/usr/local/bin/commandcenter-forward"

// forwarder builds the Stack's port forwarder from the module's forward
// folder: a static Go program that runs in any image, rebuilt only when its
// source changes.
func forwarder() *dagger.File {
	return dag.Container().
		From(golangImage).
		WithEnvVariable("CGO_ENABLED", "0").
		WithMountedCache("/root/.cache/go-build", dag.CacheVolume("commandcenter-go-build")).
		WithMountedDirectory("/src", dag.CurrentModule().Source().Directory("forward").
			Filter(dagger.DirectoryFilterOpts{Include: []string{"go.mod", "*.go"}, Exclude: []string{"*_test.go"}})).
		WithWorkdir("/src").
		WithExec([]string{"go", "build", "-trimpath", "-ldflags=-s -w", "-o", "/out/commandcenter-forward", "."}).
		File("/out/commandcenter-forward")
}
