package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"dagger/commandcenter/internal/compose"
	"dagger/commandcenter/internal/dagger"
)

// ComposePlan reads the project's compose files, as docker compose does
// (interpolation from --env and the source's .env, extends, profiles, the
// merge of several files, the specification's validation), and prints what
// each service becomes in the module, the `dagger call` that runs the
// stack, and each key the module does not honour, one line each. It starts
// nothing.
func (m *Commandcenter) ComposePlan(
	ctx context.Context,
	// The project's source folder, with the compose files.
	// +ignore=[".git", "**/node_modules", "**/.venv", "**/__pycache__", "**/.pytest_cache", "**/.mypy_cache", "**/dist", "**/.next"]
	src *dagger.Directory,
	// Compose files in --src, merged in order (default docker-compose.yml),
	// as docker compose's -f.
	// +optional
	file []string,
	// Variables for the files' ${VAR} (KEY=VALUE), over the source's .env.
	// +optional
	env []string,
	// Profiles to enable, as docker compose's --profile.
	// +optional
	profile []string,
	// Fail on every key the module does not honour, instead of naming it.
	// +optional
	strict bool,
	// Build the backend and the frontend from the files' Dockerfiles, as
	// compose does, instead of the module's own builds (which run the dev
	// server and reload live).
	// +optional
	dockerfiles bool,
) (string, error) {
	r, err := m.composePlan(ctx, src, file, env, profile, strict, dockerfiles)
	if err != nil {
		return "", err
	}
	return r.Text, nil
}

// composePlan plans the compose files of src: the compose planner
// (composeplan) reads them in a container, with src as its working folder.
func (m *Commandcenter) composePlan(ctx context.Context, src *dagger.Directory, file, env, profile []string, strict, dockerfiles bool) (compose.Result, error) {
	vars := map[string]string{}
	for _, kv := range env {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return compose.Result{}, fmt.Errorf("--env %q is not KEY=VALUE", kv)
		}
		vars[k] = v
	}
	options, err := json.Marshal(compose.Options{Files: file, Env: vars, Profiles: profile, Strict: strict,
		Dockerfiles: dockerfiles, BackendPort: m.Be.Port, FrontendPort: m.Fe.Port})
	if err != nil {
		return compose.Result{}, err
	}
	const planner, optionsPath, resultPath = "/usr/local/bin/commandcenter-compose-plan", "/tmp/compose-options.json", "/tmp/compose-plan.json"
	run, err := dag.Container().
		From(golangImage).
		WithFile(planner, composePlanner()).
		WithNewFile(optionsPath, string(options)).
		WithMountedDirectory("/project", src).
		WithWorkdir("/project").
		WithExec([]string{planner, optionsPath, resultPath}, dagger.ContainerWithExecOpts{Expect: dagger.ReturnTypeAny}).
		Sync(ctx)
	if err != nil {
		return compose.Result{}, err
	}
	code, err := run.ExitCode(ctx)
	if err != nil {
		return compose.Result{}, err
	}
	if code != 0 {
		stderr, err := run.Stderr(ctx)
		if err != nil {
			return compose.Result{}, err
		}
		said := strings.TrimSpace(stderr)
		if said == "" {
			return compose.Result{}, fmt.Errorf("the compose planner exited with code %d and said nothing (killed, or out of memory?): run compose-plan again, with --progress=plain to see its container", code)
		}
		return compose.Result{}, errors.New(said)
	}
	// Read from a file, not the program's output, which Dagger's progress
	// shows: a literal database password of the files is in it.
	out, err := run.File(resultPath).Contents(ctx)
	if err != nil {
		return compose.Result{}, err
	}
	var r compose.Result
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		return compose.Result{}, fmt.Errorf("the compose planner's answer: %w", err)
	}
	return r, nil
}

// composePlanner builds the compose planner (composeplan, with the
// composeloader tag), the only program of the module that needs the
// compose specification's library: it is compiled when a project's
// compose files are first read, not with the module.
func composePlanner() *dagger.File {
	return goBuild("composeplan/*.go", "internal/compose/*.go", "internal/dotenv/*.go").
		WithExec(slices.Concat(containerBuild, []string{"-tags=composeloader", "-o", "/out/commandcenter-compose-plan", "./composeplan"})).
		File("/out/commandcenter-compose-plan")
}

// containerBuild is the go build of a program that runs in the containers:
// stripped, and compiled without the debug information that stripping
// drops (about a tenth of a cold compile).
var containerBuild = []string{"go", "build", "-trimpath", "-gcflags=all=-dwarf=false", "-ldflags=-s -w"}

// FromCompose sets the project's settings from its compose files, as
// compose-plan prints them: a later with-* call still overrides them, and
// every key the module does not honour is printed (or, with --strict, an
// error). A literal POSTGRES_PASSWORD of the file is the database's
// password; without one, the project's generated password is.
//
//	dagger call from-compose --src=. stack --src=. up --ports 8000:8000,3000:3000
func (m *Commandcenter) FromCompose(
	ctx context.Context,
	// The project's source folder, with the compose files.
	// +ignore=[".git", "**/node_modules", "**/.venv", "**/__pycache__", "**/.pytest_cache", "**/.mypy_cache", "**/dist", "**/.next"]
	src *dagger.Directory,
	// Compose files in --src, merged in order (default docker-compose.yml).
	// +optional
	file []string,
	// Variables for the files' ${VAR} (KEY=VALUE), over the source's .env.
	// +optional
	env []string,
	// Profiles to enable.
	// +optional
	profile []string,
	// Fail on every key the module does not honour.
	// +optional
	strict bool,
	// Build the backend and the frontend from the files' Dockerfiles, as
	// compose does, instead of the module's own builds.
	// +optional
	dockerfiles bool,
) (*Commandcenter, error) {
	r, err := m.composePlan(ctx, src, file, env, profile, strict, dockerfiles)
	if err != nil {
		return nil, err
	}
	p := r.Plan
	for _, line := range p.Notes {
		fmt.Println("from-compose: " + line)
	}
	if pg := p.Postgres; pg != nil {
		m.Pg.Version = keepVersion(m.Pg.Version, pg.Version, "postgres", func(v string) error {
			s := m.Pg
			s.Version = v
			return s.check()
		})
		setIf(&m.Pg.User, pg.User)
		setIf(&m.Pg.Database, pg.Database)
		if len(pg.Extensions) > 0 {
			m.Pg.Extensions = pg.Extensions
		}
		if pg.HasPasswordLiteral {
			m.Pg.Password = dag.SetSecret("commandcenter-compose-postgres-"+m.volumeName("password"), pg.Password)
		}
		setIf(&m.Pg.Memory, pg.Memory)
	}
	if rd := p.Redis; rd != nil {
		m.Rd.Version = keepVersion(m.Rd.Version, rd.Version, "redis", func(v string) error {
			s := m.Rd
			s.Version = v
			return s.check()
		})
		setIf(&m.Rd.Memory, rd.Memory)
	}
	if be := p.Backend; be != nil {
		m.Be.Dir = be.Dir
		if be.FromDockerfile {
			m.Be.Build.set(be.Dockerfile, be.Context, be.BuildArgs, be.Target)
		} else if len(m.Be.Packages) == 0 {
			m.Be.Packages = be.Packages
		}
		m.Be.WatchIgnore = append(m.Be.WatchIgnore, be.WatchIgnore...)
		setIf(&m.Be.Command, be.Command)
		setIf(&m.Be.Port, be.Port)
		setIf(&m.Be.Memory, be.Memory)
	}
	for _, w := range p.Workers {
		if _, err := m.WithWorker(w.Service, w.Command, w.Port); err != nil {
			return nil, fmt.Errorf("from-compose: service %s: %w", w.Service, err)
		}
	}
	if fe := p.Frontend; fe != nil {
		m.Fe.Dir = fe.Dir
		if fe.FromDockerfile {
			m.Fe.Build.set(fe.Dockerfile, fe.Context, fe.BuildArgs, fe.Target)
		} else if len(m.Fe.Packages) == 0 {
			m.Fe.Packages = fe.Packages
		}
		m.Fe.WatchIgnore = append(m.Fe.WatchIgnore, fe.WatchIgnore...)
		setIf(&m.Fe.Command, fe.Command)
		setIf(&m.Fe.Port, fe.Port)
		setIf(&m.Fe.Memory, fe.Memory)
	}
	for _, e := range p.Extras {
		if _, err := m.WithService(e.Service, e.Image, e.Dockerfile, e.Context, e.BuildArgs, "", e.Args, e.Port, e.Volume, ""); err != nil {
			return nil, fmt.Errorf("from-compose: %w", err)
		}
	}
	for _, f := range p.Folders {
		if _, err := m.WithVolume(f); err != nil {
			return nil, fmt.Errorf("from-compose: %w", err)
		}
	}
	for _, h := range p.HostNames {
		if _, err := m.WithHostName(h.Name, h.Service); err != nil {
			return nil, fmt.Errorf("from-compose: %w", err)
		}
	}
	for _, f := range p.EnvFiles {
		m = m.WithEnvFile(src.File(f.Path), f.Service)
	}
	for _, e := range p.Env {
		if _, err := m.WithEnv(e.Name, e.Value, e.Service); err != nil {
			return nil, fmt.Errorf("from-compose: service %s: %w", e.Service, err)
		}
	}
	if err := m.checkSettings(); err != nil {
		return nil, fmt.Errorf("from-compose: %w", err)
	}
	return m, nil
}

// keepVersion is the compose file's version of a service where the module
// runs it (check), else the module's, saying so.
func keepVersion(current, wanted, what string, check func(string) error) string {
	if err := check(wanted); err != nil {
		fmt.Printf("from-compose: %s %s: not honoured: %v; the module runs %s %s\n", what, wanted, err, what, current)
		return current
	}
	return wanted
}
