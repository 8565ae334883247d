// A project's dev stack, run by the Dagger engine: Postgres, Redis, a Python
// backend built from its requirements (or pyproject.toml), any workers run
// from the backend's image, and a Node frontend built from package.json,
// each as a service, or all of them behind one service whose ports
// `up --ports` forwards to the host.
//
//	dagger call stack --src=. up --ports 15000:5432,15001:6379,15002:8000,15003:3000
//
// Settings shared by several services are set once with the With* functions,
// read left to right:
//
//	dagger call with-secret-env-file --file=file:.env with-worker --name=worker --command="celery -A app.worker worker" stack --src=. up ...
//
// Data lives in cache volumes named for the project, so it survives the end of
// `up` and two projects never share it. Passwords are secrets: pass your own,
// or let the module generate one per project and keep it with the project's
// data (`dagger call urls` tells them).
package main

import (
	"fmt"

	"dagger/commandcenter/internal/check"
	"dagger/commandcenter/internal/dagger"
)

// Commandcenter runs a project's dev stack on the Dagger engine.
type Commandcenter struct {
	// Name of the project; cache volumes that hold its data are named after it.
	Project string

	// +private
	Pg PostgresSettings
	// +private
	Rd RedisSettings
	// +private
	Be BackendSettings
	// +private
	Fe FrontendSettings
	// +private
	Workers []WorkerSettings
	// +private
	Env []EnvSetting
	// +private
	Folders []string
	// LiveToken turns live reload on (with-live-reload).
	// +private
	LiveToken *dagger.Secret
}

// New configures the module for one project, with every setting at its
// default; the With* functions change them.
func New(
	// Name of the project: lowercase letters, digits and dashes. Cache volumes
	// holding its data (database, Redis, generated passwords, persistent
	// folders) are named after it, so two projects with different names never
	// share data.
	// +optional
	// +default="commandcenter"
	project string,
) (*Commandcenter, error) {
	if err := check.ProjectName(project); err != nil {
		return nil, err
	}
	return &Commandcenter{
		Project: project,
		Pg:      defaultPostgres(),
		Rd:      defaultRedis(),
		Be:      defaultBackend(),
		Fe:      defaultFrontend(),
	}, nil
}

// volume is the cache volume that holds one kind of this project's data.
func (m *Commandcenter) volume(kind string) *dagger.CacheVolume {
	return dag.CacheVolume(m.volumeName(kind))
}

func (m *Commandcenter) volumeName(kind string) string {
	return fmt.Sprintf("commandcenter-%s-%s", m.Project, kind)
}

// keepRoot is where containers mount the cache volumes that hold a project's
// data. Engine GC policies tell them from caches by this path, which the
// engine records when it creates a volume (see the README's "Data that
// lasts"): keep it in one place.
const keepRoot = "/.commandcenter"

// keepPath is where a container mounts the project's volume of one kind.
func keepPath(kind string) string { return keepRoot + "/" + kind }

// checkSettings checks the settings every service function depends on, so
// that a mistake in one With* call fails before anything starts.
func (m *Commandcenter) checkSettings() error {
	for _, c := range []func() error{m.Pg.check, m.Rd.check, m.Be.check, m.Fe.check, m.checkWorkers, m.checkEnv} {
		if err := c(); err != nil {
			return err
		}
	}
	return nil
}
