package main

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"dagger/commandcenter/internal/dagger"
	"dagger/commandcenter/internal/spec"
)

// backendOpts are the settings of the project's Python backend.
type backendOpts struct {
	Dir      string
	Version  string
	App      string
	Port     int
	Command  []string
	Prestart string
}

func (o backendOpts) check() error {
	if err := spec.Subdir(o.Dir, "--backend-dir"); err != nil {
		return err
	}
	if _, err := spec.ImageRef(pythonImage, pythonTags, o.Version, "--python-version"); err != nil {
		return err
	}
	if len(o.Command) == 0 && !appPattern.MatchString(o.App) {
		return fmt.Errorf("app %q is not an ASGI app reference: set --app to MODULE:ATTRIBUTE, such as \"app.main:app\"", o.App)
	}
	return spec.Port(o.Port, "--backend-port")
}

var appPattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.]*:[A-Za-z_][A-Za-z0-9_.()]*$`)

// backendContainer is the backend's image: its requirements installed in a
// layer that depends on requirements.txt alone, then its source on top, so a
// change to the source reinstalls nothing.
func (m *Commandcenter) backendContainer(ctx context.Context, src *dagger.Directory, o backendOpts) (*dagger.Container, error) {
	ref, err := spec.ImageRef(pythonImage, pythonTags, o.Version, "--python-version")
	if err != nil {
		return nil, err
	}
	dir := src.Directory(o.Dir)
	reqs, err := readManifest(ctx, src, o.Dir, "requirements.txt", "--backend-dir")
	if err != nil {
		return nil, fmt.Errorf("backend: %w", err)
	}
	if err := spec.Requirements(reqs); err != nil {
		return nil, fmt.Errorf("backend: %s/requirements.txt: %w", o.Dir, err)
	}
	deps, err := installed(ctx, dag.Container().
		From(ref).
		WithEnvVariable("PYTHONUNBUFFERED", "1").
		WithEnvVariable("PYTHONDONTWRITEBYTECODE", "1").
		WithEnvVariable("PIP_DISABLE_PIP_VERSION_CHECK", "1").
		WithEnvVariable("PIP_ROOT_USER_ACTION", "ignore").
		WithMountedCache("/root/.cache/pip", dag.CacheVolume("commandcenter-pip")).
		WithWorkdir("/app").
		WithNewFile("/app/requirements.txt", reqs).
		WithExec([]string{"pip", "install", "-r", "requirements.txt"}),
		"backend", "fix "+o.Dir+"/requirements.txt (pip's output below names the requirement)")
	if err != nil {
		return nil, err
	}
	return deps.WithDirectory("/app", dir, dagger.ContainerWithDirectoryOpts{
		Exclude: []string{".venv", "venv", "**/__pycache__", ".pytest_cache"},
	}), nil
}

// backendService runs the backend bound to the given Postgres and Redis.
func (m *Commandcenter) backendService(ctx context.Context, src *dagger.Directory, o backendOpts,
	pg *dagger.Service, pgURL *dagger.Secret, rd *dagger.Service, rdURL *dagger.Secret,
) (*dagger.Service, error) {
	ctr, err := m.backendContainer(ctx, src, o)
	if err != nil {
		return nil, err
	}
	command := o.Command
	if len(command) == 0 {
		command = []string{"python", "-m", "uvicorn", o.App, "--host", "0.0.0.0", "--port", strconv.Itoa(o.Port)}
	}
	if o.Prestart != "" {
		// The prestart command runs in the same container, just before the server.
		command = append([]string{"sh", "-c", o.Prestart + "\nexec \"$@\"", "prestart"}, command...)
	}
	return ctr.
		WithServiceBinding("postgres", pg).
		WithServiceBinding("redis", rd).
		WithSecretVariable("DATABASE_URL", pgURL).
		WithSecretVariable("REDIS_URL", rdURL).
		WithEnvVariable("PORT", strconv.Itoa(o.Port)).
		WithExposedPort(o.Port).
		AsService(dagger.ContainerAsServiceOpts{Args: command}), nil
}

// Backend starts the project's Python web backend as a service.
//
// It is built from the backend folder's requirements.txt (installed with pip)
// and runs an ASGI server (uvicorn on the app, by default) on 0.0.0.0, bound
// to Postgres as "postgres" and Redis as "redis", whose URLs it gets in
// DATABASE_URL and REDIS_URL. Without postgres or redis it starts the
// project's own, with the module's defaults.
//
// +cache="session"
func (m *Commandcenter) Backend(
	ctx context.Context,
	// The project's source folder.
	src *dagger.Directory,
	// Folder of the backend inside src, with requirements.txt.
	// +optional
	// +default="backend"
	dir string,
	// Python version: 3.11, 3.12, 3.13 or 3.14.
	// +optional
	// +default="3.13"
	pythonVersion string,
	// ASGI application uvicorn serves, as MODULE:ATTRIBUTE.
	// +optional
	// +default="app.main:app"
	app string,
	// Port the backend listens on.
	// +optional
	// +default=8000
	port int,
	// Command that runs the server instead of uvicorn; it must listen on 0.0.0.0 and port.
	// +optional
	command []string,
	// Shell command run just before the server starts, such as migrations or seed data.
	// +optional
	prestart string,
	// Postgres service to use; without it the project's own starts.
	// +optional
	postgres *dagger.Service,
	// URL of the given postgres service (DATABASE_URL); without it, the URL of
	// a service made by this module's postgres with its defaults.
	// +optional
	databaseUrl *dagger.Secret,
	// Redis service to use; without it the project's own starts.
	// +optional
	redis *dagger.Service,
	// URL of the given redis service (REDIS_URL); without it, the URL of a
	// service made by this module's redis with its defaults.
	// +optional
	redisUrl *dagger.Secret,
) (*dagger.Service, error) {
	o := backendOpts{Dir: dir, Version: pythonVersion, App: app, Port: port, Command: command, Prestart: prestart}
	if err := o.check(); err != nil {
		return nil, fmt.Errorf("backend: %w", err)
	}
	deps, err := m.dependencies(ctx, defaultPostgres(), postgres, databaseUrl, defaultRedis(), redis, redisUrl)
	if err != nil {
		return nil, err
	}
	return m.backendService(ctx, src, o, deps.pg, deps.pgURL, deps.rd, deps.rdURL)
}

// deps are the database and cache a backend is bound to.
type deps struct {
	pg, rd       *dagger.Service
	pgURL, rdURL *dagger.Secret
}

// dependencies fills in the services and URLs the caller did not give.
func (m *Commandcenter) dependencies(ctx context.Context,
	pgOpts postgresOpts, pg *dagger.Service, pgURL *dagger.Secret,
	rdOpts redisOpts, rd *dagger.Service, rdURL *dagger.Secret,
) (d deps, err error) {
	d = deps{pg: pg, pgURL: pgURL, rd: rd, rdURL: rdURL}
	// A generated password is looked up once here, for both the service and
	// its URL: each lookup is an exec that reads the project's volume.
	if pgOpts.Password == nil && (d.pg == nil || d.pgURL == nil) {
		if pgOpts.Password, err = m.generatedPassword(ctx, "postgres"); err != nil {
			return d, err
		}
	}
	if rdOpts.Password == nil && (d.rd == nil || d.rdURL == nil) {
		if rdOpts.Password, err = m.generatedPassword(ctx, "redis"); err != nil {
			return d, err
		}
	}
	if d.pg == nil {
		if d.pg, err = m.postgres(ctx, pgOpts); err != nil {
			return d, err
		}
	}
	if d.pgURL == nil {
		if d.pgURL, err = m.databaseURL(ctx, pgOpts, "postgres", postgresPort); err != nil {
			return d, err
		}
	}
	if d.rd == nil {
		if d.rd, err = m.redis(ctx, rdOpts); err != nil {
			return d, err
		}
	}
	if d.rdURL == nil {
		if d.rdURL, err = m.redisURL(ctx, rdOpts, "redis", redisPort); err != nil {
			return d, err
		}
	}
	return d, nil
}

func defaultPostgres() postgresOpts {
	return postgresOpts{Version: defaultPostgresVersion, User: "commandcenter", Database: "commandcenter"}
}

func defaultRedis() redisOpts {
	return redisOpts{Version: defaultRedisVersion, Persist: true}
}

// readManifest reads a file the project must have in a folder of src, or says
// which folder or file is missing and which option points elsewhere.
func readManifest(ctx context.Context, src *dagger.Directory, dir, name, option string) (string, error) {
	ok, err := src.Exists(ctx, dir, dagger.DirectoryExistsOpts{ExpectedType: dagger.ExistsTypeDirectoryType})
	if err != nil {
		return "", err
	}
	if !ok {
		return "", fmt.Errorf("src has no folder %q: pass the project's root as --src, or set %s to the folder that holds %s", dir, option, name)
	}
	path := strings.TrimSuffix(dir, "/") + "/" + name
	ok, err = src.Exists(ctx, path, dagger.DirectoryExistsOpts{ExpectedType: dagger.ExistsTypeRegularType})
	if err != nil {
		return "", err
	}
	if !ok {
		return "", fmt.Errorf("%s has no %s: add one, or set %s to the folder that has it", dir, name, option)
	}
	return src.File(path).Contents(ctx)
}
