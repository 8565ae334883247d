package main

import (
	"context"
	"fmt"
	"path"
	"slices"
	"strings"

	"dagger/commandcenter/internal/check"
	"dagger/commandcenter/internal/contract"
	"dagger/commandcenter/internal/dagger"
)

// ExtraSettings are a service of the project beyond Postgres, Redis, the
// backend, its workers and the frontend, as compose runs any number of
// them: a message broker (nats), a Celery UI (flower), a metrics server.
type ExtraSettings struct {
	Name string
	// Image to run, or the build it comes from, as compose's build: does:
	// Context, a folder of the source (default: the source), and
	// Dockerfile, a path in it (default: Dockerfile).
	Image, Dockerfile, Context string
	BuildArgs                  []string
	// Command run with sh instead of the image's entrypoint and command;
	// Args are arguments of the image's entrypoint in place of its command
	// (compose's command: for an image).
	Command string
	Args    []string
	// Port it listens on; 0: none (not forwarded, not waited for).
	Port int
	// Volume is a folder of its container kept per project.
	Volume string
	// HealthPath is the path of its HTTP health check while it runs; empty:
	// its port is checked.
	HealthPath string
}

// WithService adds a service of the project's own, run from an image or
// built from a Dockerfile: nats, flower, an exporter. In the Stack it runs
// next to the others: every member reaches it by its name (and at
// localhost:PORT), its port is forwarded like theirs, and the Stack is
// ready once it answers there. The lone backend is bound to it too. It gets
// the env given for it by name (with-env --service=NAME), and none of the
// backend's.
func (m *Commandcenter) WithService(
	// Name of the service: its host name for the others, in logs and in
	// with-env --service; lowercase letters, digits and dashes.
	name string,
	// Image to run, such as nats:2 (or a build, not both).
	// +optional
	image string,
	// Dockerfile to build the service from, a path in --context (default
	// Dockerfile), as compose's build: dockerfile:.
	// +optional
	dockerfile string,
	// Folder of the source the service builds in (its context, default the
	// source itself), as compose's build: context:; its .dockerignore applies.
	// +optional
	context string,
	// Build arguments of the Dockerfile, KEY=VALUE.
	// +optional
	buildArgs []string,
	// Command run with sh instead of the image's entrypoint and command.
	// +optional
	command string,
	// Arguments of the image's entrypoint in place of its command, as
	// compose's command: (an image with no shell, such as nats, takes these).
	// +optional
	args []string,
	// Port the service listens on, forwarded in the Stack.
	// +optional
	port int,
	// Absolute path of a folder of the service kept per project across
	// runs, as a compose named volume (such as /data).
	// +optional
	volume string,
	// Path of its HTTP health check while it runs (an answer below 500 is
	// healthy); without it, its port is checked.
	// +optional
	healthPath string,
) (*Commandcenter, error) {
	e := ExtraSettings{Name: name, Image: image, Dockerfile: dockerfile, Context: context, BuildArgs: buildArgs,
		Command: command, Args: args, Port: port, Volume: volume, HealthPath: healthPath}
	if err := e.check(); err != nil {
		return nil, fmt.Errorf("with-service %s: %w", name, err)
	}
	for _, x := range m.Extras {
		if x.Name == name {
			return nil, fmt.Errorf("with-service: there is a service named %q already: give this one another name", name)
		}
	}
	m.Extras = append(m.Extras, e)
	return m, nil
}

func (e ExtraSettings) check() error {
	if err := check.ServiceName(e.Name, "with-service --name"); err != nil {
		return err
	}
	built := e.Dockerfile != "" || e.Context != ""
	switch {
	case e.Command != "" && len(e.Args) > 0:
		return fmt.Errorf("--command replaces the image's entrypoint and --args its command: give one of them")
	case e.Image == "" && !built:
		return fmt.Errorf("give the image it runs (--image=nats:2), or the build it comes from (--context=FOLDER, --dockerfile=PATH in it)")
	case e.Image != "" && (built || len(e.BuildArgs) > 0):
		return fmt.Errorf("--context, --dockerfile and --build-args are for a build, and the service runs --image %s: give one or the other", e.Image)
	case e.Port != 0:
		if err := check.Port(e.Port, "with-service --port"); err != nil {
			return err
		}
	}
	if built {
		if _, _, err := e.build(); err != nil {
			return err
		}
	}
	if e.Volume != "" {
		if err := check.AbsPath(e.Volume, "with-service --volume", keepRoot); err != nil {
			return err
		}
	}
	if e.HealthPath != "" && (e.Port == 0 || !strings.HasPrefix(e.HealthPath, "/")) {
		return fmt.Errorf("--health-path %q needs --port, and a path such as /healthz", e.HealthPath)
	}
	return nil
}

// build is how the service's Dockerfile builds, as compose's build: does:
// its context, a folder of the source (default: the source itself), and
// the Dockerfile's path in it (default: Dockerfile).
func (e ExtraSettings) build() (context, dockerfile string, err error) {
	context, dockerfile = e.Context, e.Dockerfile
	if context == "" {
		context = "."
	}
	if dockerfile == "" {
		dockerfile = "Dockerfile"
	}
	if err := check.Subdir(context, "with-service --context"); err != nil {
		return "", "", err
	}
	if err := check.Subdir(path.Join(context, dockerfile), "with-service --dockerfile (a path in --context)"); err != nil {
		return "", "", err
	}
	return context, dockerfile, nil
}

// checkExtras refuses a service named like another of the project's.
func (m *Commandcenter) checkExtras() error {
	for _, e := range m.Extras {
		if slices.Contains(stackNames, e.Name) {
			return fmt.Errorf("with-service: %q is the name of one of the stack's services: give the service another name", e.Name)
		}
		if slices.ContainsFunc(m.Workers, func(w WorkerSettings) bool { return w.Name == e.Name }) {
			return fmt.Errorf("with-service: %q is the name of a worker (with-worker): give the service another name", e.Name)
		}
	}
	return nil
}

// folderKind names the volume of the service's kept folder.
func (e ExtraSettings) folderKind() string {
	return "svc-" + e.Name + "-" + strings.TrimPrefix(folderKind(e.Volume), "files-")
}

// extra is the service e, from its image or built from its Dockerfile in
// src; its env is what the project gives it by name.
func (m *Commandcenter) extra(ctx context.Context, src *dagger.Directory, e ExtraSettings, env environment) (service, error) {
	what := "service " + e.Name
	var ctr *dagger.Container
	var from string
	if e.Image != "" {
		ctr, from = dag.Container().From(e.Image), "image "+e.Image
	} else {
		dir, dockerfile, _ := e.build()
		built, err := dockerImage(ctx, src, dir, DockerfileSettings{Dockerfile: dockerfile, BuildArgs: e.BuildArgs}, what, "with-service "+e.Name)
		if err != nil {
			return service{}, err
		}
		ctr, from = built, path.Join(dir, dockerfile)
	}
	args, err := imageCommand(ctx, ctr, e.Args)
	if err != nil {
		return service{}, fmt.Errorf("%s: cannot read what %s runs: %w (fix with-service --image or its build)", what, from, err)
	}
	if len(args) == 0 && e.Command == "" {
		return service{}, fmt.Errorf("%s: %s has no ENTRYPOINT or CMD: give the service a command (with-service --command)", what, from)
	}
	if e.Command != "" {
		args = shell(e.Command)
	}
	vars := env.forExtra(e.Name)
	s := service{name: e.Name, ctr: withEnv(ctr, vars), args: args, port: e.Port, own: true, mask: secretNames(vars), env: supervised(vars)}
	if e.Volume != "" {
		// The folder is a link to the project's volume, mounted where the
		// engine's GC policies recognise the project's data; what the image
		// has at the path (often an empty folder its VOLUME declares) gives
		// way to it.
		kind := e.folderKind()
		s.ctr = m.withVolumes(s.ctr.WithoutDirectory(e.Volume), kind).WithSymlink(keepPath(kind), e.Volume)
		s.folders = []string{kind}
	}
	if e.Port != 0 {
		target := fmt.Sprintf("127.0.0.1:%d", e.Port)
		if e.HealthPath != "" {
			target = "http://" + target + e.HealthPath
		}
		s.health = []contract.HealthCheck{{Name: e.Name, Target: target}}
	}
	return s, nil
}

// extras are the project's services of with-service.
func (m *Commandcenter) extras(ctx context.Context, src *dagger.Directory, env environment) ([]service, error) {
	var out []service
	for _, e := range m.Extras {
		s, err := m.extra(ctx, src, e, env)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// Service starts one of the project's services of with-service alone, with
// its kept folder: `dagger call service --src=. --name=nats up --ports
// 4222:4222`.
func (m *Commandcenter) Service(
	ctx context.Context,
	// The project's source folder (for a service built from a Dockerfile).
	// +ignore=[".git", "**/node_modules", "**/.venv", "**/__pycache__", "**/.pytest_cache", "**/.mypy_cache", "**/dist", "**/.next"]
	src *dagger.Directory,
	// Name of the service (with-service --name).
	name string,
) (*dagger.Service, error) {
	if err := m.checkSettings(); err != nil {
		return nil, fmt.Errorf("service: %w", err)
	}
	var names []string
	for _, e := range m.Extras {
		if e.Name != name {
			names = append(names, e.Name)
			continue
		}
		r, err := m.prepare(ctx, src, needs{})
		if err != nil {
			return nil, err
		}
		s, err := m.extra(ctx, src, e, r.env)
		if err != nil {
			return nil, err
		}
		return m.run(s, r.supervisor), nil
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("service %q: the project has no services of its own: add one with with-service", name)
	}
	return nil, fmt.Errorf("service %q: the project has no service of that name (it has %s)", name, strings.Join(names, ", "))
}
