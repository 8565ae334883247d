package main

import (
	"context"
	"fmt"
	"net/url"

	"dagger/commandcenter/internal/dagger"
	"dagger/commandcenter/internal/spec"
)

const redisPort = 6379

// redisOpts are the settings of the project's cache.
type redisOpts struct {
	Version  string
	Password *dagger.Secret
	Persist  bool
}

func (o redisOpts) check() error {
	_, err := spec.ImageRef(redisImage, redisTags, o.Version, "--redis-version")
	return err
}

// Redis starts a Redis server as a service on port 6379, with a password.
//
// With persist, every write is appended to a log in the cache volume
// commandcenter-PROJECT-redis before it is acknowledged, so keys survive the
// end of `up`.
//
// +cache="session"
func (m *Commandcenter) Redis(
	ctx context.Context,
	// Major version of Redis: 8.
	// +optional
	// +default="8"
	version string,
	// Password clients must give (AUTH). Without it, the module generates one
	// for the project and keeps it with the project's data (see urls).
	// +optional
	password *dagger.Secret,
	// Keep the data in the project's cache volume across runs.
	// +optional
	persist bool,
) (*dagger.Service, error) {
	o := redisOpts{Version: version, Password: password, Persist: persist}
	if err := o.check(); err != nil {
		return nil, fmt.Errorf("redis: %w", err)
	}
	return m.redis(ctx, o, nil)
}

// redis runs Redis; member is nil outside a Stack.
func (m *Commandcenter) redis(ctx context.Context, o redisOpts, member *stackMember) (*dagger.Service, error) {
	ref, err := spec.ImageRef(redisImage, redisTags, o.Version, "--redis-version")
	if err != nil {
		return nil, err
	}
	password, err := m.passwordOr(ctx, o.Password, "redis")
	if err != nil {
		return nil, err
	}
	ctr := dag.Container().
		From(ref).
		WithSecretVariable("REDIS_PASSWORD", password)
	args := `--requirepass "$REDIS_PASSWORD"`
	if o.Persist {
		ctr = ctr.WithMountedCache("/data", dag.CacheVolume(m.volume("redis")),
			dagger.ContainerWithMountedCacheOpts{Sharing: dagger.CacheSharingModeLocked})
		args += ` --appendonly yes --appendfsync always`
	} else {
		args += ` --save "" --appendonly no`
	}
	// A shell puts the secret on the command line inside the container only.
	return member.serve(ctr, redisPort, []string{"sh", "-c", "exec docker-entrypoint.sh redis-server " + args}), nil
}

// redisURL is the URL a client reaching the service at host:port uses.
func (m *Commandcenter) redisURL(ctx context.Context, o redisOpts, host string, port int) (*dagger.Secret, error) {
	return m.serviceURL(ctx, "redis", o.Password, url.URL{Scheme: "redis", Path: "/0"}, "default", host, port)
}
