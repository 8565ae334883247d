package main

import (
	"fmt"
	"net/url"
	"strconv"

	"dagger/commandcenter/internal/dagger"
)

// The variables a backend or worker reads to reach the project's Postgres
// and Redis (the README's table "What the backend and workers get").
// Passwords, and the URLs that carry them, are secrets.

// postgresVars reach the project's Postgres at host.
func (m *Commandcenter) postgresVars(pw password, host string) []envVar {
	u := url.URL{
		Scheme: m.Be.DatabaseScheme,
		User:   url.UserPassword(m.Pg.User, pw.plain),
		Host:   fmt.Sprintf("%s:%d", host, postgresPort),
		Path:   "/" + m.Pg.Database,
	}
	port := strconv.Itoa(postgresPort)
	return []envVar{
		{name: "DATABASE_URL", secret: newSecret("database-url", u.String())},
		{name: "POSTGRES_HOST", value: host},
		{name: "POSTGRES_PORT", value: port},
		{name: "POSTGRES_USER", value: m.Pg.User},
		{name: "POSTGRES_PASSWORD", secret: pw.secret},
		{name: "POSTGRES_DB", value: m.Pg.Database},
		{name: "PGHOST", value: host},
		{name: "PGPORT", value: port},
		{name: "PGUSER", value: m.Pg.User},
		{name: "PGPASSWORD", secret: pw.secret},
		{name: "PGDATABASE", value: m.Pg.Database},
	}
}

// redisVars reach the project's Redis at host.
func (m *Commandcenter) redisVars(pw password, host string) []envVar {
	u := url.URL{
		Scheme: "redis",
		User:   url.UserPassword("default", pw.plain),
		Host:   fmt.Sprintf("%s:%d", host, redisPort),
		Path:   "/0",
	}
	return []envVar{
		{name: "REDIS_URL", secret: newSecret("redis-url", u.String())},
		{name: "REDIS_HOST", value: host},
		{name: "REDIS_PORT", value: strconv.Itoa(redisPort)},
		{name: "REDIS_PASSWORD", secret: pw.secret},
	}
}

// links say how a backend or worker reaches Postgres and Redis: the
// variables it gets, and what its launcher waits for before it starts.
type links struct {
	vars       []envVar
	waits      []string
	rdPassword *dagger.Secret // for the launcher's AUTH, with a Redis to wait for
}

// projectLinks reach the project's own Postgres and Redis at the host names
// of p.
func (m *Commandcenter) projectLinks(pw passwords, p peers) links {
	return links{
		vars: append(m.postgresVars(pw.pg, p.postgres), m.redisVars(pw.rd, p.redis)...),
		waits: []string{
			fmt.Sprintf("postgres://%s:%d", p.postgres, postgresPort),
			fmt.Sprintf("redis://%s:%d", p.redis, redisPort),
		},
		rdPassword: pw.rd.secret,
	}
}
