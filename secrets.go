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
// which a running service of the project holds, before it checks whether
// the engine is only slow (see whileFree).
const lockWait = 10 * time.Second

// engineWait is how long a function waits for an engine so busy that it
// runs no exec at all, before it gives up.
const engineWait = 5 * time.Minute

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
		read := func(ctx context.Context) (err error) {
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
				Contents(ctx)
			return err
		}
		g.Go(func() error {
			var err error
			if first != "" {
				err = m.whileFree(gctx, base, first, read)
			} else {
				err = read(gctx)
			}
			if err != nil && !errors.As(err, new(inUseError)) {
				return fmt.Errorf("open the state of project %q: %w", m.Project, err)
			}
			return err
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
// no word, for ever. When it stays held, it says that the project is in use
// (see whileFree).
//
// One exec a volume: Dagger v0.19.10's engine does not release the volumes
// an exec has mounted when it is cancelled while it waits for another, so
// an exec that may be cancelled while it waits must hold no other.
func (m *Commandcenter) free(ctx context.Context, base *dagger.Container, kind string) error {
	err := m.whileFree(ctx, base, kind, func(ctx context.Context) error {
		_, err := base.
			WithMountedCache(keepPath(kind), m.volume(kind),
				dagger.ContainerWithMountedCacheOpts{Sharing: dagger.CacheSharingModeLocked}).
			WithEnvVariable("COMMANDCENTER_PROBE", fmt.Sprint(time.Now().UnixNano())).
			WithExec([]string{"true"}).
			Sync(ctx)
		return err
	})
	if err != nil && !errors.As(err, new(inUseError)) {
		return fmt.Errorf("check that project %q is not in use: %w", m.Project, err)
	}
	return err
}

// inUseError is the error of a volume that stayed held: it is the whole
// message, never wrapped.
type inUseError struct{ msg string }

func (e inUseError) Error() string { return e.msg }

// whileFree runs probe, an exec that mounts the project's volume of kind
// locked (first of its mounts, so that while it waits it holds nothing),
// and tells a volume another service holds from an engine that is only
// slow. The engine gives no sign that an exec waits for a volume, so after
// lockWait execs without the volume, controls, run one after the other: when
// controlRounds of them have each run from start to end, and the probe was
// still not done a while after each (twice the control's time, at least
// 3 s), the volume is held, the probe is cancelled and the project is in
// use. An engine that runs not even a control within engineWait is given up
// on, with a message that says so.
func (m *Commandcenter) whileFree(ctx context.Context, base *dagger.Container, kind string, probe func(context.Context) error) error {
	probeCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- probe(probeCtx) }()
	select {
	case err := <-done:
		return err
	case <-time.After(lockWait):
	}
	verdict := m.inUse(kind)
	giveUp := time.After(engineWait)
rounds:
	for round := 0; round < controlRounds; round++ {
		control := make(chan error, 1)
		start := time.Now()
		go func() {
			_, err := base.
				WithEnvVariable("COMMANDCENTER_CONTROL", fmt.Sprint(time.Now().UnixNano())).
				WithExec([]string{"true"}).
				Sync(probeCtx)
			control <- err
		}()
		select {
		case err := <-done:
			return err
		case err := <-control:
			if err != nil {
				return err
			}
		case <-giveUp:
			verdict = fmt.Errorf("the engine ran not even a check of its own in %s, so whether project %q is in use is not known: the engine is overloaded or stuck; try again, or restart it", engineWait, m.Project)
			break rounds
		}
		select {
		case err := <-done:
			return err
		case <-time.After(max(2*time.Since(start), 3*time.Second)):
		}
	}
	cancel()
	<-done
	return verdict
}

// controlRounds is how many controls must run through while the probe
// waits before whileFree says the volume is held.
const controlRounds = 2

// inUse says that the project's data volumes are held, and by what.
func (m *Commandcenter) inUse(kind string) error {
	return inUseError{fmt.Sprintf("project %q is in use: its data (%s) is held by a running service of the project, such as another `up` of its stack, postgres or backend, or a wipe, snapshot or restore: it was not free after %s, while the engine ran %d checks of its own. Stop that first, or give this one another project (--project)",
		m.Project, m.volumeName(kind), lockWait, controlRounds)}
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
