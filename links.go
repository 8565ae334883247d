package main

import (
	"fmt"
	"strconv"

	"dagger/commandcenter/internal/contract"
	"dagger/commandcenter/internal/dagger"
)

// A link is how a backend or worker reaches one of the project's peers
// (Postgres, Redis): the variables it gets (the README's table "What the
// backend and workers get"), and what it waits for before it starts. The
// project's passwords are not known when the module builds a service: they
// are read where they are used, in the service's container, so the
// variables name them as placeholders (contract.Placeholder), which the
// supervisor fills in, and masks in the output.
type link struct {
	env []contract.EnvVar
	// given are variables of a peer the caller gave (its URL, a secret).
	given []envVar
	wait  *contract.WaitTarget
}

// links are a backend's or worker's peers, by name.
type links struct {
	postgres, redis link
}

func (l links) all() []link { return []link{l.postgres, l.redis} }

// env are the variables of every peer.
func (l links) env() []contract.EnvVar {
	var env []contract.EnvVar
	for _, p := range l.all() {
		env = append(env, p.env...)
	}
	return env
}

// given are the given variables of every peer.
func (l links) given() []envVar {
	var vars []envVar
	for _, p := range l.all() {
		vars = append(vars, p.given...)
	}
	return vars
}

// waits are what a process waits for, Postgres first.
func (l links) waits() []contract.WaitTarget {
	var waits []contract.WaitTarget
	for _, p := range l.all() {
		if p.wait != nil {
			waits = append(waits, *p.wait)
		}
	}
	return waits
}

// databaseURL is the URL of the project's database at host:port, in the
// scheme of with-backend --database-scheme; password is escaped for a URL
// (or a placeholder that is).
func (m *Commandcenter) databaseURL(password, host string, port int) string {
	return fmt.Sprintf("%s://%s:%s@%s:%d/%s", m.Be.DatabaseScheme, m.Pg.User, password, host, port, m.Pg.Database)
}

// redisURL is the URL of the project's Redis at host:port.
func redisURL(password, host string, port int) string {
	return fmt.Sprintf("redis://default:%s@%s:%d/0", password, host, port)
}

// postgresLink reaches the project's Postgres at host.
func (m *Commandcenter) postgresLink(host string) link {
	pw := contract.Placeholder("postgres", false)
	port := strconv.Itoa(postgresPort)
	return link{
		env: []contract.EnvVar{
			{Name: "DATABASE_URL", Value: m.databaseURL(contract.Placeholder("postgres", true), host, postgresPort)},
			{Name: "POSTGRES_HOST", Value: host},
			{Name: "POSTGRES_PORT", Value: port},
			{Name: "POSTGRES_USER", Value: m.Pg.User},
			{Name: "POSTGRES_PASSWORD", Value: pw},
			{Name: "POSTGRES_DB", Value: m.Pg.Database},
			{Name: "PGHOST", Value: host},
			{Name: "PGPORT", Value: port},
			{Name: "PGUSER", Value: m.Pg.User},
			{Name: "PGPASSWORD", Value: pw},
			{Name: "PGDATABASE", Value: m.Pg.Database},
		},
		wait: &contract.WaitTarget{Kind: "postgres", Addr: fmt.Sprintf("%s:%d", host, postgresPort)},
	}
}

// redisLink reaches the project's Redis at host. Celery reads its broker
// and result backend from variables of its own.
func (m *Commandcenter) redisLink(host string) link {
	u := redisURL(contract.Placeholder("redis", true), host, redisPort)
	return link{
		env: []contract.EnvVar{
			{Name: "REDIS_URL", Value: u},
			{Name: "REDIS_HOST", Value: host},
			{Name: "REDIS_PORT", Value: strconv.Itoa(redisPort)},
			{Name: "REDIS_PASSWORD", Value: contract.Placeholder("redis", false)},
			{Name: "CELERY_BROKER_URL", Value: u},
			{Name: "CELERY_RESULT_BACKEND", Value: u},
			// For the launcher's and the supervisor's AUTH before PING.
			{Name: contract.RedisPasswordEnv, Value: contract.Placeholder("redis", false)},
		},
		wait: &contract.WaitTarget{Kind: "redis", Addr: fmt.Sprintf("%s:%d", host, redisPort)},
	}
}

// projectLinks reach the project's own Postgres and Redis at the host names
// of p.
func (m *Commandcenter) projectLinks(p peers) links {
	return links{postgres: m.postgresLink(p.postgres), redis: m.redisLink(p.redis)}
}

// givenLink reaches a peer the caller gave, by its URL (a secret) in name.
func givenLink(name string, u *dagger.Secret) link {
	return link{given: []envVar{{name: name, secret: u}}}
}

// withGivenPasswords gives a container the passwords given to the module
// (with-postgres --password, with-redis --password), as secrets, for the
// supervisor to use instead of the project's generated ones.
func (m *Commandcenter) withGivenPasswords(ctr *dagger.Container) *dagger.Container {
	if m.Pg.Password != nil {
		ctr = ctr.WithSecretVariable(contract.GivenPasswordEnv("postgres"), m.Pg.Password)
	}
	if m.Rd.Password != nil {
		ctr = ctr.WithSecretVariable(contract.GivenPasswordEnv("redis"), m.Rd.Password)
	}
	return ctr
}
