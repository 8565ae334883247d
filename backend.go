package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"dagger/commandcenter/internal/check"
	"dagger/commandcenter/internal/contract"
	"dagger/commandcenter/internal/dagger"
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
	Packages       []string
	HealthPath     string
	Build          DockerfileSettings
	// User the module-built image's processes run as: "" (defaultUser),
	// "root" or UID:GID.
	User string
	// Memory is the limit of the backend and of each worker, in bytes (0:
	// none).
	Memory int64
	// WatchIgnore are patterns of files live reload never sends.
	WatchIgnore []string
}

func defaultBackend() BackendSettings {
	return BackendSettings{Dir: "backend", PythonVersion: defaultPythonVersion, App: "app.main:app", Port: 8000,
		DatabaseScheme: "postgresql", HealthPath: "/health"}
}

func (s BackendSettings) check() error {
	if err := check.Subdir(s.Dir, "with-backend --dir"); err != nil {
		return err
	}
	if err := check.IgnorePatterns(s.WatchIgnore, "with-backend --watch-ignore"); err != nil {
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
	if err := checkUser(s.User, s.Build, "with-backend"); err != nil {
		return err
	}
	if err := checkPackages(s.Packages, s.Build, "with-backend"); err != nil {
		return err
	}
	if !strings.HasPrefix(s.HealthPath, "/") || strings.ContainsAny(s.HealthPath, " \t\n") {
		return fmt.Errorf("health path %q is not a URL path: set with-backend --health-path to one such as /health", s.HealthPath)
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
	// Path of the backend's health check while it runs: a GET that answers
	// below 500 is healthy (an app without the path, 404, is checked by its
	// port instead).
	// +optional
	healthPath string,
	// Build the backend from this Dockerfile, a path in the build's
	// context (--context, default its folder), as compose's build: does,
	// instead of from its manifests; it runs the image's entrypoint and
	// command unless --command says otherwise, and gets the same env.
	// +optional
	dockerfile string,
	// Folder of the source the Dockerfile builds in (default the backend's
	// folder), as compose's build: context:, such as "." when the
	// Dockerfile copies libs/ and backend/; --dockerfile is then a path in it
	// (backend/Dockerfile). Its .dockerignore applies.
	// +optional
	context string,
	// Build arguments of the Dockerfile, KEY=VALUE.
	// +optional
	buildArgs []string,
	// Stage of the Dockerfile to build (default: the last).
	// +optional
	target string,
	// Debian packages installed before the dependencies, such as the
	// compiler and headers a wheel builds with (gcc, libpq-dev) or a C
	// library a package binds to; kept in a layer of their own.
	// +optional
	packages []string,
	// User the backend and its workers run as: root, a UID or UID:GID
	// (default 1000:1000, added to the image as "app"). Their source and
	// persistent folders are the user's.
	// +optional
	user string,
	// Most memory the backend's processes may hold together, and each
	// worker's, as compose's mem_limit: 1g, 512m (bytes, k, m or g). The
	// module's supervisor enforces it (see the README's "Memory limits"):
	// over it, the process is ended as a crash and restarted.
	// +optional
	memory string,
	// Files live reload never sends to the backend and workers, as
	// compose's develop.watch ignore: .dockerignore patterns relative to
	// the backend's folder, such as tests/ or *.log.
	// +optional
	watchIgnore []string,
) (*Commandcenter, error) {
	if err := setUser(&m.Be.User, user, "with-backend --user"); err != nil {
		return nil, err
	}
	if err := setMemory(&m.Be.Memory, memory, "with-backend --memory"); err != nil {
		return nil, err
	}
	setIf(&m.Be.Dir, dir)
	setIf(&m.Be.PythonVersion, pythonVersion)
	setIf(&m.Be.App, app)
	setIf(&m.Be.Command, command)
	setIf(&m.Be.Prestart, prestart)
	setIf(&m.Be.DatabaseScheme, databaseScheme)
	setIf(&m.Be.HealthPath, healthPath)
	setIf(&m.Be.Port, port)
	if len(requirements) > 0 {
		m.Be.Requirements = requirements
	}
	if len(extras) > 0 {
		m.Be.Extras = extras
	}
	if len(packages) > 0 {
		m.Be.Packages = packages
	}
	m.Be.Build.set(dockerfile, context, buildArgs, target)
	m.Be.WatchIgnore = append(m.Be.WatchIgnore, watchIgnore...)
	if err := m.Be.check(); err != nil {
		return nil, fmt.Errorf("with-backend: %w", err)
	}
	return m, nil
}

// appProcess sets up a process of the backend's image, the backend or a
// worker: its links to Postgres and Redis, the project's env for it, and the
// persistent folders.
func (m *Commandcenter) appProcess(img builtImage, name string, l links, env []envVar) service {
	// The project's own env wins over the module's variables of the same
	// name, as a compose file's environment does over an image's: the
	// supervisor sets only the others, over what the image has.
	projectVars := append(l.given(), env...)
	own := map[string]bool{}
	for _, v := range projectVars {
		own[v.name] = true
	}
	var linked []contract.EnvVar
	for _, v := range l.env() {
		if !own[v.Name] {
			linked = append(linked, v)
		}
	}
	s := service{name: name, ctr: img.ctr, own: true, env: append(linked, supervised(env)...), folders: m.folderKinds(), memory: m.Be.Memory}
	if img.docker == nil {
		s.user = runAs(m.Be.User)
		s.ctr = s.ctr.
			WithFile(launcherPath, entrypoint("launch.py")).
			WithEnvVariable("COMMANDCENTER_SERVICE", name).
			WithEnvVariable("COMMANDCENTER_WAIT", waitList(l.waits()))
	} else {
		s.waits = l.waits()
	}
	s.ctr = m.withFolders(s.ctr)
	s.ctr = withEnv(withEnv(s.ctr, l.given()), env)
	s.mask = secretNames(projectVars)
	return s
}

// waitList is wait targets as the launcher reads them, space separated.
func waitList(waits []contract.WaitTarget) string {
	parts := make([]string, len(waits))
	for i, w := range waits {
		parts[i] = w.String()
	}
	return strings.Join(parts, " ")
}

// backend is the project's backend server on img, a backendImage. The
// module's image starts it with the launcher, which waits for what l says
// and runs the prestart command; an image of the project's Dockerfile runs
// its own command, after the supervisor did that.
func (m *Commandcenter) backend(img builtImage, l links, env environment) service {
	s := m.appProcess(img, "backend", l, env.forService("backend", false))
	s.port = m.Be.Port
	s.ctr = s.ctr.WithEnvVariable("PORT", strconv.Itoa(m.Be.Port))
	s.health = []contract.HealthCheck{{Name: "backend", Target: fmt.Sprintf("http://127.0.0.1:%d%s", m.Be.Port, m.Be.HealthPath)}}
	switch {
	case img.docker != nil:
		s.args, s.prestart = img.docker.args, m.Be.Prestart
		if m.Be.Command != "" {
			s.args = shell(m.Be.Command)
		}
	case m.Be.Command == "":
		// The launcher imports the app while it waits, then serves it.
		s.ctr = s.ctr.WithEnvVariable("COMMANDCENTER_APP", m.Be.App)
		s.args = []string{"python", launcherPath, "--host", "0.0.0.0", "--port", strconv.Itoa(m.Be.Port)}
	default:
		s.args = append([]string{"python", launcherPath}, shell(m.Be.Command)...)
	}
	if img.docker == nil {
		s.ctr = s.ctr.WithEnvVariable("COMMANDCENTER_PRESTART", m.Be.Prestart)
	}
	s = m.live(s, img.sync)
	if s.sync != nil && img.docker == nil && m.Be.Command == "" {
		// Live reload starts the app again without importing its packages
		// again: the launcher keeps them imported (its Reloader).
		s.sync.Reload = true
		s.ctr = s.ctr.WithEnvVariable("COMMANDCENTER_RELOAD", "preload")
	}
	return s
}

// Backend starts the project's Python web backend as a service.
//
// It is built from the backend folder's requirements (installed with pip,
// with the files and local libraries they name) or pyproject.toml, and runs
// an ASGI server (uvicorn on the app, by default) on 0.0.0.0, bound to
// Postgres as "postgres" and Redis as "redis", which it reaches with the
// variables of the README's table (DATABASE_URL, REDIS_URL, POSTGRES_*,
// PG*, REDIS_*). Without postgres or redis it starts the project's own.
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
	r, err := m.prepare(ctx, src, needs{postgres: postgres == nil, backend: true})
	if err != nil {
		return nil, err
	}
	l := links{postgres: givenLink("DATABASE_URL", databaseUrl), redis: givenLink("REDIS_URL", redisUrl)}
	// The module's own Postgres and Redis answer at localhost too, as on a
	// developer's machine.
	var local []contract.Route
	if postgres == nil {
		postgres = m.run(m.postgres(r.postgres, true), r.supervisor)
		l.postgres = m.postgresLink(boundPeers.postgres)
		local = append(local, routeTo(boundPeers.postgres, postgresPort))
	}
	if redis == nil {
		redis = m.run(m.redis(true), r.supervisor)
		l.redis = m.redisLink(boundPeers.redis)
		local = append(local, routeTo(boundPeers.redis, redisPort))
	}
	be := m.backend(r.backend, l, r.env)
	be.ctr = m.bind(m.bind(be.ctr, "postgres", boundPeers.postgres, postgres), "redis", boundPeers.redis, redis)
	// The project's services of with-service, each bound by its name.
	extras, err := m.extras(ctx, src, r.env)
	if err != nil {
		return nil, err
	}
	for _, x := range extras {
		be.ctr = m.bind(be.ctr, x.name, x.name, m.run(x, r.supervisor))
		if x.port != 0 && x.port != be.port {
			local = append(local, routeTo(x.name, x.port))
		}
	}
	be.local = local
	return m.run(be, r.supervisor), nil
}
