package main

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	"dagger/commandcenter/internal/check"
	"dagger/commandcenter/internal/contract"
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
	Extensions  []string
	Image       string
	Container   *dagger.Container
	// Memory is the server's memory limit in bytes (0: none).
	Memory int64
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
	if _, err := check.ImageRef(postgresImage, postgresTags, s.Version, "with-postgres --version"); err != nil {
		return err
	}
	for _, e := range s.Extensions {
		if !extensionPattern.MatchString(e) {
			return fmt.Errorf("extension %q is not an extension's name: set with-postgres --extensions to names such as vector or postgis", e)
		}
	}
	return nil
}

var extensionPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,62}$`)

// extensionPackages are the Debian packages that make extensions
// available: the official image's apt sources and Debian's own name them
// postgresql-MAJOR-NAME, some under another name.
var extensionPackages = map[string]string{
	"vector":  "pgvector",
	"postgis": "postgis-3",
	"pg_cron": "cron",
}

func (s PostgresSettings) packages() []string {
	var pkgs []string
	for _, e := range s.Extensions {
		name, ok := extensionPackages[e]
		if !ok {
			name = strings.ReplaceAll(e, "_", "-")
		}
		pkgs = append(pkgs, "postgresql-"+s.Version+"-"+name)
	}
	return pkgs
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
	// Extensions to make available, by name (vector, postgis, pg_cron,
	// or NAME for the package postgresql-VERSION-NAME): installed from the
	// image's apt sources unless the image has them. The app creates them
	// (CREATE EXTENSION vector), as in its migrations.
	// +optional
	extensions []string,
	// An image of your own instead of the official postgres image, such as
	// one with PostGIS: it must honour the official image's POSTGRES_*
	// variables and docker-entrypoint.sh, and be PostgreSQL --version.
	// +optional
	image string,
	// A container of your own to run Postgres in (built in your pipeline):
	// as image, and it takes precedence over it.
	// +optional
	container *dagger.Container,
	// Most memory the server's processes may hold together, as compose's
	// mem_limit: 512m, 2g (bytes, k, m or g). The module's supervisor
	// enforces it (see the README's "Memory limits"): over it, the server
	// is ended, and a Stack stops saying why.
	// +optional
	memory string,
) (*Commandcenter, error) {
	if err := setMemory(&m.Pg.Memory, memory, "with-postgres --memory"); err != nil {
		return nil, err
	}
	setIf(&m.Pg.Version, version)
	setIf(&m.Pg.User, user)
	setIf(&m.Pg.Database, database)
	if password != nil {
		m.Pg.Password = password
	}
	if initScripts != nil {
		m.Pg.InitScripts = initScripts
	}
	if len(extensions) > 0 {
		m.Pg.Extensions = extensions
	}
	setIf(&m.Pg.Image, image)
	if container != nil {
		m.Pg.Container = container
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
func (m *Commandcenter) Postgres(ctx context.Context) (*dagger.Service, error) {
	if err := m.checkSettings(); err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	r, err := m.prepare(ctx, nil, needs{postgres: true})
	if err != nil {
		return nil, err
	}
	return m.run(m.postgres(r.postgres, true), r.supervisor), nil
}

// postgresVolume is the kind of the volume that holds the project's database.
func (m *Commandcenter) postgresVolume() string {
	return "postgres-" + m.Pg.Version
}

// postgresImage is the image Postgres runs in: the official one of the
// version, or the project's own (checked to be that version), with the
// extensions' packages installed in a layer of their own.
func (m *Commandcenter) postgresImage(ctx context.Context) (*dagger.Container, error) {
	ref, _ := check.ImageRef(postgresImage, postgresTags, m.Pg.Version, "")
	ctr := dag.Container().From(ref)
	if own := m.Pg.Container; own != nil || m.Pg.Image != "" {
		what := "with-postgres --container"
		if own == nil {
			what = "with-postgres --image " + m.Pg.Image
			own = dag.Container().From(m.Pg.Image)
		}
		out, err := own.WithExec([]string{"postgres", "--version"}).Stdout(ctx)
		if err != nil {
			return nil, fmt.Errorf("%s: `postgres --version` did not run in it (%w): give a Postgres image", what, err)
		}
		if major := postgresMajor(out); major != m.Pg.Version {
			return nil, fmt.Errorf("%s runs PostgreSQL %s, and --version is %s: set --version=%s (it names the project's data volume)", what, major, m.Pg.Version, major)
		}
		ctr = own
	}
	if pkgs := m.Pg.packages(); len(pkgs) > 0 {
		var err error
		ctr, err = installed(ctx, ctr.
			WithEnvVariable("PACKAGES", strings.Join(pkgs, " ")).
			WithExec([]string{"sh", "-c", installPackages}),
			"postgres", "fix with-postgres --extensions (apt's output below says which package it could not install)")
		if err != nil {
			return nil, err
		}
	}
	return ctr, nil
}

// installPackages installs the Debian packages of $PACKAGES that are not
// installed yet, from the image's apt sources.
const installPackages = `set -e
missing=""
for p in $PACKAGES; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
apt-get update -q
DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing
rm -rf /var/lib/apt/lists/*`

// postgresMajor reads the major version from `postgres --version`:
// "postgres (PostgreSQL) 16.4 (Debian 16.4-1.pgdg120+2)" is 16.
func postgresMajor(out string) string {
	fields := strings.Fields(out)
	for i, f := range fields {
		if f == "(PostgreSQL)" && i+1 < len(fields) {
			major, _, _ := strings.Cut(fields[i+1], ".")
			return major
		}
	}
	return "?"
}

// postgres is the project's database server on img, a postgresImage: with
// the project's data volume, which its supervisor locks, or, not
// persistent, with a data folder that goes away with it.
func (m *Commandcenter) postgres(img *dagger.Container, persistent bool) service {
	pgdata := keepPath("postgres")
	ctr := withProgram(img.
		WithEnvVariable("POSTGRES_USER", m.Pg.User).
		WithEnvVariable("POSTGRES_DB", m.Pg.Database).
		WithEnvVariable("PGDATA", pgdata), "postgres.sh", postgresStartPath)
	s := service{name: "postgres", args: []string{postgresStartPath}, port: postgresPort, ready: 65435, memory: m.Pg.Memory,
		env:    []contract.EnvVar{{Name: "POSTGRES_PASSWORD", Value: contract.Placeholder("postgres", false)}},
		health: []contract.HealthCheck{{Name: "postgres", Target: fmt.Sprintf("postgres://127.0.0.1:%d", postgresPort)}}}
	if persistent {
		// One server at a time owns a project's data directory: the
		// supervisor takes its lock before Postgres starts.
		ctr = ctr.WithMountedCache(pgdata, m.volume(m.postgresVolume()))
		s.locks = []string{m.postgresVolume()}
	}
	if m.Pg.InitScripts != nil {
		ctr = ctr.WithMountedDirectory("/docker-entrypoint-initdb.d", m.Pg.InitScripts)
	}
	s.ctr = ctr
	return s
}

// setIf sets *field to value when value is given.
func setIf[T comparable](field *T, value T) {
	var zero T
	if value != zero {
		*field = value
	}
}
