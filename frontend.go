package main

import (
	"context"
	"fmt"
	"path"
	"strconv"

	"dagger/commandcenter/internal/check"
	"dagger/commandcenter/internal/dagger"
	"dagger/commandcenter/internal/manifest"
)

// FrontendSettings are the settings of the project's Node frontend.
type FrontendSettings struct {
	Dir         string
	NodeVersion string
	Port        int
	Command     string
	Production  bool
	Dist        string
	Build       DockerfileSettings
}

func defaultFrontend() FrontendSettings {
	return FrontendSettings{Dir: "frontend", NodeVersion: defaultNodeVersion, Port: 3000, Dist: "dist"}
}

func (s FrontendSettings) check() error {
	if err := check.Subdir(s.Dir, "with-frontend --dir"); err != nil {
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
	// Build the frontend from this Dockerfile of its folder (the build's
	// context), as compose's build: does; it runs the image's entrypoint and
	// command, which must listen on --port. Its tests (test) still run in
	// the module's build, which has Node and the dev dependencies.
	// +optional
	dockerfile string,
	// Build arguments of the Dockerfile, KEY=VALUE.
	// +optional
	buildArgs []string,
	// Stage of the Dockerfile to build (default: the last), such as production.
	// +optional
	target string,
) (*Commandcenter, error) {
	setIf(&m.Fe.Dir, dir)
	setIf(&m.Fe.NodeVersion, nodeVersion)
	setIf(&m.Fe.Command, command)
	setIf(&m.Fe.Dist, dist)
	if production {
		m.Fe.Production = true
	}
	m.Fe.Build.set(dockerfile, buildArgs, target)
	if port != 0 {
		m.Fe.Port = port
	}
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

// frontendBuild is the frontend's image and the package manager it uses,
// or the image of the project's Dockerfile and its command.
type frontendBuild struct {
	ctr    *dagger.Container
	pm     manifest.NodeManager
	docker *dockerBuilt
	// sync is how it takes the live-reload watcher's files (none from a
	// Dockerfile's image).
	sync *syncSpec
}

// frontendService is the image the frontend runs in: from its Dockerfile,
// or the module's build.
func (m *Commandcenter) frontendService(ctx context.Context, src *dagger.Directory) (frontendBuild, error) {
	if m.Fe.Build.Dockerfile != "" {
		built, err := dockerBuild(ctx, src, m.Fe.Dir, m.Fe.Build, "frontend", "with-frontend")
		return frontendBuild{ctr: built.ctr, docker: &built}, err
	}
	return m.frontendImage(ctx, src, m.frontendScript())
}

// frontendImage is the frontend's image: its package manager (npm, pnpm
// or yarn, as its lock file says) installed in a layer of its own, its
// dependencies in a layer that depends on package.json, the lock file and
// the manager's configuration alone, then the source on top, and in
// production the build. script, when set, must be in package.json.
func (m *Commandcenter) frontendImage(ctx context.Context, src *dagger.Directory, script string) (frontendBuild, error) {
	ref, _ := check.ImageRef(nodeImage, nodeTags, m.Fe.NodeVersion, "")
	dir := m.Fe.Dir
	listed, err := listFolder(ctx, src, dir, "with-frontend --dir")
	if err != nil {
		return frontendBuild{}, fmt.Errorf("frontend: %w", err)
	}
	pkg := path.Join(dir, "package.json")
	if !listed.file("package.json") {
		return frontendBuild{}, fmt.Errorf("frontend: %s has no package.json: add one, or set with-frontend --dir to the folder that has it", dir)
	}
	packageJSON, err := src.File(pkg).Contents(ctx)
	if err != nil {
		return frontendBuild{}, err
	}
	if err := check.PackageJSON(packageJSON, script); err != nil {
		return frontendBuild{}, fmt.Errorf("frontend: %s: %w", pkg, err)
	}
	locks := map[string]string{}
	manifests := dag.Directory().WithNewFile("package.json", packageJSON)
	depFiles := []string{"package.json"}
	for _, name := range append(append([]string{}, manifest.NodeLocks...), manifest.NodeConfigs...) {
		p := path.Join(dir, name)
		if !listed.file(name) {
			continue
		}
		depFiles = append(depFiles, name)
		manifests = manifests.WithFile(name, src.File(p))
		switch name {
		case "yarn.lock":
			// Its text says which yarn wrote it.
			text, err := src.File(p).Contents(ctx)
			if err != nil {
				return frontendBuild{}, err
			}
			locks[name] = text
		case "pnpm-lock.yaml", "package-lock.json":
			locks[name] = ""
		}
	}
	pm, err := manifest.Node(packageJSON, locks)
	if err != nil {
		return frontendBuild{}, fmt.Errorf("frontend: %s: %w", dir, err)
	}
	ctr := dag.Container().From(ref)
	for _, k := range check.SortedKeys(pm.Env) {
		ctr = ctr.WithEnvVariable(k, pm.Env[k])
	}
	if pm.Tool != "" {
		// From the npm registry, as the project's own packages.
		ctr, err = installed(ctx, ctr.
			WithMountedCache("/root/.npm", dag.CacheVolume("commandcenter-npm")).
			WithExec([]string{"npm", "install", "--global", "--no-audit", "--no-fund", pm.Tool}),
			"frontend", "fix package.json's packageManager (npm's output below says what it could not install)")
		if err != nil {
			return frontendBuild{}, err
		}
	}
	deps, err := installed(ctx, ctr.
		WithMountedCache(pm.Cache, dag.CacheVolume("commandcenter-"+pm.Name)).
		WithWorkdir("/app").
		WithDirectory("/app", manifests).
		WithExec(pm.Install),
		"frontend", fmt.Sprintf("fix %s/package.json or its lock file (%s's output below says what it could not install)", dir, pm.Name))
	if err != nil {
		return frontendBuild{}, err
	}
	exclude, err := dockerignore(ctx, src, dir, listed)
	if err != nil {
		return frontendBuild{}, err
	}
	exclude = append(exclude, "node_modules", m.Fe.Dist, ".vite", ".git", ".next")
	img := deps.WithDirectory("/app", src.Directory(dir), dagger.ContainerWithDirectoryOpts{Exclude: exclude})
	// Live reload: the dev script's server reloads the page's modules
	// itself; a command of the project's own restarts; a production build
	// is built again. A changed manifest installs the dependencies again
	// first, and restarts the server.
	spec := &syncSpec{root: "/app", dir: dir, ignore: exclude, deps: depFiles, depsRun: shellLine(pm.Install), restart: m.Fe.Command != ""}
	if m.Fe.Production && script == "build" {
		spec.run = shellLine(append(append([]string{}, pm.Run...), "build"))
	}
	if m.Fe.Production && script == "build" {
		img, err = installed(ctx, img.WithExec(append(append([]string{}, pm.Run...), "build")),
			"frontend", fmt.Sprintf("fix the build script of %s/package.json (its output below)", dir))
		if err != nil {
			return frontendBuild{}, err
		}
		if ok, err := img.Directory("/app").Exists(ctx, path.Join(m.Fe.Dist, "index.html")); err != nil || !ok {
			return frontendBuild{}, fmt.Errorf("frontend: the build wrote no %s/index.html: set with-frontend --dist to the folder the build script writes", m.Fe.Dist)
		}
	}
	return frontendBuild{ctr: img, pm: pm, sync: spec}, nil
}

// frontend is the project's frontend server on b, a frontendImage,
// reaching the backend at the host name of p: the dev script, the project's
// own command, or in production the supervisor serving the build.
func (m *Commandcenter) frontend(b frontendBuild, p peers, env environment, sup *dagger.File) service {
	args := append(append([]string{}, b.pm.Run...), "dev")
	ctr := b.ctr
	switch {
	case m.Fe.Command != "":
		args = shell(m.Fe.Command)
	case b.docker != nil:
		args = b.docker.args
	case m.Fe.Production:
		ctr = ctr.WithFile(supervisorPath, sup)
		args = []string{supervisorPath, "serve-static", "--dir", path.Join("/app", m.Fe.Dist)}
	}
	ctr = ctr.
		WithEnvVariable("BACKEND_URL", fmt.Sprintf("http://%s:%d", p.backend, m.Be.Port)).
		WithEnvVariable("HOST", "0.0.0.0").
		WithEnvVariable("PORT", strconv.Itoa(m.Fe.Port))
	s := service{name: "frontend", ctr: withEnv(ctr, env.forService("frontend", false)), args: args, port: m.Fe.Port, own: true}
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
//
// +cache="session"
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
	fe := m.frontend(r.frontend, boundPeers, r.env, r.supervisor)
	fe.ctr = fe.ctr.WithServiceBinding(boundPeers.backend, backend)
	return fe.run(r.supervisor), nil
}
