package main

import (
	"context"
	"fmt"

	"golang.org/x/sync/errgroup"

	"dagger/commandcenter/internal/dagger"
)

// prepared is what running the project's services needs, looked up and
// built before any of them starts: the env settings read, the Postgres,
// backend and frontend images (extensions and dependencies installed), and
// the supervisor. The project's passwords are not among them: the
// services read them where they run (see links.go).
type prepared struct {
	postgres *dagger.Container
	// redisRuntime is the Redis server the Stack's front runs (redisRuntime).
	redisRuntime *dagger.Directory
	env          environment
	backend      builtImage
	frontend     builtImage
	supervisor   *dagger.File
}

// needs say what prepare looks up and builds.
type needs struct {
	// postgres, backend, frontend: their images; redisRuntime: Redis for
	// the Stack's front.
	postgres, redisRuntime, backend, frontend bool
}

// prepare does the lookups and builds the services need at once: they are
// independent, and the dependency installs are the slow part of a first
// start.
func (m *Commandcenter) prepare(ctx context.Context, src *dagger.Directory, n needs) (prepared, error) {
	var r prepared
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() (err error) {
		r.env, err = m.environment(gctx)
		return err
	})
	if n.postgres {
		g.Go(func() (err error) {
			if r.postgres, err = m.postgresImage(gctx); err != nil {
				return err
			}
			// Unpacked while the other images build, Postgres's image
			// is ready when its service starts. Left lazy, a first start
			// unpacked it only once the backend and the frontend had
			// started, and the Stack's front waited 3-6 s more for it.
			// Alone, it is unpacked where it starts.
			if n.backend || n.frontend || n.redisRuntime {
				if _, err := r.postgres.Rootfs().Entries(gctx); err != nil {
					return fmt.Errorf("postgres: unpack its image: %w", err)
				}
			}
			return nil
		})
	}
	if n.redisRuntime {
		r.redisRuntime = m.redisRuntime()
		g.Go(func() error {
			if _, err := r.redisRuntime.Sync(gctx); err != nil {
				return fmt.Errorf("redis: copy the server out of the Redis image: %w", err)
			}
			return nil
		})
	}
	if n.backend {
		g.Go(func() (err error) {
			r.backend, err = m.backendImage(gctx, src)
			return err
		})
	}
	if n.frontend {
		g.Go(func() (err error) {
			r.frontend, err = m.frontendService(gctx, src)
			return err
		})
	}
	// Every service runs under it.
	r.supervisor = supervisorProgram()
	g.Go(func() error {
		if _, err := r.supervisor.Sync(gctx); err != nil {
			return fmt.Errorf("load the module's runtime, whose binary is the supervisor: %w", err)
		}
		return nil
	})
	return r, g.Wait()
}
