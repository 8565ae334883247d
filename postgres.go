package main

import (
	"context"
	"fmt"
	"net/url"
	"regexp"

	"dagger/commandcenter/internal/dagger"
	"dagger/commandcenter/internal/spec"
)

const (
	postgresPort = 5432
	pgdata       = "/var/lib/postgresql/data"
)

// postgresCommand runs the image's entry point and turns the engine's SIGTERM
// into SIGINT, Postgres's fast shutdown (the official image's STOPSIGNAL):
// sessions are ended and a checkpoint is written at once, instead of the
// smart shutdown that waits for every client to leave while the next `up`
// waits for the data volume.
const postgresCommand = `docker-entrypoint.sh postgres &
pid=$!
trap 'kill -INT "$pid"' TERM INT
wait "$pid"
trap - TERM INT
wait "$pid"`

var identPattern = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// postgresOpts are the settings of the project's database.
type postgresOpts struct {
	Version  string
	User     string
	Database string
	Password *dagger.Secret
	Init     *dagger.Directory
}

func (o postgresOpts) check() error {
	if !identPattern.MatchString(o.User) {
		return fmt.Errorf("postgres user %q is not allowed: set --user to lowercase letters, digits and underscores (at most 63)", o.User)
	}
	if !identPattern.MatchString(o.Database) {
		return fmt.Errorf("postgres database %q is not allowed: set --database to lowercase letters, digits and underscores (at most 63)", o.Database)
	}
	_, err := spec.ImageRef(postgresImage, postgresTags, o.Version, "--postgres-version")
	return err
}

// Postgres starts a PostgreSQL server as a service on port 5432.
//
// The database is created at first start, with the user, password and init
// scripts given then, and lives in the cache volume
// commandcenter-PROJECT-postgres-VERSION, so it survives the end of `up`.
//
// +cache="session"
func (m *Commandcenter) Postgres(
	ctx context.Context,
	// Major version of PostgreSQL: 15, 16 or 17.
	// +optional
	// +default="17"
	version string,
	// Name of the superuser the server is created with.
	// +optional
	// +default="commandcenter"
	user string,
	// Name of the database created at first start.
	// +optional
	// +default="commandcenter"
	database string,
	// Password of the user. Without it, the module generates one for the
	// project and keeps it with the project's data (see urls).
	// +optional
	password *dagger.Secret,
	// SQL (*.sql, *.sql.gz) and shell (*.sh) scripts run once, when the database
	// is created, in name order.
	// +optional
	initScripts *dagger.Directory,
) (*dagger.Service, error) {
	o := postgresOpts{Version: version, User: user, Database: database, Password: password, Init: initScripts}
	if err := o.check(); err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	return m.postgres(ctx, o)
}

func (m *Commandcenter) postgres(ctx context.Context, o postgresOpts) (*dagger.Service, error) {
	return m.postgresService(ctx, o, true)
}

// postgresService runs Postgres with the project's data volume, or, when not
// persistent, with a data directory that goes away with the service.
func (m *Commandcenter) postgresService(ctx context.Context, o postgresOpts, persistent bool) (*dagger.Service, error) {
	ctr, err := m.postgresContainer(ctx, o, persistent)
	if err != nil {
		return nil, err
	}
	return ctr.AsService(dagger.ContainerAsServiceOpts{Args: postgresArgs}), nil
}

// postgresArgs start Postgres in a postgresContainer.
var postgresArgs = []string{"sh", "-c", postgresCommand}

// postgresContainer is the Postgres image set up for the project's database,
// with its port exposed; postgresArgs start the server.
func (m *Commandcenter) postgresContainer(ctx context.Context, o postgresOpts, persistent bool) (*dagger.Container, error) {
	ref, err := spec.ImageRef(postgresImage, postgresTags, o.Version, "--postgres-version")
	if err != nil {
		return nil, err
	}
	password, err := m.passwordOr(ctx, o.Password, "postgres")
	if err != nil {
		return nil, err
	}
	ctr := dag.Container().
		From(ref).
		WithEnvVariable("POSTGRES_USER", o.User).
		WithEnvVariable("POSTGRES_DB", o.Database).
		WithSecretVariable("POSTGRES_PASSWORD", password).
		WithEnvVariable("PGDATA", pgdata).
		WithExposedPort(postgresPort, dagger.ContainerWithExposedPortOpts{Description: "Postgres"})
	if persistent {
		// Locked: one server at a time owns a project's data directory.
		ctr = ctr.WithMountedCache(pgdata, dag.CacheVolume(m.volume("postgres-"+o.Version)),
			dagger.ContainerWithMountedCacheOpts{Sharing: dagger.CacheSharingModeLocked})
	}
	if o.Init != nil {
		ctr = ctr.WithMountedDirectory("/docker-entrypoint-initdb.d", o.Init)
	}
	return ctr, nil
}

// databaseURL is the URL a client reaching the service at host:port uses.
func (m *Commandcenter) databaseURL(ctx context.Context, o postgresOpts, host string, port int) (*dagger.Secret, error) {
	return m.serviceURL(ctx, "postgres", o.Password, url.URL{Scheme: "postgresql", Path: "/" + o.Database}, o.User, host, port)
}
