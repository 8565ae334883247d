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
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"dagger/commandcenter/internal/check"
	"dagger/commandcenter/internal/contract"
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
	Extras []ExtraSettings
	// +private
	Env []EnvSetting
	// +private
	HostNames []HostNameSetting
	// +private
	Folders []string
	// LiveToken turns live reload on (with-live-reload).
	// +private
	LiveToken *dagger.Secret
	// RestartPolicy is the project's restart policy (New's --restart), and
	// RestartMax how many times it restarts a service.
	// +private
	RestartPolicy string
	// +private
	RestartMax int
	// KeyID names the project's volumes for its key (New's --key): a
	// digest of the project and the key, never the key itself.
	// +private
	KeyID string
}

// New configures the module for one project, with every setting at its
// default; the With* functions change them.
func New(
	ctx context.Context,
	// Name of the project: lowercase letters, digits and dashes. Cache volumes
	// holding its data (database, Redis, generated passwords, persistent
	// folders) are named after it, so two projects with different names never
	// share data.
	// +optional
	// +default="commandcenter"
	project string,
	// What happens when the backend, a worker or the frontend ends by
	// itself once it was ready: on-failure (started again, with a growing
	// wait, when its exit status is not 0), always, or no (the stack ends,
	// naming it).
	// +optional
	// +default="on-failure"
	restart string,
	// How many times in a row a service is started again before the stack
	// ends.
	// +optional
	// +default=5
	restartMax int,
	// A secret of the project's (16 characters or more, such as
	// env:SHOP_KEY): its data, state and logs are then kept apart from
	// every call without it. A call without the key, or with another one,
	// sees another project of the same name: it cannot read this one's
	// passwords, status or logs, nor restart or stop it.
	// +optional
	key *dagger.Secret,
) (*Commandcenter, error) {
	if err := check.ProjectName(project); err != nil {
		return nil, err
	}
	if _, err := contract.ParseRestart(restart); err != nil || restart == "" {
		return nil, fmt.Errorf("--restart=%s: give on-failure, always or no", restart)
	}
	if restartMax < 1 || restartMax > 100 {
		return nil, fmt.Errorf("--restart-max=%d: give a number from 1 to 100", restartMax)
	}
	keyID, err := projectKeyID(ctx, project, key)
	if err != nil {
		return nil, err
	}
	return &Commandcenter{
		Project:       project,
		KeyID:         keyID,
		Pg:            defaultPostgres(),
		Rd:            defaultRedis(),
		Be:            defaultBackend(),
		Fe:            defaultFrontend(),
		RestartPolicy: restart,
		RestartMax:    restartMax,
	}, nil
}

// projectKeyID is the name the project's volumes carry for its key: ""
// without one.
func projectKeyID(ctx context.Context, project string, key *dagger.Secret) (string, error) {
	if key == nil {
		return "", nil
	}
	plain, err := key.Plaintext(ctx)
	if err != nil {
		return "", fmt.Errorf("--key: %w", err)
	}
	if len(plain) < 16 {
		return "", fmt.Errorf("--key: the key has %d characters: give one of 16 or more (such as env:VAR, with the output of openssl rand -hex 16)", len(plain))
	}
	sum := sha256.Sum256([]byte("commandcenter project key\x00" + project + "\x00" + plain))
	return hex.EncodeToString(sum[:8]), nil
}

// checkSettings checks the settings every service function depends on, so
// that a mistake in one With* call fails before anything starts.
func (m *Commandcenter) checkSettings() error {
	for _, c := range []func() error{m.Pg.check, m.Rd.check, m.Be.check, m.Fe.check, m.checkWorkers, m.checkExtras, m.checkEnv, m.checkHostNames} {
		if err := c(); err != nil {
			return err
		}
	}
	return nil
}
