package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"

	"dagger/commandcenter/internal/dagger"
)

// helperImage runs the module's small chores (reading the project's
// passwords, wipe, snapshots). It is one of the images the stack pulls
// anyway.
const helperImage = redisImage + ":8-trixie"

// password is a password as a secret, and its text, which the URLs that
// carry it are made of.
type password struct {
	secret *dagger.Secret
	plain  string
	// source is "given" (to the module), "generated" (the project's), or,
	// for a password urls was not given, "given to the stack": the
	// project's services last ran with one given to them, which urls
	// cannot know.
	source string
}

// passwords are the project's Postgres and Redis passwords: given, or the
// project's generated ones.
type passwords struct{ pg, rd password }

// readPasswords reads the project's passwords: the ones the settings give,
// and else the project's generated ones from its secrets volume (made the
// first time, as the services make them). The services read them where
// they run; this is for urls and the password functions, never on the
// way of a start.
func (m *Commandcenter) readPasswords(ctx context.Context) (passwords, error) {
	var pw passwords
	var names []string
	for _, p := range []struct {
		name  string
		given *dagger.Secret
		into  *password
	}{
		{"postgres", m.Pg.Password, &pw.pg},
		{"redis", m.Rd.Password, &pw.rd},
	} {
		if p.given == nil {
			names = append(names, p.name)
			continue
		}
		plain, err := p.given.Plaintext(ctx)
		if err != nil {
			return pw, fmt.Errorf("read the given %s password: %w", p.name, err)
		}
		if strings.ContainsAny(plain, "\n\r\x00") {
			return pw, fmt.Errorf("the %s password has a line break or NUL character: give one without", p.name)
		}
		*p.into = password{secret: p.given, plain: plain, source: "given"}
	}
	if len(names) == 0 {
		return pw, nil
	}
	list, err := uncached(withProgram(m.withVolumes(dag.Container().From(helperImage), secretsKind), "project.sh", "/usr/local/bin/commandcenter-project"), "READ").
		WithEnvVariable("STATE", keepPath(secretsKind)).
		WithEnvVariable("PASSWORDS", strings.Join(names, " ")).
		WithExec([]string{"commandcenter-project"}).
		File("/out/passwords").
		Contents(ctx)
	if err != nil {
		return pw, fmt.Errorf("read the passwords of project %q: %w", m.Project, err)
	}
	for _, line := range strings.Split(strings.TrimSpace(list), "\n") {
		fields := strings.Fields(line)
		if len(fields) < 2 {
			continue
		}
		name, value, source := fields[0], fields[1], "generated"
		if len(fields) > 2 && fields[2] == "given" {
			source = "given to the stack"
		}
		if len(value) != 32 {
			return pw, fmt.Errorf("the %s password of project %q in volume %s is damaged: restore a snapshot of the project, or wipe it (dagger call --project=%s wipe --confirm=%s) to make a new one",
				name, m.Project, m.volumeName(secretsKind), m.Project, m.Project)
		}
		p := password{secret: newSecret(name+"-password", value), plain: value, source: source}
		if name == "postgres" {
			pw.pg = p
		} else {
			pw.rd = p
		}
	}
	return pw, nil
}

// newSecret makes a secret of value. Its name is new each time: the engine
// knows a secret by its name, so a name used before would hand out the value
// it had then.
func newSecret(kind, value string) *dagger.Secret {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return dag.SetSecret("commandcenter-"+kind+"-"+hex.EncodeToString(b), value)
}

// randomPassword is a throwaway password (the databases of a test run).
func randomPassword() string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// PostgresPassword returns the project's Postgres password: the one given
// with with-postgres, or else the project's generated one, which postgres,
// backend and stack use, so that a module that binds the project's database
// can log in to it.
//
// +cache="never"
func (m *Commandcenter) PostgresPassword(ctx context.Context) (*dagger.Secret, error) {
	pw, err := m.readPasswords(ctx)
	return pw.pg.secret, err
}

// RedisPassword returns the project's Redis password: the one given with
// with-redis, or else the project's generated one.
//
// +cache="never"
func (m *Commandcenter) RedisPassword(ctx context.Context) (*dagger.Secret, error) {
	pw, err := m.readPasswords(ctx)
	return pw.rd.secret, err
}
