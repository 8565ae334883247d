package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"dagger/commandcenter/internal/dagger"
	"dagger/commandcenter/internal/spec"
)

// Urls prints the addresses of a running stack's services as seen from the
// host, with the project's passwords, one VARIABLE=URL a line. Give it the
// host ports you forwarded with `up --ports`.
//
// +cache="never"
func (m *Commandcenter) Urls(
	ctx context.Context,
	// Host port forwarded to Postgres (5432).
	// +optional
	// +default=15000
	postgresPort int,
	// Host port forwarded to Redis (6379).
	// +optional
	// +default=15001
	redisPort int,
	// Host port forwarded to the backend.
	// +optional
	// +default=15002
	backendPort int,
	// Host port forwarded to the frontend.
	// +optional
	// +default=15003
	frontendPort int,
	// Postgres superuser the stack was started with.
	// +optional
	// +default="commandcenter"
	user string,
	// Database the stack was started with.
	// +optional
	// +default="commandcenter"
	database string,
	// Postgres password the stack was started with; without it the project's generated one.
	// +optional
	postgresPassword *dagger.Secret,
	// Redis password the stack was started with; without it the project's generated one.
	// +optional
	redisPassword *dagger.Secret,
) (string, error) {
	if err := spec.Ports(
		spec.PortUse{Port: postgresPort, Option: "--postgres-port"}, spec.PortUse{Port: redisPort, Option: "--redis-port"},
		spec.PortUse{Port: backendPort, Option: "--backend-port"}, spec.PortUse{Port: frontendPort, Option: "--frontend-port"},
	); err != nil {
		return "", fmt.Errorf("urls: %w", err)
	}
	pg := postgresOpts{Version: defaultPostgresVersion, User: user, Database: database, Password: postgresPassword}
	if err := pg.check(); err != nil {
		return "", fmt.Errorf("urls: %w", err)
	}
	rd := redisOpts{Password: redisPassword}
	if err := m.withPasswords(ctx, &pg, &rd); err != nil {
		return "", err
	}
	dbURL, err := m.databaseURL(ctx, pg, "localhost", postgresPort)
	if err != nil {
		return "", err
	}
	rdURL, err := m.redisURL(ctx, rd, "localhost", redisPort)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for _, line := range []struct {
		name   string
		secret *dagger.Secret
		plain  string
	}{
		{name: "DATABASE_URL", secret: dbURL},
		{name: "REDIS_URL", secret: rdURL},
		{name: "BACKEND_URL", plain: fmt.Sprintf("http://localhost:%d", backendPort)},
		{name: "FRONTEND_URL", plain: fmt.Sprintf("http://localhost:%d", frontendPort)},
	} {
		value := line.plain
		if line.secret != nil {
			if value, err = line.secret.Plaintext(ctx); err != nil {
				return "", err
			}
		}
		fmt.Fprintf(&b, "%s=%s\n", line.name, value)
	}
	return b.String(), nil
}

// Wipe deletes the project's data on purpose: its databases (every Postgres
// version), its Redis data and its generated passwords. Stop the project's
// stack first. The next `up` starts from an empty database, with new
// generated passwords.
//
// +cache="never"
func (m *Commandcenter) Wipe(
	ctx context.Context,
	// Must be the project's name, to confirm which project's data goes.
	confirm string,
) (string, error) {
	if confirm != m.Project {
		return "", fmt.Errorf("wipe: --confirm=%q does not name this project: pass --confirm=%s to delete the data of project %q",
			confirm, m.Project, m.Project)
	}
	ctr := dag.Container().From(helperImage)
	var volumes []string
	for _, version := range spec.SortedKeys(postgresTags) {
		volumes = append(volumes, m.volume("postgres-"+version))
	}
	volumes = append(volumes, m.volume("redis"), m.volume("secrets"))
	var script []string
	for i, name := range volumes {
		path := fmt.Sprintf("/wipe/%d", i)
		ctr = ctr.WithMountedCache(path, dag.CacheVolume(name),
			dagger.ContainerWithMountedCacheOpts{Sharing: dagger.CacheSharingModeLocked})
		script = append(script, fmt.Sprintf("find %s -mindepth 1 -delete", path))
	}
	_, err := ctr.
		// A wipe is never served from the cache: it runs each time it is asked for.
		WithEnvVariable("COMMANDCENTER_WIPE", fmt.Sprint(time.Now().UnixNano())).
		WithExec([]string{"sh", "-ec", strings.Join(script, "\n")}).
		Sync(ctx)
	if err != nil {
		return "", fmt.Errorf("wipe project %q: %w", m.Project, err)
	}
	return fmt.Sprintf("wiped the data of project %q: %s\n", m.Project, strings.Join(volumes, ", ")), nil
}
