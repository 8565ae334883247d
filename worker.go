package main

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"dagger/commandcenter/internal/check"
	"dagger/commandcenter/internal/contract"
	"dagger/commandcenter/internal/dagger"
)

// WorkerSettings are a process run from the backend's image next to it: a
// Celery worker or beat, an RQ or arq worker.
type WorkerSettings struct {
	Name    string
	Command string
	// Port it serves, such as flower's 5555; 0: none.
	Port int
}

// WithWorker adds a process run from the backend's image: a Celery worker
// or beat, an RQ or arq worker. It gets the backend's connections, env
// (with-env --service=backend, or its own name) and persistent folders,
// waits for Postgres and Redis as the backend does, and runs in the Stack
// next to the backend; worker runs it alone.
func (m *Commandcenter) WithWorker(
	// Name of the worker, in logs and in with-env --service: lowercase
	// letters, digits and dashes.
	name string,
	// Command it runs, with sh, from the backend's folder: such as
	// "celery -A app.worker worker --loglevel=INFO".
	command string,
	// Port the worker serves, such as a Celery UI's (flower, 5555): forwarded
	// in the Stack, which is ready once it answers there.
	// +optional
	port int,
) (*Commandcenter, error) {
	if err := check.ServiceName(name, "with-worker --name"); err != nil {
		return nil, err
	}
	if port != 0 {
		if err := check.Port(port, "with-worker --port"); err != nil {
			return nil, err
		}
	}
	if strings.TrimSpace(command) == "" {
		return nil, fmt.Errorf("with-worker %s: the command is empty: give the command the worker runs, such as --command=\"celery -A app.worker worker\"", name)
	}
	for _, w := range m.Workers {
		if w.Name == name {
			return nil, fmt.Errorf("with-worker: there is a worker named %q already: give this one another name", name)
		}
	}
	m.Workers = append(m.Workers, WorkerSettings{Name: name, Command: command, Port: port})
	return m, nil
}

// stackNames are the names of the Stack's own services, which a worker or
// a service of with-service cannot take.
var stackNames = []string{"postgres", "redis", "backend", "frontend", "stack"}

func (m *Commandcenter) checkWorkers() error {
	for _, w := range m.Workers {
		if slices.Contains(stackNames, w.Name) {
			return fmt.Errorf("with-worker: %q is the name of one of the stack's services: give the worker another name", w.Name)
		}
	}
	return nil
}

// worker is one of the project's workers on img, a backendImage: started
// by the launcher, or, in an image of the project's Dockerfile, by the
// supervisor once Postgres and Redis are ready.
func (m *Commandcenter) worker(img builtImage, w WorkerSettings, l links, env environment) service {
	s := m.appProcess(img, w.Name, l, env.forService(w.Name, true))
	if w.Port != 0 {
		s.port = w.Port
		s.health = []contract.HealthCheck{{Name: w.Name, Target: fmt.Sprintf("127.0.0.1:%d", w.Port)}}
	}
	if img.docker != nil {
		s.args = shell(w.Command)
	} else {
		s.args = append([]string{"python", launcherPath}, shell(w.Command)...)
	}
	return m.live(s, img.sync)
}

// findWorker returns the worker called name.
func (m *Commandcenter) findWorker(name string) (WorkerSettings, error) {
	var names []string
	for _, w := range m.Workers {
		if w.Name == name {
			return w, nil
		}
		names = append(names, w.Name)
	}
	if len(names) == 0 {
		return WorkerSettings{}, fmt.Errorf("worker %q: the project has no workers: add one with with-worker", name)
	}
	return WorkerSettings{}, fmt.Errorf("worker %q: the project has no worker of that name (it has %s)", name, strings.Join(names, ", "))
}

// Worker starts one of the project's workers alone (with-worker), bound to
// the project's Postgres and Redis as the backend is, serving its port if
// it has one (with-worker --port); `up` runs it until it ends or you stop
// it.
func (m *Commandcenter) Worker(
	ctx context.Context,
	// The project's source folder.
	// +ignore=[".git", "**/node_modules", "**/.venv", "**/__pycache__", "**/.pytest_cache", "**/.mypy_cache", "**/dist", "**/.next"]
	src *dagger.Directory,
	// Name of the worker (with-worker --name).
	name string,
) (*dagger.Service, error) {
	if err := m.checkSettings(); err != nil {
		return nil, fmt.Errorf("worker: %w", err)
	}
	w, err := m.findWorker(name)
	if err != nil {
		return nil, err
	}
	r, err := m.prepare(ctx, src, needs{postgres: true, backend: true})
	if err != nil {
		return nil, err
	}
	wk := m.worker(r.backend, w, m.projectLinks(boundPeers), r.env)
	wk.ctr = m.bind(wk.ctr, "postgres", boundPeers.postgres, m.run(m.postgres(r.postgres, true), r.supervisor))
	wk.ctr = m.bind(wk.ctr, "redis", boundPeers.redis, m.run(m.redis(true), r.supervisor))
	return m.run(wk, r.supervisor), nil
}
