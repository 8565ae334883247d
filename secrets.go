package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"dagger/commandcenter/internal/dagger"
)

// helperImage runs the module's small chores (the project's state, wipe,
// snapshots). It is one of the images the stack pulls anyway.
const helperImage = redisImage + ":8-trixie"

// lockWait is how long a function waits for the project's data volumes,
// which a running service of the project holds, before it says so.
const lockWait = 10 * time.Second

// password is a password as a secret, and its text, which the URLs that
// carry it are made of.
type password struct {
	secret *dagger.Secret
	plain  string
}

// passwords are the project's Postgres and Redis passwords: given, or the
// project's generated ones.
type passwords struct{ pg, rd password }

// openProject reads the passwords the settings do not give from the
// project's secrets volume (made at random the first time), and checks at
// the same time that the project's data volumes of the given kinds are free
// (see free): it fails within lockWait, saying which project is in use.
func (m *Commandcenter) openProject(ctx context.Context, volumes ...string) (passwords, error) {
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
		*p.into = password{secret: p.given, plain: plain}
		if err := checkPassword(*p.into, p.name); err != nil {
			return pw, err
		}
	}

	var folders []string
	for _, f := range m.Folders {
		folders = append(folders, folderKind(f))
	}
	base, err := dag.Container().From(helperImage).Sync(ctx)
	if err != nil {
		return pw, err
	}
	// The first data volume is waited for in the exec that reads the
	// secrets, mounted before the secrets volume: the engine takes mounts in
	// order, so while it waits for the volume it holds nothing else, and the
	// secrets volume is shared, never waited for (see free). The others get
	// an exec each.
	g, gctx := errgroup.WithContext(ctx)
	ctr := base
	first := ""
	if len(volumes) > 0 {
		first = volumes[0]
		ctr = ctr.WithMountedCache(keepPath(first), m.volume(first),
			dagger.ContainerWithMountedCacheOpts{Sharing: dagger.CacheSharingModeLocked})
		for _, kind := range volumes[1:] {
			g.Go(func() error { return m.free(gctx, base, kind) })
		}
	}
	var list string
	if len(names) > 0 || len(folders) > 0 || first != "" {
		g.Go(func() error {
			lockCtx, cancel := context.WithTimeout(gctx, lockWait)
			defer cancel()
			var err error
			list, err = ctr.
				// Shared, not locked: the script takes turns on a lock file.
				WithMountedCache(keepPath("secrets"), m.volume("secrets")).
				WithEnvVariable("STATE", keepPath("secrets")).
				WithEnvVariable("PASSWORDS", strings.Join(names, " ")).
				WithEnvVariable("FOLDERS", strings.Join(folders, " ")).
				// Read the volume every time: after a wipe the project gets new
				// passwords, and a cached read would hand out the old ones.
				WithEnvVariable("COMMANDCENTER_READ", fmt.Sprint(time.Now().UnixNano())).
				WithFile("/usr/local/bin/commandcenter-project", entrypoint("project.sh"), dagger.ContainerWithFileOpts{Permissions: 0o755}).
				WithExec([]string{"commandcenter-project"}).
				File("/out/passwords").
				Contents(lockCtx)
			if err != nil && first != "" && errors.Is(lockCtx.Err(), context.DeadlineExceeded) && gctx.Err() == nil {
				return m.inUse(first)
			}
			if err != nil {
				return fmt.Errorf("open the state of project %q: %w", m.Project, err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return pw, err
	}
	values := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(list), "\n") {
		name, value, _ := strings.Cut(line, " ")
		values[name] = value
	}
	for _, name := range names {
		value := values[name]
		if len(value) != 32 {
			return pw, fmt.Errorf("the %s password of project %q in volume %s is damaged: restore a snapshot of the project, or wipe it (dagger call --project=%s wipe --confirm=%s) to make a new one",
				name, m.Project, m.volumeName("secrets"), m.Project, m.Project)
		}
		p := password{secret: newSecret(name+"-password", value), plain: value}
		if name == "postgres" {
			pw.pg = p
		} else {
			pw.rd = p
		}
	}
	return pw, nil
}

// free waits until the project's volume of one kind is free: a running
// service of the project holds it, and a second one would wait for it with
// no word, for ever. After lockWait it stops waiting and says that the
// project is in use.
//
// One exec a volume: Dagger v0.19.10's engine does not release the volumes
// an exec has mounted when it is cancelled while it waits for another, so
// an exec that may be cancelled while it waits must hold no other.
func (m *Commandcenter) free(ctx context.Context, base *dagger.Container, kind string) error {
	lockCtx, cancel := context.WithTimeout(ctx, lockWait)
	defer cancel()
	_, err := base.
		WithMountedCache(keepPath(kind), m.volume(kind),
			dagger.ContainerWithMountedCacheOpts{Sharing: dagger.CacheSharingModeLocked}).
		WithEnvVariable("COMMANDCENTER_PROBE", fmt.Sprint(time.Now().UnixNano())).
		WithExec([]string{"true"}).
		Sync(lockCtx)
	if err != nil && errors.Is(lockCtx.Err(), context.DeadlineExceeded) && ctx.Err() == nil {
		return m.inUse(kind)
	}
	if err != nil {
		return fmt.Errorf("check that project %q is not in use: %w", m.Project, err)
	}
	return nil
}

// inUse says that the project's data volumes are held, and by what.
func (m *Commandcenter) inUse(kind string) error {
	return fmt.Errorf("project %q is in use: its data (%s) is held by a running service of the project, such as another `up` of its stack, postgres or backend, or a wipe, snapshot or restore, and was not free after %s. Stop that first, or give this one another project (--project)",
		m.Project, m.volumeName(kind), lockWait)
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
	pw, err := m.openProject(ctx)
	return pw.pg.secret, err
}

// RedisPassword returns the project's Redis password: the one given with
// with-redis, or else the project's generated one.
//
// +cache="never"
func (m *Commandcenter) RedisPassword(ctx context.Context) (*dagger.Secret, error) {
	pw, err := m.openProject(ctx)
	return pw.rd.secret, err
}
