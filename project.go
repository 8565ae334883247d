package main

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"dagger/commandcenter/internal/check"
	"dagger/commandcenter/internal/dagger"
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
) (string, error) {
	if err := check.Ports(
		check.PortUse{Port: postgresPort, Option: "--postgres-port"}, check.PortUse{Port: redisPort, Option: "--redis-port"},
		check.PortUse{Port: backendPort, Option: "--backend-port"}, check.PortUse{Port: frontendPort, Option: "--frontend-port"},
	); err != nil {
		return "", fmt.Errorf("urls: %w", err)
	}
	if err := m.checkSettings(); err != nil {
		return "", fmt.Errorf("urls: %w", err)
	}
	pw, err := m.openProject(ctx)
	if err != nil {
		return "", err
	}
	db := url.URL{Scheme: "postgresql", User: url.UserPassword(m.Pg.User, pw.pg.plain),
		Host: fmt.Sprintf("localhost:%d", postgresPort), Path: "/" + m.Pg.Database}
	cache := url.URL{Scheme: "redis", User: url.UserPassword("default", pw.rd.plain),
		Host: fmt.Sprintf("localhost:%d", redisPort), Path: "/0"}
	return fmt.Sprintf("DATABASE_URL=%s\nREDIS_URL=%s\nBACKEND_URL=http://localhost:%d\nFRONTEND_URL=http://localhost:%d\n",
		db.String(), cache.String(), backendPort, frontendPort), nil
}

// Wipe deletes the project's data on purpose: its databases (every Postgres
// version), its Redis data, its persistent folders and its generated
// passwords. Stop the project's services first: a wipe while they run fails
// and deletes nothing. The next `up` starts from an empty database, with new
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
	kinds, err := m.dataKinds(ctx)
	if err != nil {
		return "", err
	}
	ctr, err := m.withData(ctx, kinds)
	if err != nil {
		return "", err
	}
	var script []string
	for _, kind := range kinds {
		script = append(script, fmt.Sprintf("find %s -mindepth 1 -delete", keepPath(kind)))
	}
	_, err = ctr.
		// A wipe is never served from the cache: it runs each time it is asked for.
		WithEnvVariable("COMMANDCENTER_WIPE", fmt.Sprint(time.Now().UnixNano())).
		WithExec([]string{"sh", "-ec", strings.Join(script, "\n")}).
		Sync(ctx)
	if err != nil {
		return "", fmt.Errorf("wipe project %q: %w", m.Project, err)
	}
	names := make([]string, len(kinds))
	for i, kind := range kinds {
		names[i] = m.volumeName(kind)
	}
	return fmt.Sprintf("wiped the data of project %q: %s\n", m.Project, strings.Join(names, ", ")), nil
}

// dataKinds are the kinds of every volume of the project's data: a database
// for each Postgres version, Redis, the secrets, and the persistent folders
// the project has used (recorded in its secrets volume) or has now.
func (m *Commandcenter) dataKinds(ctx context.Context) ([]string, error) {
	var kinds []string
	for _, version := range check.SortedKeys(postgresTags) {
		kinds = append(kinds, "postgres-"+version)
	}
	kinds = append(kinds, "redis", "secrets")
	recorded, err := dag.Container().From(helperImage).
		WithMountedCache(keepPath("secrets"), m.volume("secrets")).
		WithEnvVariable("COMMANDCENTER_READ", fmt.Sprint(time.Now().UnixNano())).
		WithExec([]string{"sh", "-c", "mkdir -p /out && cat " + keepPath("secrets") + "/folders >/out/folders 2>/dev/null || : >/out/folders"}).
		File("/out/folders").
		Contents(ctx)
	if err != nil {
		return nil, fmt.Errorf("read the persistent folders of project %q: %w", m.Project, err)
	}
	seen := map[string]bool{}
	for _, kind := range strings.Fields(recorded) {
		if strings.HasPrefix(kind, "files-") && !seen[kind] {
			seen[kind] = true
			kinds = append(kinds, kind)
		}
	}
	for _, f := range m.Folders {
		if kind := folderKind(f); !seen[kind] {
			seen[kind] = true
			kinds = append(kinds, kind)
		}
	}
	return kinds, nil
}

// withData is the helper image with the project's volumes of the given
// kinds mounted, locked, at their keep paths, once each of them is free: it
// fails within lockWait when one is held (see free).
func (m *Commandcenter) withData(ctx context.Context, kinds []string) (*dagger.Container, error) {
	ctr, err := dag.Container().From(helperImage).Sync(ctx)
	if err != nil {
		return nil, err
	}
	g, gctx := errgroup.WithContext(ctx)
	for _, kind := range kinds {
		g.Go(func() error { return m.free(gctx, ctr, kind) })
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	for _, kind := range kinds {
		ctr = ctr.WithMountedCache(keepPath(kind), m.volume(kind),
			dagger.ContainerWithMountedCacheOpts{Sharing: dagger.CacheSharingModeLocked})
	}
	return ctr, nil
}
