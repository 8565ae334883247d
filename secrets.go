package main

import (
	"context"
	"fmt"
	"net/url"
	"strings"
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
	passwords, err := m.generatedPasswords(ctx, name)
	if err != nil {
		return nil, err
	}
	return passwords[name], nil
}

// withPasswords fills in the passwords the caller did not give with the
// project's generated ones, looked up together in one exec.
func (m *Commandcenter) withPasswords(ctx context.Context, pg *postgresOpts, rd *redisOpts) error {
	var names []string
	if pg != nil && pg.Password == nil {
		names = append(names, "postgres")
	}
	if rd != nil && rd.Password == nil {
		names = append(names, "redis")
	}
	if len(names) == 0 {
		return nil
	}
	passwords, err := m.generatedPasswords(ctx, names...)
	if err != nil {
		return err
	}
	if pg != nil && pg.Password == nil {
		pg.Password = passwords["postgres"]
	}
	if rd != nil && rd.Password == nil {
		rd.Password = passwords["redis"]
	}
	return nil
}

// generatedPasswords returns the project's passwords called names: random,
// made the first time the project needs them and kept in the project's
// secrets volume, so that they stay the same across runs of `up` (the
// database was initialised with them) and differ between projects. They
// never appear in an exec's output.
func (m *Commandcenter) generatedPasswords(ctx context.Context, names ...string) (map[string]*dagger.Secret, error) {
	script := `set -e
umask 077
mkdir -p /out
for name in "$@"; do
  f=/state/$name
  if [ ! -s "$f" ]; then
    tr -dc 'A-Za-z0-9' </dev/urandom | head -c 32 >"$f.tmp"
    mv "$f.tmp" "$f"
  fi
  printf '%s %s\n' "$name" "$(cat "$f")" >>/out/passwords
done`
	list, err := dag.Container().
		From(helperImage).
		WithMountedCache("/state", dag.CacheVolume(m.volume("secrets")),
			dagger.ContainerWithMountedCacheOpts{Sharing: dagger.CacheSharingModeLocked}).
		// Read the volume every time: after a wipe the project gets new
		// passwords, and a cached read would hand out the old ones.
		WithEnvVariable("COMMANDCENTER_READ", fmt.Sprint(time.Now().UnixNano())).
		WithExec(append([]string{"sh", "-c", script, "passwords"}, names...)).
		File("/out/passwords").
		Contents(ctx)
	if err != nil {
		return nil, fmt.Errorf("generate the %s password of project %q: %w", strings.Join(names, " and "), m.Project, err)
	}
	values := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(list), "\n") {
		name, value, _ := strings.Cut(line, " ")
		values[name] = value
	}
	passwords := map[string]*dagger.Secret{}
	for _, name := range names {
		if len(values[name]) != 32 {
			return nil, fmt.Errorf("the %s password of project %q in volume %s is damaged: wipe the project's data (dagger call --project=%s wipe --confirm=%s) to make a new one",
				name, m.Project, m.volume("secrets"), m.Project, m.Project)
		}
		passwords[name] = dag.SetSecret(m.volume(name+"-password"), values[name])
	}
	return passwords, nil
}

// PostgresPassword returns the project's generated Postgres password, the
// one postgres, backend and stack use when they are given none, so that a
// module that binds the project's database can log in to it.
//
// +cache="never"
func (m *Commandcenter) PostgresPassword(ctx context.Context) (*dagger.Secret, error) {
	return m.passwordOr(ctx, nil, "postgres")
}

// RedisPassword returns the project's generated Redis password, the one
// redis, backend and stack use when they are given none.
//
// +cache="never"
func (m *Commandcenter) RedisPassword(ctx context.Context) (*dagger.Secret, error) {
	return m.passwordOr(ctx, nil, "redis")
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
