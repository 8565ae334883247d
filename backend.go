package main

import (
	"context"
	"fmt"
	"path"
	"strconv"
	"strings"

	"dagger/commandcenter/internal/check"
	"dagger/commandcenter/internal/dagger"
	"dagger/commandcenter/internal/manifest"
)

// BackendSettings are the settings of the project's Python backend, which
// its workers share.
type BackendSettings struct {
	Dir            string
	PythonVersion  string
	App            string
	Port           int
	Command        string
	Prestart       string
	DatabaseScheme string
	Requirements   []string
	Extras         []string
	Build          DockerfileSettings
}

func defaultBackend() BackendSettings {
	return BackendSettings{Dir: "backend", PythonVersion: defaultPythonVersion, App: "app.main:app", Port: 8000,
		DatabaseScheme: "postgresql"}
}

func (s BackendSettings) check() error {
	if err := check.Subdir(s.Dir, "with-backend --dir"); err != nil {
		return err
	}
	if _, err := check.ImageRef(pythonImage, pythonTags, s.PythonVersion, "with-backend --python-version"); err != nil {
		return err
	}
	if s.Command == "" {
		if err := check.App(s.App); err != nil {
			return err
		}
	}
	for _, r := range s.Requirements {
		if err := check.Subdir(r, "with-backend --requirements"); err != nil {
			return err
		}
	}
	if err := s.Build.check("with-backend"); err != nil {
		return err
	}
	if !schemePattern(s.DatabaseScheme) {
		return fmt.Errorf("database scheme %q is not a URL scheme: set with-backend --database-scheme to one such as postgresql, postgresql+asyncpg or postgresql+psycopg", s.DatabaseScheme)
	}
	return check.Port(s.Port, "with-backend --port")
}

func schemePattern(s string) bool {
	if s == "" || !strings.HasPrefix(s, "postgres") {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// WithBackend sets the project's Python backend, which its workers share.
// Options not given keep their values (by default: folder backend, Python
// 3.13, uvicorn serving app.main:app on port 8000, requirements.txt, or
// pyproject.toml when there is no requirements.txt).
func (m *Commandcenter) WithBackend(
	// Folder of the backend inside src.
	// +optional
	dir string,
	// Python version: 3.11, 3.12, 3.13 or 3.14.
	// +optional
	pythonVersion string,
	// ASGI application uvicorn serves, as MODULE:ATTRIBUTE.
	// +optional
	app string,
	// Port the backend listens on.
	// +optional
	port int,
	// Command that runs the server instead of uvicorn, run with sh; it must
	// listen on 0.0.0.0 and $PORT.
	// +optional
	command string,
	// Shell command run just before the server starts, such as migrations
	// (alembic upgrade head) or seed data.
	// +optional
	prestart string,
	// Scheme of DATABASE_URL, for the driver the app uses:
	// postgresql+asyncpg, postgresql+psycopg, ... (default postgresql).
	// +optional
	databaseScheme string,
	// Requirements files pip installs, in the backend's folder (default
	// requirements.txt). The files and local libraries they name (-r, -c,
	// -e ../libs/NAME) are installed with them.
	// +optional
	requirements []string,
	// Optional dependency groups of pyproject.toml to install too.
	// +optional
	extras []string,
	// Build the backend from this Dockerfile of its folder (the build's
	// context), as compose's build: does, instead of from its manifests; it
	// runs the image's entrypoint and command unless --command says
	// otherwise, and gets the same env.
	// +optional
	dockerfile string,
	// Build arguments of the Dockerfile, KEY=VALUE.
	// +optional
	buildArgs []string,
	// Stage of the Dockerfile to build (default: the last).
	// +optional
	target string,
) (*Commandcenter, error) {
	setIf(&m.Be.Dir, dir)
	setIf(&m.Be.PythonVersion, pythonVersion)
	setIf(&m.Be.App, app)
	setIf(&m.Be.Command, command)
	setIf(&m.Be.Prestart, prestart)
	setIf(&m.Be.DatabaseScheme, databaseScheme)
	if port != 0 {
		m.Be.Port = port
	}
	if len(requirements) > 0 {
		m.Be.Requirements = requirements
	}
	if len(extras) > 0 {
		m.Be.Extras = extras
	}
	m.Be.Build.set(dockerfile, buildArgs, target)
	if err := m.Be.check(); err != nil {
		return nil, fmt.Errorf("with-backend: %w", err)
	}
	return m, nil
}

// WithVolume keeps a folder of the backend and its workers across runs, per
// project, as a compose named volume does (such as /app/storage): the
// backend and every worker see the same files. Wipe deletes it with the rest
// of the project's data.
func (m *Commandcenter) WithVolume(
	// Absolute path of the folder in the backend's and workers' containers.
	path string,
) (*Commandcenter, error) {
	if err := check.AbsPath(path, "with-volume --path", keepRoot); err != nil {
		return nil, err
	}
	for _, f := range m.Folders {
		if f == path {
			return m, nil
		}
	}
	m.Folders = append(m.Folders, path)
	return m, nil
}

// folderKind names the volume of a persistent folder: the path, with dots
// for slashes.
func folderKind(p string) string {
	return "files-" + strings.ReplaceAll(strings.Trim(path.Clean(p), "/"), "/", ".")
}

// appDir is where the backend's source goes in its container.
const appDir = "/app"

// depsRoot is where the install step sees the manifests and local libraries
// at their places in src, so that relative paths in them hold.
const depsRoot = "/opt/commandcenter/src"

// backendBuild is the backend's image, which its workers and tests share:
// built by the module (its processes start with the launcher), or from the
// project's Dockerfile (they run its command).
type backendBuild struct {
	ctr *dagger.Container
	// docker: the image of a Dockerfile, and its command.
	docker *dockerBuilt
	// sync is how its processes take the live-reload watcher's files
	// (none from a Dockerfile's image: where its source went is its own).
	sync *syncSpec
}

// backendImage is the backend's image: from its Dockerfile, or built by
// the module: its dependencies installed in a layer that depends on the
// manifests and the local libraries they name alone, then its source on
// top, so that a change to the source reinstalls nothing.
func (m *Commandcenter) backendImage(ctx context.Context, src *dagger.Directory) (backendBuild, error) {
	if m.Be.Build.Dockerfile != "" {
		built, err := dockerBuild(ctx, src, m.Be.Dir, m.Be.Build, "backend", "with-backend")
		return backendBuild{ctr: built.ctr, docker: &built}, err
	}
	img, spec, err := m.moduleBackendImage(ctx, src)
	return backendBuild{ctr: img, sync: spec}, err
}

func (m *Commandcenter) moduleBackendImage(ctx context.Context, src *dagger.Directory) (*dagger.Container, *syncSpec, error) {
	ref, _ := check.ImageRef(pythonImage, pythonTags, m.Be.PythonVersion, "")
	deps := dag.Container().
		From(ref).
		WithEnvVariable("PYTHONUNBUFFERED", "1").
		WithEnvVariable("PYTHONDONTWRITEBYTECODE", "1").
		WithEnvVariable("PIP_DISABLE_PIP_VERSION_CHECK", "1").
		WithEnvVariable("PIP_ROOT_USER_ACTION", "ignore").
		WithMountedCache("/root/.cache/pip", dag.CacheVolume("commandcenter-pip"))
	listed, err := listFolder(ctx, src, m.Be.Dir, "with-backend --dir")
	if err != nil {
		return nil, nil, fmt.Errorf("backend: %w", err)
	}
	deps, plan, err := m.backendManifests(ctx, src, listed, deps)
	if err != nil {
		return nil, nil, fmt.Errorf("backend: %w", err)
	}
	installedDeps, err := installed(ctx, deps.
		WithWorkdir(path.Join(depsRoot, m.Be.Dir)).
		WithExec(plan.install),
		"backend", "fix "+m.Be.Dir+"'s requirements (pip's output below names the requirement)")
	if err != nil {
		return nil, nil, err
	}
	exclude, err := dockerignore(ctx, src, m.Be.Dir, listed)
	if err != nil {
		return nil, nil, err
	}
	exclude = append(exclude, ".venv", "venv", "**/__pycache__", ".pytest_cache", ".git", "node_modules")
	for _, f := range m.Folders {
		if rel, ok := strings.CutPrefix(f, appDir+"/"); ok {
			exclude = append(exclude, rel) // the persistent folder takes its place
		}
	}
	// Live reload: a changed manifest of the backend's folder goes where
	// the install ran too, and the install runs again there.
	spec := &syncSpec{root: appDir, dir: m.Be.Dir, ignore: exclude, restart: true}
	for _, f := range plan.manifests {
		if rel, ok := inFolder(f, m.Be.Dir); ok {
			spec.deps = append(spec.deps, rel)
		}
	}
	spec.depsRun = installIn(appDir, path.Join(depsRoot, m.Be.Dir), spec.deps, plan.again)
	return installedDeps.
		WithFile(pyprojectDepsPath, entrypoint("pyproject_deps.py")).
		WithDirectory(appDir, src.Directory(m.Be.Dir), dagger.ContainerWithDirectoryOpts{Exclude: exclude}).
		WithWorkdir(appDir), spec, nil
}

// inFolder is the path p of src relative to its folder dir, when it is in it.
func inFolder(p, dir string) (string, bool) {
	if dir == "." {
		return p, true
	}
	return strings.CutPrefix(p, dir+"/")
}

// installPlan is how the backend's dependencies install: the command, the
// command that installs them again in a running container after a
// manifest changed (live reload), and the manifests it reads (paths of src).
type installPlan struct {
	install, again []string
	manifests      []string
}

// backendManifests copies into deps, under depsRoot, the files the
// install step needs (listed is the backend's folder): the requirements
// files and what they name (other requirement and constraint files, local
// libraries), or the dependencies of pyproject.toml; it returns how they
// install.
func (m *Commandcenter) backendManifests(ctx context.Context, src *dagger.Directory, listed folder, deps *dagger.Container) (*dagger.Container, installPlan, error) {
	dir := m.Be.Dir
	reqs := m.Be.Requirements
	if len(reqs) == 0 {
		if !listed.file("requirements.txt") {
			return m.pyprojectManifest(ctx, src, listed, deps)
		}
		reqs = []string{"requirements.txt"}
	}
	install := []string{"pip", "install"}
	files := map[string]bool{}
	var queue []string
	for _, r := range reqs {
		p := path.Join(dir, r)
		missing := fmt.Errorf("%s has no %s: add it, or fix with-backend --requirements (or --dir)", dir, r)
		if !strings.Contains(r, "/") && !listed.file(r) {
			return nil, installPlan{}, missing
		}
		if err := fileExists(ctx, src, p, missing); err != nil {
			return nil, installPlan{}, err
		}
		queue = append(queue, p)
		install = append(install, "-r", r)
	}
	folders := map[string]bool{}
	for len(queue) > 0 {
		file := queue[0]
		queue = queue[1:]
		if files[file] {
			continue
		}
		files[file] = true
		text, err := src.File(file).Contents(ctx)
		if err != nil {
			return nil, installPlan{}, err
		}
		for _, ref := range manifest.Requirements(text) {
			// -r and -c are relative to the file that names them; local
			// projects to the folder pip runs in, the backend's.
			base := dir
			if ref.Include {
				base = path.Dir(file)
			}
			p, err := manifest.Resolve(ref, base, file)
			if err != nil {
				return nil, installPlan{}, err
			}
			what := fmt.Sprintf("names %s (line %d), which is not in --src as %s: fix the line, or pass the folder that holds it as --src", ref.Path, ref.Line, p)
			if ref.Include {
				if err := fileExists(ctx, src, p, fmt.Errorf("%s %s", file, what)); err != nil {
					return nil, installPlan{}, err
				}
				queue = append(queue, p)
				continue
			}
			ok, err := src.Exists(ctx, p)
			if err != nil {
				return nil, installPlan{}, err
			}
			if !ok {
				return nil, installPlan{}, fmt.Errorf("%s %s", file, what)
			}
			folders[p] = true
		}
	}
	for _, f := range check.SortedKeys(files) {
		deps = deps.WithFile(path.Join(depsRoot, f), src.File(f))
	}
	for _, f := range check.SortedKeys(folders) {
		deps = deps.WithDirectory(path.Join(depsRoot, f), src.Directory(f), dagger.ContainerWithDirectoryOpts{
			Exclude: []string{".git", ".venv", "venv", "**/__pycache__", "**/*.egg-info", "build", "node_modules"},
		})
	}
	return deps, installPlan{install: install, again: install, manifests: check.SortedKeys(files)}, nil
}

// pyprojectManifest installs the dependencies a pyproject.toml lists (not
// the project itself, which is the source: it runs from the backend's
// folder).
func (m *Commandcenter) pyprojectManifest(ctx context.Context, src *dagger.Directory, listed folder, deps *dagger.Container) (*dagger.Container, installPlan, error) {
	p := path.Join(m.Be.Dir, "pyproject.toml")
	if !listed.file("pyproject.toml") {
		return nil, installPlan{}, fmt.Errorf("%s has no requirements.txt and no pyproject.toml: add one, or set with-backend --dir to the folder that has it", m.Be.Dir)
	}
	text, err := src.File(p).Contents(ctx)
	if err != nil {
		return nil, installPlan{}, err
	}
	reqs, err := manifest.Pyproject(text, m.Be.Extras)
	if err != nil {
		return nil, installPlan{}, fmt.Errorf("%s: %w", p, err)
	}
	const generated = "/opt/commandcenter/pyproject-requirements.txt"
	install := []string{"pip", "install", "-r", generated}
	// Live reload lists a changed pyproject.toml's dependencies the same
	// way in the container (pyproject_deps.py), then installs them.
	again := []string{"sh", "-c", "python " + pyprojectDepsPath + " " + shellLine(append([]string{"pyproject.toml"}, m.Be.Extras...)) + " >" + generated + " && " + shellLine(install)}
	return deps.WithNewFile(generated, reqs), installPlan{install: install, again: again, manifests: []string{p}}, nil
}

const launcherPath = "/usr/local/lib/commandcenter/launch.py"

// pyprojectDepsPath is where the backend's image keeps pyproject_deps.py.
const pyprojectDepsPath = "/usr/local/lib/commandcenter/pyproject_deps.py"

// appProcess sets up a process of the backend's image, the backend or a
// worker: the connection variables, the project's env for it, and the
// persistent folders.
func (m *Commandcenter) appProcess(img backendBuild, name string, l links, env []envVar) *dagger.Container {
	ctr := img.ctr
	if l.rdPassword != nil {
		// For the launcher's or the supervisor's AUTH before PING.
		ctr = ctr.WithSecretVariable("COMMANDCENTER_REDIS_PASSWORD", l.rdPassword)
	}
	if img.docker == nil {
		ctr = ctr.
			WithFile(launcherPath, entrypoint("launch.py")).
			WithEnvVariable("COMMANDCENTER_SERVICE", name).
			WithEnvVariable("COMMANDCENTER_WAIT", strings.Join(l.waits, " "))
	}
	for _, f := range m.Folders {
		mount := keepPath(folderKind(f))
		ctr = ctr.
			WithMountedCache(mount, m.volume(folderKind(f))).
			WithSymlink(mount, f)
	}
	// The project's own env comes last: a variable of its own wins over the
	// module's of the same name.
	return withEnv(withEnv(ctr, l.vars), env)
}

// backend is the project's backend server on img, a backendImage. The
// module's image starts it with the launcher, which waits for what l says
// and runs the prestart command; an image of the project's Dockerfile runs
// its own command, after the supervisor did that.
func (m *Commandcenter) backend(img backendBuild, l links, env environment) service {
	ctr := m.appProcess(img, "backend", l, env.forService("backend", false)).
		WithEnvVariable("PORT", strconv.Itoa(m.Be.Port))
	s := service{name: "backend", port: m.Be.Port, own: true}
	switch {
	case img.docker != nil:
		s.args, s.waits, s.prestart = img.docker.args, l.waits, m.Be.Prestart
		if m.Be.Command != "" {
			s.args = shell(m.Be.Command)
		}
	case m.Be.Command == "":
		// The launcher imports the app while it waits, then serves it.
		ctr = ctr.WithEnvVariable("COMMANDCENTER_APP", m.Be.App)
		s.args = []string{"python", launcherPath, "--host", "0.0.0.0", "--port", strconv.Itoa(m.Be.Port)}
	default:
		s.args = append([]string{"python", launcherPath}, shell(m.Be.Command)...)
	}
	if img.docker == nil {
		ctr = ctr.WithEnvVariable("COMMANDCENTER_PRESTART", m.Be.Prestart)
	}
	s.ctr = ctr
	return m.live(s, img.sync)
}

// Backend starts the project's Python web backend as a service.
//
// It is built from the backend folder's requirements (installed with pip,
// with the files and local libraries they name) or pyproject.toml, and runs
// an ASGI server (uvicorn on the app, by default) on 0.0.0.0, bound to
// Postgres as "postgres" and Redis as "redis", which it reaches with the
// variables of the README's table (DATABASE_URL, REDIS_URL, POSTGRES_*,
// PG*, REDIS_*). Without postgres or redis it starts the project's own.
//
// +cache="session"
func (m *Commandcenter) Backend(
	ctx context.Context,
	// The project's source folder.
	// +ignore=[".git", "**/node_modules", "**/.venv", "**/__pycache__", "**/.pytest_cache", "**/.mypy_cache", "**/dist", "**/.next"]
	src *dagger.Directory,
	// Postgres service to use instead of the project's own.
	// +optional
	postgres *dagger.Service,
	// URL of the given postgres service: the backend's DATABASE_URL (the
	// other Postgres variables are then not set).
	// +optional
	databaseUrl *dagger.Secret,
	// Redis service to use instead of the project's own.
	// +optional
	redis *dagger.Service,
	// URL of the given redis service: the backend's REDIS_URL.
	// +optional
	redisUrl *dagger.Secret,
) (*dagger.Service, error) {
	if err := m.checkSettings(); err != nil {
		return nil, fmt.Errorf("backend: %w", err)
	}
	if (postgres == nil) != (databaseUrl == nil) || (redis == nil) != (redisUrl == nil) {
		return nil, fmt.Errorf("backend: give a service with its URL (--postgres with --database-url, --redis with --redis-url), or neither")
	}
	var volumes []string
	if postgres == nil {
		volumes = append(volumes, m.postgresVolume())
	}
	if redis == nil {
		volumes = append(volumes, "redis")
	}
	r, err := m.prepare(ctx, src, needs{project: true, volumes: volumes, postgres: postgres == nil, backend: true})
	if err != nil {
		return nil, err
	}
	l := m.projectLinks(r.pw, boundPeers)
	var own links
	if postgres == nil {
		postgres = m.postgres(r.postgres, r.pw.pg, true).run(nil)
		own.vars = m.postgresVars(r.pw.pg, boundPeers.postgres)
		own.waits = l.waits[:1]
	} else {
		own.vars = []envVar{{name: "DATABASE_URL", secret: databaseUrl}}
	}
	if redis == nil {
		redis = m.redis(r.pw.rd, true).run(nil)
		own.vars = append(own.vars, m.redisVars(r.pw.rd, boundPeers.redis)...)
		own.waits = append(own.waits, l.waits[1])
		own.rdPassword = r.pw.rd.secret
	} else {
		own.vars = append(own.vars, envVar{name: "REDIS_URL", secret: redisUrl})
	}
	be := m.backend(r.backend, own, r.env)
	be.ctr = be.ctr.WithServiceBinding(boundPeers.postgres, postgres).WithServiceBinding(boundPeers.redis, redis)
	return be.run(r.supervisor), nil
}

// folder is what a folder of src holds: the names of its files, and of its
// folders with a trailing slash.
type folder map[string]bool

func (f folder) file(name string) bool { return f[name] }

// listFolder lists the folder dir of src in one round trip, or says, as an
// error, that src lacks it and which option points elsewhere.
func listFolder(ctx context.Context, src *dagger.Directory, dir, option string) (folder, error) {
	names, err := src.Entries(ctx, dagger.DirectoryEntriesOpts{Path: dir})
	if err != nil {
		ok, xerr := src.Exists(ctx, dir, dagger.DirectoryExistsOpts{ExpectedType: dagger.ExistsTypeDirectoryType})
		if xerr == nil && !ok {
			return nil, fmt.Errorf("src has no folder %q: pass the project's root as --src, or set %s to the folder that has the service", dir, option)
		}
		return nil, err
	}
	f := folder{}
	for _, n := range names {
		f[n] = true
	}
	return f, nil
}

// fileExists returns missing when src lacks the file p.
func fileExists(ctx context.Context, src *dagger.Directory, p string, missing error) error {
	ok, err := src.Exists(ctx, p, dagger.DirectoryExistsOpts{ExpectedType: dagger.ExistsTypeRegularType})
	if err != nil {
		return err
	}
	if !ok {
		return missing
	}
	return nil
}
