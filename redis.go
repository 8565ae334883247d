package main

import (
	"context"
	"fmt"

	"dagger/commandcenter/internal/check"
	"dagger/commandcenter/internal/dagger"
)

const redisPort = 6379

// RedisSettings are the settings of the project's cache.
type RedisSettings struct {
	Version  string
	Password *dagger.Secret
}

func defaultRedis() RedisSettings {
	return RedisSettings{Version: defaultRedisVersion}
}

func (s RedisSettings) check() error {
	_, err := check.ImageRef(redisImage, redisTags, s.Version, "with-redis --version")
	return err
}

// WithRedis sets the project's Redis: its version and password. Options not
// given keep their values (by default Redis 8 and the project's generated
// password).
func (m *Commandcenter) WithRedis(
	// Major version of Redis: 8.
	// +optional
	version string,
	// Password clients must give (AUTH). Redis takes the password it is given
	// at each start. Without it, the module generates one for the project and
	// keeps it with the project's data (see urls).
	// +optional
	password *dagger.Secret,
) (*Commandcenter, error) {
	setIf(&m.Rd.Version, version)
	if password != nil {
		m.Rd.Password = password
	}
	if err := m.Rd.check(); err != nil {
		return nil, fmt.Errorf("with-redis: %w", err)
	}
	return m, nil
}

// Redis starts the project's Redis server as a service on port 6379, with a
// password.
//
// Every write is appended to a log in the cache volume
// commandcenter-PROJECT-redis before it is acknowledged, so keys survive the
// end of `up`.
//
// +cache="session"
func (m *Commandcenter) Redis(ctx context.Context) (*dagger.Service, error) {
	if err := m.checkSettings(); err != nil {
		return nil, fmt.Errorf("redis: %w", err)
	}
	pw, err := m.openProject(ctx, "redis")
	if err != nil {
		return nil, err
	}
	return m.redis(pw.rd, true).run(nil), nil
}

// redis is the project's Redis: with its data in the project's volume, or,
// not persistent, in memory only.
func (m *Commandcenter) redis(pw password, persistent bool) service {
	ref, _ := check.ImageRef(redisImage, redisTags, m.Rd.Version, "")
	ctr := dag.Container().
		From(ref).
		WithSecretVariable("REDIS_PASSWORD", pw.secret)
	args := `--requirepass "$REDIS_PASSWORD"`
	if persistent {
		data := keepPath("redis")
		// Redis writes in its working folder, which the image's entry point
		// hands to the redis user.
		ctr = ctr.WithMountedCache(data, m.volume("redis"),
			dagger.ContainerWithMountedCacheOpts{Sharing: dagger.CacheSharingModeLocked}).
			WithWorkdir(data)
		args += ` --dir ` + data + ` --appendonly yes --appendfsync always`
	} else {
		args += ` --save "" --appendonly no`
	}
	// A shell puts the secret on the command line inside the container only.
	return service{name: "redis", ctr: ctr, args: shell("docker-entrypoint.sh redis-server " + args), port: redisPort}
}
