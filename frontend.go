package main

import (
	"context"
	"fmt"
	"path"
	"strconv"

	"dagger/commandcenter/internal/check"
	"dagger/commandcenter/internal/contract"
	"dagger/commandcenter/internal/dagger"
)

// FrontendSettings are the settings of the project's Node frontend.
type FrontendSettings struct {
	Dir         string
	NodeVersion string
	Port        int
	Command     string
	Production  bool
	Dist        string
	Packages    []string
	// WatchIgnore are patterns of files live reload never sends.
	WatchIgnore []string
	Build       DockerfileSettings
	// User the module-built image's server runs as: "" (defaultUser),
	// "root" or UID:GID.
	User string
	// Memory is the server's limit in bytes (0: none).
	Memory int64
}

func defaultFrontend() FrontendSettings {
	return FrontendSettings{Dir: "frontend", NodeVersion: defaultNodeVersion, Port: 3000, Dist: "dist"}
}

func (s FrontendSettings) check() error {
	if err := check.Subdir(s.Dir, "with-frontend --dir"); err != nil {
		return err
	}
	if err := check.IgnorePatterns(s.WatchIgnore, "with-frontend --watch-ignore"); err != nil {
		return err
	}
	if _, err := check.ImageRef(nodeImage, nodeTags, s.NodeVersion, "with-frontend --node-version"); err != nil {
		return err
	}
	if err := check.Subdir(s.Dist, "with-frontend --dist"); err != nil {
		return err
	}
	if err := s.Build.check("with-frontend"); err != nil {
		return err
	}
	if err := checkUser(s.User, s.Build, "with-frontend"); err != nil {
		return err
	}
	if err := checkPackages(s.Packages, s.Build, "with-frontend"); err != nil {
		return err
	}
	return check.Port(s.Port, "with-frontend --port")
}

// WithFrontend sets the project's Node frontend. Options not given keep
// their values (by default: folder frontend, Node.js 24, `npm run dev` on
// port 3000).
func (m *Commandcenter) WithFrontend(
	// Folder of the frontend inside src, with package.json.
	// +optional
	dir string,
	// Major version of Node.js: 22 or 24.
	// +optional
	nodeVersion string,
	// Port the frontend listens on.
	// +optional
	port int,
	// Command that serves the frontend instead of the dev script (npm run
	// dev, or pnpm's or yarn's), run with sh; it must listen on $HOST and
	// $PORT.
	// +optional
	command string,
	// Serve a production build instead of the dev server: the build script
	// runs, and the module serves the files of --dist on the frontend's port,
	// with /api sent to the backend and every other path without a file
	// answered with index.html (a single-page app's routes).
	// +optional
	production bool,
	// Folder the build script writes, inside the frontend's folder.
	// +optional
	dist string,
	// Build the frontend from this Dockerfile, a path in the build's
	// context (--context, default its folder), as compose's build: does; it
	// runs the image's entrypoint and command, which must listen on --port.
	// Its tests (test) still run in the module's build, which has Node and
	// the dev dependencies.
	// +optional
	dockerfile string,
	// Folder of the source the Dockerfile builds in (default the frontend's
	// folder), as compose's build: context:, such as "." when the
	// Dockerfile copies libs/ and frontend/; --dockerfile is then a path in it
	// (frontend/Dockerfile). Its .dockerignore applies.
	// +optional
	context string,
	// Build arguments of the Dockerfile, KEY=VALUE.
	// +optional
	buildArgs []string,
	// Stage of the Dockerfile to build (default: the last), such as production.
	// +optional
	target string,
	// Debian packages installed before the dependencies, such as what
	// node-gyp builds native modules with (python3, make, g++); kept in a
	// layer of their own.
	// +optional
	packages []string,
	// User the frontend's server runs as: root, a UID or UID:GID (default
	// 1000:1000, the Node image's node user). Its folder, dependencies and
	// build are the user's.
	// +optional
	user string,
	// Most memory the frontend's server may hold (its processes together),
	// as compose's mem_limit: 512m (bytes, k, m or g). The module's
	// supervisor enforces it (see the README's "Memory limits"): over it,
	// the server is ended as a crash and restarted.
	// +optional
	memory string,
	// Files live reload never sends to the frontend, as compose's
	// develop.watch ignore: .dockerignore patterns relative to its folder,
	// such as *.test.ts.
	// +optional
	watchIgnore []string,
) (*Commandcenter, error) {
	if err := setUser(&m.Fe.User, user, "with-frontend --user"); err != nil {
		return nil, err
	}
	if err := setMemory(&m.Fe.Memory, memory, "with-frontend --memory"); err != nil {
		return nil, err
	}
	setIf(&m.Fe.Dir, dir)
	setIf(&m.Fe.NodeVersion, nodeVersion)
	setIf(&m.Fe.Command, command)
	setIf(&m.Fe.Dist, dist)
	if production {
		m.Fe.Production = true
	}
	m.Fe.Build.set(dockerfile, context, buildArgs, target)
	if len(packages) > 0 {
		m.Fe.Packages = packages
	}
	setIf(&m.Fe.Port, port)
	m.Fe.WatchIgnore = append(m.Fe.WatchIgnore, watchIgnore...)
	if err := m.Fe.check(); err != nil {
		return nil, fmt.Errorf("with-frontend: %w", err)
	}
	return m, nil
}

// frontendScript is the package.json script the frontend's command runs,
// which must be there: "build" in production, "dev" for the default
// command, none for one of the project's own.
func (m *Commandcenter) frontendScript() string {
	switch {
	case m.Fe.Production:
		return "build"
	case m.Fe.Command == "":
		return "dev"
	}
	return ""
}

// frontend is the project's frontend server on b, a frontendImage,
// reaching the backend at the host name of p: the dev script, the project's
// own command, or in production the supervisor serving the build.
func (m *Commandcenter) frontend(b builtImage, p peers, env environment) service {
	ctr := b.ctr
	args := append(append([]string{}, b.pm.Run...), "dev")
	switch {
	case m.Fe.Command != "":
		args = shell(m.Fe.Command)
	case b.docker != nil:
		args = b.docker.args
	case m.Fe.Production:
		// The supervisor serves the build (supervisor/static.go).
		args = contract.Static{Dir: path.Join("/app", m.Fe.Dist)}.Args()
	}
	ctr = ctr.
		WithEnvVariable("BACKEND_URL", fmt.Sprintf("http://%s:%d", p.backend, m.Be.Port)).
		WithEnvVariable("HOST", "0.0.0.0").
		WithEnvVariable("PORT", strconv.Itoa(m.Fe.Port))
	vars := env.forService("frontend", false)
	s := service{name: "frontend", ctr: withEnv(ctr, vars), args: args, port: m.Fe.Port, own: true, mask: secretNames(vars), env: supervised(vars), memory: m.Fe.Memory,
		health: []contract.HealthCheck{{Name: "frontend", Target: fmt.Sprintf("127.0.0.1:%d", m.Fe.Port)}}}
	if b.docker == nil {
		s.user = runAs(m.Fe.User)
	}
	return m.live(s, b.sync)
}

// Frontend starts the project's Node frontend as a service.
//
// It is built from the frontend folder's package.json with the package
// manager of its lock file (npm, pnpm or yarn) and runs its dev script with
// HOST=0.0.0.0 and PORT set, bound to the backend as "backend"
// (BACKEND_URL), so that a dev-server proxy can send /api to it and a
// browser needs only the frontend's port; or, with with-frontend
// --production, serves its build. Without backend it starts the project's
// own.
func (m *Commandcenter) Frontend(
	ctx context.Context,
	// The project's source folder.
	// +ignore=[".git", "**/node_modules", "**/.venv", "**/__pycache__", "**/.pytest_cache", "**/.mypy_cache", "**/dist", "**/.next"]
	src *dagger.Directory,
	// Backend service to use, listening on with-backend's port; without it
	// the project's own starts.
	// +optional
	backend *dagger.Service,
) (*dagger.Service, error) {
	if err := m.checkSettings(); err != nil {
		return nil, fmt.Errorf("frontend: %w", err)
	}
	if backend == nil {
		var err error
		if backend, err = m.Backend(ctx, src, nil, nil, nil, nil); err != nil {
			return nil, err
		}
	}
	r, err := m.prepare(ctx, src, needs{frontend: true})
	if err != nil {
		return nil, err
	}
	fe := m.frontend(r.frontend, boundPeers, r.env)
	fe.ctr = m.bind(fe.ctr, "backend", boundPeers.backend, backend)
	return m.run(fe, r.supervisor), nil
}
