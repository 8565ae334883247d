package main

import (
	"context"
	"fmt"
	"path"
	"strconv"

	"dagger/commandcenter/internal/check"
	"dagger/commandcenter/internal/dagger"
)

// FrontendSettings are the settings of the project's Node frontend.
type FrontendSettings struct {
	Dir         string
	NodeVersion string
	Port        int
	Command     string
}

func defaultFrontend() FrontendSettings {
	return FrontendSettings{Dir: "frontend", NodeVersion: defaultNodeVersion, Port: 3000}
}

func (s FrontendSettings) check() error {
	if err := check.Subdir(s.Dir, "with-frontend --dir"); err != nil {
		return err
	}
	if _, err := check.ImageRef(nodeImage, nodeTags, s.NodeVersion, "with-frontend --node-version"); err != nil {
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
	// Command that serves the frontend instead of "npm run dev", run with
	// sh; it must listen on $HOST and $PORT.
	// +optional
	command string,
) (*Commandcenter, error) {
	setIf(&m.Fe.Dir, dir)
	setIf(&m.Fe.NodeVersion, nodeVersion)
	setIf(&m.Fe.Command, command)
	if port != 0 {
		m.Fe.Port = port
	}
	if err := m.Fe.check(); err != nil {
		return nil, fmt.Errorf("with-frontend: %w", err)
	}
	return m, nil
}

// frontendScript is the package.json script the frontend's command runs,
// which must be there: "dev" for the default command, none for one of the
// project's own.
func (m *Commandcenter) frontendScript() string {
	if m.Fe.Command == "" {
		return "dev"
	}
	return ""
}

// frontendImage is the frontend's image: dependencies installed in a layer
// that depends on package.json and the lock file alone (npm ci when there is
// a lock file), then the source on top. script, when set, must be in
// package.json.
func (m *Commandcenter) frontendImage(ctx context.Context, src *dagger.Directory, script string) (*dagger.Container, error) {
	ref, _ := check.ImageRef(nodeImage, nodeTags, m.Fe.NodeVersion, "")
	dir := m.Fe.Dir
	if err := folderExists(ctx, src, dir, "with-frontend --dir"); err != nil {
		return nil, fmt.Errorf("frontend: %w", err)
	}
	pkg := path.Join(dir, "package.json")
	if err := fileExists(ctx, src, pkg, fmt.Errorf("%s has no package.json: add one, or set with-frontend --dir to the folder that has it", dir)); err != nil {
		return nil, fmt.Errorf("frontend: %w", err)
	}
	manifest, err := src.File(pkg).Contents(ctx)
	if err != nil {
		return nil, err
	}
	if err := check.PackageJSON(manifest, script); err != nil {
		return nil, fmt.Errorf("frontend: %s: %w", pkg, err)
	}
	manifests := dag.Directory().WithNewFile("package.json", manifest)
	install := []string{"npm", "install", "--no-audit", "--no-fund"}
	hasLock, err := src.Exists(ctx, path.Join(dir, "package-lock.json"))
	if err != nil {
		return nil, err
	}
	if hasLock {
		manifests = manifests.WithFile("package-lock.json", src.File(path.Join(dir, "package-lock.json")))
		install = []string{"npm", "ci", "--no-audit", "--no-fund"}
	}
	deps, err := installed(ctx, dag.Container().
		From(ref).
		WithEnvVariable("NPM_CONFIG_UPDATE_NOTIFIER", "false").
		WithMountedCache("/root/.npm", dag.CacheVolume("commandcenter-npm")).
		WithWorkdir("/app").
		WithDirectory("/app", manifests).
		WithExec(install),
		"frontend", "fix "+dir+"/package.json or its lock file (npm's output below says what it could not install)")
	if err != nil {
		return nil, err
	}
	return deps.WithDirectory("/app", src.Directory(dir), dagger.ContainerWithDirectoryOpts{
		Exclude: []string{"node_modules", "dist", ".vite", ".git"},
	}), nil
}

// frontend is the project's frontend server on img, a frontendImage,
// reaching the backend at the host name of p.
func (m *Commandcenter) frontend(img *dagger.Container, p peers, env environment) service {
	args := []string{"npm", "run", "dev"}
	if m.Fe.Command != "" {
		args = shell(m.Fe.Command)
	}
	ctr := img.
		WithEnvVariable("BACKEND_URL", fmt.Sprintf("http://%s:%d", p.backend, m.Be.Port)).
		WithEnvVariable("HOST", "0.0.0.0").
		WithEnvVariable("PORT", strconv.Itoa(m.Fe.Port))
	return service{name: "frontend", ctr: withEnv(ctr, env.forService("frontend", false)), args: args, port: m.Fe.Port, own: true}
}

// Frontend starts the project's Node frontend as a service.
//
// It is built from the frontend folder's package.json (npm ci with a lock
// file) and runs its dev script with HOST=0.0.0.0 and PORT set, bound to
// the backend as "backend" (BACKEND_URL), so that a dev-server proxy can
// send /api to it and a browser needs only the frontend's port. Without
// backend it starts the project's own.
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
	fe := m.frontend(r.frontend, boundPeers, r.env)
	fe.ctr = fe.ctr.WithServiceBinding(boundPeers.backend, backend)
	return fe.run(r.supervisor), nil
}
