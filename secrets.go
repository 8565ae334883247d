package main

import (
	"context"
	"fmt"
	"net/url"
	"time"

	"dagger/commandcenter/internal/dagger"
)

// helperImage runs the module's small chores (making a project's passwords).
// It is one of the images the stack pulls anyway.
const helperImage = redisImage + ":8-trixie"

// passwordOr returns given, or else the project's generated password called name.
func (m *Commandcenter) passwordOr(ctx context.Context, given *dagger.Secret, name string) (*dagger.Secret, error) {
	if given != nil {
		return given, nil
	}
	return m.generatedPassword(ctx, name)
}

// generatedPassword returns a random password made the first time a project
// needs it and kept in the project's secrets volume, so that it stays the same
// across runs of `up` (the database was initialised with it) and differs
// between projects. It never appears in an exec's output.
func (m *Commandcenter) generatedPassword(ctx context.Context, name string) (*dagger.Secret, error) {
	script := fmt.Sprintf(`set -e
umask 077
f=/state/%[1]s
if [ ! -s "$f" ]; then
  tr -dc 'A-Za-z0-9' </dev/urandom | head -c 32 >"$f.tmp"
  mv "$f.tmp" "$f"
fi
mkdir -p /out
cp "$f" /out/password`, name)
	value, err := dag.Container().
		From(helperImage).
		WithMountedCache("/state", dag.CacheVolume(m.volume("secrets")),
			dagger.ContainerWithMountedCacheOpts{Sharing: dagger.CacheSharingModeLocked}).
		// Read the volume every time: after a wipe the project gets a new
		// password, and a cached read would hand out the old one.
		WithEnvVariable("COMMANDCENTER_READ", fmt.Sprint(time.Now().UnixNano())).
		WithExec([]string{"sh", "-c", script}).
		File("/out/password").
		Contents(ctx)
	if err != nil {
		return nil, fmt.Errorf("generate the %s password of project %q: %w", name, m.Project, err)
	}
	if len(value) != 32 {
		return nil, fmt.Errorf("the %s password of project %q in volume %s is damaged: wipe the project's data (dagger call --project=%s wipe) to make a new one",
			name, m.Project, m.volume("secrets"), m.Project)
	}
	return dag.SetSecret(m.volume(name+"-password"), value), nil
}

// PostgresPassword returns the project's generated Postgres password, the
// one postgres, backend and stack use when they are given none, so that a
// module that binds the project's database can log in to it.
//
// +cache="never"
func (m *Commandcenter) PostgresPassword(ctx context.Context) (*dagger.Secret, error) {
	return m.generatedPassword(ctx, "postgres")
}

// RedisPassword returns the project's generated Redis password, the one
// redis, backend and stack use when they are given none.
//
// +cache="never"
func (m *Commandcenter) RedisPassword(ctx context.Context) (*dagger.Secret, error) {
	return m.generatedPassword(ctx, "redis")
}

// serviceURL completes u with user, the service's password (given, or the
// project's generated one) and host:port, and returns it as a secret.
func (m *Commandcenter) serviceURL(ctx context.Context, service string, given *dagger.Secret, u url.URL,
	user, host string, port int,
) (*dagger.Secret, error) {
	password, err := m.passwordOr(ctx, given, service)
	if err != nil {
		return nil, err
	}
	plain, err := password.Plaintext(ctx)
	if err != nil {
		return nil, fmt.Errorf("read the %s password: %w", service, err)
	}
	u.User = url.UserPassword(user, plain)
	u.Host = fmt.Sprintf("%s:%d", host, port)
	return dag.SetSecret(m.volume(fmt.Sprintf("%s-url-%s-%d", service, host, port)), u.String()), nil
}
