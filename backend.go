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

// backendLinks say how the backend reaches Postgres and Redis: bound to
// the services, which then start first, or, with wait set, by the hostnames
// in the URLs, starting at the same time as they do and waiting for wait
// (postgres://HOST:PORT, redis://HOST:PORT or HOST:PORT of each) to be ready
// before the server starts.
type backendLinks struct {
	pg, rd       *dagger.Service
	pgURL, rdURL *dagger.Secret
	wait         []string
}

// launcherPath is where the Stack's backend launcher goes in the container.
const launcherPath = "/usr/local/lib/commandcenter/launch.py"

// backendService runs the backend on ctr, a backendContainer; member is nil
// outside a Stack.
func (m *Commandcenter) backendService(ctr *dagger.Container, o backendOpts, l backendLinks, member *stackMember) *dagger.Service {
	command := o.Command
	if len(l.wait) > 0 {
		ctr = ctr.
			WithNewFile(launcherPath, spec.BackendLauncher).
			WithEnvVariable("COMMANDCENTER_WAIT", strings.Join(l.wait, " ")).
			WithEnvVariable("COMMANDCENTER_PRESTART", o.Prestart)
		if len(command) == 0 {
			// The launcher imports the app while it waits, then serves it.
			ctr = ctr.WithEnvVariable("COMMANDCENTER_APP", o.App)
			command = []string{"python", launcherPath, "--host", "0.0.0.0", "--port", strconv.Itoa(o.Port)}
		} else {
			command = append([]string{"python", launcherPath}, command...)
		}
	} else {
		ctr = ctr.WithServiceBinding("postgres", l.pg).WithServiceBinding("redis", l.rd)
		if len(command) == 0 {
			command = []string{"python", "-m", "uvicorn", o.App, "--host", "0.0.0.0", "--port", strconv.Itoa(o.Port)}
		}
		if o.Prestart != "" {
			// The prestart command runs in the same container, just before the server.
			command = append([]string{"sh", "-c", o.Prestart + "\nexec \"$@\"", "prestart"}, command...)
		}
	}
	return member.serve(ctr.
		WithSecretVariable("DATABASE_URL", l.pgURL).
		WithSecretVariable("REDIS_URL", l.rdURL).
		WithEnvVariable("PORT", strconv.Itoa(o.Port)),
		o.Port, command)
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
	links, err := m.dependencies(ctx, defaultPostgres(), postgres, databaseUrl, defaultRedis(), redis, redisUrl)
	if err != nil {
		return nil, err
	}
	ctr, err := m.backendContainer(ctx, src, o)
	if err != nil {
		return nil, err
	}
	return m.backendService(ctr, o, links, nil), nil
}

// dependencies fills in the services and URLs the caller did not give.
func (m *Commandcenter) dependencies(ctx context.Context,
	pgOpts postgresOpts, pg *dagger.Service, pgURL *dagger.Secret,
	rdOpts redisOpts, rd *dagger.Service, rdURL *dagger.Secret,
) (d backendLinks, err error) {
	d = backendLinks{pg: pg, pgURL: pgURL, rd: rd, rdURL: rdURL}
	// Generated passwords are looked up once here, for both the services and
	// their URLs: the lookup is an exec that reads the project's volume.
	var needPg *postgresOpts
	if d.pg == nil || d.pgURL == nil {
		needPg = &pgOpts
	}
	var needRd *redisOpts
	if d.rd == nil || d.rdURL == nil {
		needRd = &rdOpts
	}
	if err := m.withPasswords(ctx, needPg, needRd); err != nil {
		return d, err
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
		if d.rd, err = m.redis(ctx, rdOpts, nil); err != nil {
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
