package main

import (
	"context"
	"fmt"
	"strings"

	"dagger/commandcenter/internal/check"
	"dagger/commandcenter/internal/dagger"
)

const postgresPort = 5432

// postgresStartPath is where the program that starts Postgres goes: it
// applies the project's password to an existing database, and stops the
// server fast on SIGTERM (entrypoints/postgres.sh).
const postgresStartPath = "/usr/local/bin/commandcenter-postgres"

// PostgresSettings are the settings of the project's database.
type PostgresSettings struct {
	Version     string
	User        string
	Database    string
	Password    *dagger.Secret
	InitScripts *dagger.Directory
}

func defaultPostgres() PostgresSettings {
	return PostgresSettings{Version: defaultPostgresVersion, User: "commandcenter", Database: "commandcenter"}
}

func (s PostgresSettings) check() error {
	if err := check.Ident(s.User, "user", "with-postgres --user"); err != nil {
		return err
	}
	if err := check.Ident(s.Database, "database", "with-postgres --database"); err != nil {
		return err
	}
	_, err := check.ImageRef(postgresImage, postgresTags, s.Version, "with-postgres --version")
	return err
}

// WithPostgres sets the project's database: its version, user, database,
// password and init scripts. Options not given keep their values (by
// default Postgres 17, user and database "commandcenter", the project's
// generated password, no init scripts).
func (m *Commandcenter) WithPostgres(
	// Major version of PostgreSQL: 15, 16 or 17.
	// +optional
	version string,
	// Name of the superuser the server is created with.
	// +optional
	user string,
	// Name of the database created at first start.
	// +optional
	database string,
	// Password of the user. A database created with another password is
	// given this one at the next start. Without it, the module generates one
	// for the project and keeps it with the project's data (see urls).
	// +optional
	password *dagger.Secret,
	// SQL (*.sql, *.sql.gz) and shell (*.sh) scripts run once, when the
	// database is created, in name order.
	// +optional
	initScripts *dagger.Directory,
) (*Commandcenter, error) {
	setIf(&m.Pg.Version, version)
	setIf(&m.Pg.User, user)
	setIf(&m.Pg.Database, database)
	if password != nil {
		m.Pg.Password = password
	}
	if initScripts != nil {
		m.Pg.InitScripts = initScripts
	}
	if err := m.Pg.check(); err != nil {
		return nil, fmt.Errorf("with-postgres: %w", err)
	}
	return m, nil
}

// Postgres starts the project's PostgreSQL server as a service on port 5432.
//
// The database is created at first start, with the user, password and init
// scripts of with-postgres, and lives in the cache volume
// commandcenter-PROJECT-postgres-VERSION, so it survives the end of `up`.
//
// +cache="session"
func (m *Commandcenter) Postgres(ctx context.Context) (*dagger.Service, error) {
	if err := m.checkSettings(); err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	pw, err := m.openProject(ctx, m.postgresVolume())
	if err != nil {
		return nil, err
	}
	return m.postgres(pw.pg, true).run(nil), nil
}

// postgresVolume is the kind of the volume that holds the project's database.
func (m *Commandcenter) postgresVolume() string {
	return "postgres-" + m.Pg.Version
}

// postgres is the project's database server: with the project's data
// volume, or, not persistent, with a data folder that goes away with it.
func (m *Commandcenter) postgres(pw password, persistent bool) service {
	ref, _ := check.ImageRef(postgresImage, postgresTags, m.Pg.Version, "")
	pgdata := keepPath("postgres")
	ctr := dag.Container().
		From(ref).
		WithEnvVariable("POSTGRES_USER", m.Pg.User).
		WithEnvVariable("POSTGRES_DB", m.Pg.Database).
		WithSecretVariable("POSTGRES_PASSWORD", pw.secret).
		WithEnvVariable("PGDATA", pgdata).
		WithFile(postgresStartPath, entrypoint("postgres.sh"), dagger.ContainerWithFileOpts{Permissions: 0o755})
	if persistent {
		// Locked: one server at a time owns a project's data directory.
		ctr = ctr.WithMountedCache(pgdata, m.volume(m.postgresVolume()),
			dagger.ContainerWithMountedCacheOpts{Sharing: dagger.CacheSharingModeLocked})
	}
	if m.Pg.InitScripts != nil {
		ctr = ctr.WithMountedDirectory("/docker-entrypoint-initdb.d", m.Pg.InitScripts)
	}
	return service{name: "postgres", ctr: ctr, args: []string{postgresStartPath}, port: postgresPort}
}

// checkPassword refuses a password Postgres cannot be given in a statement.
func checkPassword(p password, what string) error {
	if strings.ContainsAny(p.plain, "\n\r\x00") {
		return fmt.Errorf("the %s password has a line break or NUL character: give one without", what)
	}
	return nil
}

// setIf sets *field to value when value is given.
func setIf(field *string, value string) {
	if value != "" {
		*field = value
	}
}
