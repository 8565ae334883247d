package main

import (
	"context"
	"fmt"

	"dagger/commandcenter/internal/check"
	"dagger/commandcenter/internal/contract"
	"dagger/commandcenter/internal/dagger"
)

const redisPort = 6379

// RedisSettings are the settings of the project's cache.
type RedisSettings struct {
	Version  string
	Password *dagger.Secret
	// Memory is Redis's maxmemory in bytes (0: none).
	Memory int64
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
	// Most memory Redis may hold for its data, as compose's mem_limit:
	// 512m, 1g (bytes, k, m or g). Redis's own maxmemory, with the
	// noeviction policy: at the limit, writes fail with an OOM error and
	// no key is dropped.
	// +optional
	memory string,
) (*Commandcenter, error) {
	if err := setMemory(&m.Rd.Memory, memory, "with-redis --memory"); err != nil {
		return nil, err
	}
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
func (m *Commandcenter) Redis(ctx context.Context) (*dagger.Service, error) {
	if err := m.checkSettings(); err != nil {
		return nil, fmt.Errorf("redis: %w", err)
	}
	r, err := m.prepare(ctx, nil, needs{})
	if err != nil {
		return nil, err
	}
	return m.run(m.redis(true), r.supervisor), nil
}

// redisEnv are the variables Redis runs with: its password, for
// redis-server's command line and the supervisor's health check.
var redisEnv = []contract.EnvVar{
	{Name: "REDIS_PASSWORD", Value: contract.Placeholder("redis", false)},
	{Name: contract.RedisPasswordEnv, Value: contract.Placeholder("redis", false)},
}

// redisHealth checks Redis: PING after AUTH.
var redisHealth = contract.HealthCheck{Name: "redis", Target: fmt.Sprintf("redis://127.0.0.1:%d", redisPort)}

// redis is the project's Redis: with its data in the project's volume, or,
// not persistent, in memory only.
func (m *Commandcenter) redis(persistent bool) service {
	ref, _ := check.ImageRef(redisImage, redisTags, m.Rd.Version, "")
	s := service{name: "redis", ctr: dag.Container().From(ref), port: redisPort, ready: 65436, env: redisEnv,
		health: []contract.HealthCheck{redisHealth},
		// A shell puts the password on the command line inside the
		// container only.
		args: shell("docker-entrypoint.sh redis-server " + redisArgs(persistent, m.Rd.Memory))}
	if persistent {
		// Redis writes in its working folder, which the image's entry
		// point hands to the redis user.
		s.ctr = m.withVolumes(s.ctr, "redis").WithWorkdir(keepPath("redis"))
		s.locks = []string{"redis"}
	}
	return s
}

// redisArgs are redis-server's arguments, for a shell that has
// $REDIS_PASSWORD: every write appended to the project's volume before it
// is acknowledged, or, not persistent, nothing written; memory, when not
// 0, its maxmemory, with no key evicted.
func redisArgs(persistent bool, memory int64) string {
	args := `--port 6379 --requirepass "$REDIS_PASSWORD" --protected-mode no`
	if memory > 0 {
		args += fmt.Sprintf(" --maxmemory %d --maxmemory-policy noeviction", memory)
	}
	if persistent {
		return args + ` --dir ` + keepPath("redis") + ` --appendonly yes --appendfsync always`
	}
	return args + ` --save "" --appendonly no`
}

// redisHome is where the Stack's front keeps the Redis server of the
// project's Redis image (see redisRuntime).
const redisHome = "/opt/commandcenter/redis"

// redisRuntime is the Redis server of the project's Redis image with every
// library it loads and its own loader (entrypoints/redis-runtime.sh), so
// that it runs as it is in the Stack's front, a Postgres image: the Stack
// serves Redis's port from the front's container, without a hop.
func (m *Commandcenter) redisRuntime() *dagger.Directory {
	ref, _ := check.ImageRef(redisImage, redisTags, m.Rd.Version, "")
	return withProgram(dag.Container().From(ref), "redis-runtime.sh", "/usr/local/bin/commandcenter-redis-runtime").
		WithEnvVariable("HERE", redisHome).
		WithExec([]string{"commandcenter-redis-runtime"}).
		Directory("/out/redis")
}

// withRedis runs the project's Redis next to front (the Stack's Postgres),
// from runtime (redisRuntime), with its data in the project's volume.
func (m *Commandcenter) withRedis(front service, runtime *dagger.Directory) service {
	front.ctr = m.withVolumes(front.ctr, "redis").WithDirectory(redisHome, runtime)
	front.also = append(front.also, contract.Process{Name: "redis", Command: "exec " + redisHome + "/run " + redisArgs(true, m.Rd.Memory)})
	front.locks = append(front.locks, "redis")
	front.env = append(front.env, redisEnv...)
	front.health = append(front.health, redisHealth)
	return front
}
