package main

import (
	"context"
	"fmt"
	"path"
	"strings"

	"dagger/commandcenter/internal/check"
	"dagger/commandcenter/internal/contract"
	"dagger/commandcenter/internal/dagger"
	"dagger/commandcenter/internal/manifest"
)

// DockerfileSettings say how a service is built from a Dockerfile of the
// project's own, as compose's build: does, instead of from its manifests.
type DockerfileSettings struct {
	// Dockerfile, a path in Context; empty: the module builds the service.
	Dockerfile string
	// Context is the folder of the source the build runs in, as compose's
	// build: context:; empty: the service's folder.
	Context string
	// BuildArgs are KEY=VALUE.
	BuildArgs []string
	// Target is the stage to build; empty: the last one.
	Target string
}

func (s DockerfileSettings) check(option string) error {
	if s.Dockerfile == "" {
		return nil
	}
	if strings.HasPrefix(s.Dockerfile, "/") || strings.Contains("/"+s.Dockerfile+"/", "/../") {
		return fmt.Errorf("%s --dockerfile %q is not a path inside the build's context (--context, default the service's folder): give one such as Dockerfile", option, s.Dockerfile)
	}
	if s.Context != "" {
		if err := check.Subdir(s.Context, option+" --context"); err != nil {
			return err
		}
	}
	for _, a := range s.BuildArgs {
		if k, _, ok := strings.Cut(a, "="); !ok || k == "" {
			return fmt.Errorf("%s --build-args %q is not KEY=VALUE", option, a)
		}
	}
	return nil
}

func (s *DockerfileSettings) set(dockerfile, context string, buildArgs []string, target string) {
	setIf(&s.Dockerfile, dockerfile)
	setIf(&s.Context, context)
	setIf(&s.Target, target)
	if len(buildArgs) > 0 {
		s.BuildArgs = buildArgs
	}
}

// builtImage is a service's image, which the processes of the same build
// share (the backend, its workers, the tests): built by the module, or from
// the project's Dockerfile (docker: its command).
type builtImage struct {
	ctr    *dagger.Container
	docker *dockerBuilt
	// sync is how its processes take the live-reload watcher's files
	// (none from a Dockerfile's image: where its source went is its own).
	sync *contract.Sync
	// pm is the frontend's package manager.
	pm manifest.NodeManager
}

// dockerBuilt is a service's image built from its Dockerfile, and the
// command it runs: its entrypoint and default arguments.
type dockerBuilt struct {
	ctr  *dagger.Container
	args []string
}

// dockerBuild builds the service in dir of src (or s.Context) from its
// Dockerfile, with the engine's own Dockerfile support, and reads what its
// image runs; a failed step is reported with its output.
func dockerBuild(ctx context.Context, src *dagger.Directory, dir string, s DockerfileSettings, what, option string) (dockerBuilt, error) {
	if s.Context != "" {
		dir = s.Context
	}
	ctr, err := dockerImage(ctx, src, dir, s, what, option)
	if err != nil {
		return dockerBuilt{}, err
	}
	run, err := imageCommand(ctx, ctr, nil)
	if err != nil {
		return dockerBuilt{}, err
	}
	if len(run) == 0 {
		return dockerBuilt{}, fmt.Errorf("%s: %s/%s gives the image no ENTRYPOINT or CMD: add one, or give the service a command of its own (%s --command)", what, dir, s.Dockerfile, option)
	}
	return dockerBuilt{ctr: ctr, args: run}, nil
}

// dockerImage builds the image of the Dockerfile s.Dockerfile in the
// folder dir of src, its context.
func dockerImage(ctx context.Context, src *dagger.Directory, dir string, s DockerfileSettings, what, option string) (*dagger.Container, error) {
	if err := fileExists(ctx, src, path.Join(dir, s.Dockerfile),
		fmt.Errorf("%s has no %s: add it, or fix %s --dockerfile", dir, s.Dockerfile, option)); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	var args []dagger.BuildArg
	for _, a := range s.BuildArgs {
		k, v, _ := strings.Cut(a, "=")
		args = append(args, dagger.BuildArg{Name: k, Value: v})
	}
	return installed(ctx, src.Directory(dir).DockerBuild(dagger.DirectoryDockerBuildOpts{
		Dockerfile: s.Dockerfile, BuildArgs: args, Target: s.Target,
	}), what, fmt.Sprintf("fix %s/%s (the build's output below)", dir, s.Dockerfile))
}

// imageCommand is what ctr runs: its entrypoint, then args, or its
// default arguments (CMD) where args is empty.
func imageCommand(ctx context.Context, ctr *dagger.Container, args []string) ([]string, error) {
	entrypoint, err := ctr.Entrypoint(ctx)
	if err != nil {
		return nil, err
	}
	if len(args) == 0 {
		if args, err = ctr.DefaultArgs(ctx); err != nil {
			return nil, err
		}
	}
	return append(append([]string{}, entrypoint...), args...), nil
}
