package main

import (
	"context"
	"fmt"
	"strconv"

	"dagger/commandcenter/internal/dagger"
	"dagger/commandcenter/internal/spec"
)

// frontendOpts are the settings of the project's Node frontend.
type frontendOpts struct {
	Dir     string
	Version string
	Port    int
	Command []string
}

func (o frontendOpts) check() error {
	if err := spec.Subdir(o.Dir, "--frontend-dir"); err != nil {
		return err
	}
	if _, err := spec.ImageRef(nodeImage, nodeTags, o.Version, "--node-version"); err != nil {
		return err
	}
	return spec.Port(o.Port, "--frontend-port")
}

// frontendContainer is the frontend's image: dependencies installed in a layer
// that depends on package.json and the lock file alone (npm ci when there is a
// lock file), then the source on top.
func (m *Commandcenter) frontendContainer(ctx context.Context, src *dagger.Directory, o frontendOpts, script string) (*dagger.Container, error) {
	ref, err := spec.ImageRef(nodeImage, nodeTags, o.Version, "--node-version")
	if err != nil {
		return nil, err
	}
	manifest, err := readManifest(ctx, src, o.Dir, "package.json", "--frontend-dir")
	if err != nil {
		return nil, fmt.Errorf("frontend: %w", err)
	}
	if err := spec.PackageJSON(manifest, script); err != nil {
		return nil, fmt.Errorf("frontend: %s/package.json: %w", o.Dir, err)
	}
	dir := src.Directory(o.Dir)
	manifests := dag.Directory().WithNewFile("package.json", manifest)
	install := []string{"npm", "install", "--no-audit", "--no-fund"}
	hasLock, err := src.Exists(ctx, o.Dir+"/package-lock.json")
	if err != nil {
		return nil, err
	}
	if hasLock {
		manifests = manifests.WithFile("package-lock.json", dir.File("package-lock.json"))
		install = []string{"npm", "ci", "--no-audit", "--no-fund"}
	}
	deps, err := installed(ctx, dag.Container().
		From(ref).
		WithEnvVariable("NPM_CONFIG_UPDATE_NOTIFIER", "false").
		WithMountedCache("/root/.npm", dag.CacheVolume("commandcenter-npm")).
		WithWorkdir("/app").
		WithDirectory("/app", manifests).
		WithExec(install),
		"frontend", "fix "+o.Dir+"/package.json or its lock file (npm's output below says what it could not install)")
	if err != nil {
		return nil, err
	}
	return deps.WithDirectory("/app", dir, dagger.ContainerWithDirectoryOpts{
		Exclude: []string{"node_modules", "dist", ".vite"},
	}), nil
}

// frontendScript is the package.json script the frontend's command runs,
// which must be there: "dev" for the default command, none for the user's own.
func frontendScript(o frontendOpts) string {
	if len(o.Command) == 0 {
		return "dev"
	}
	return ""
}

// frontendService runs the frontend on ctr, a frontendContainer, bound to the
// backend as "backend"; or, given the backend's hostname in the session,
// reaching it there without a binding, so that the two start at the same time.
// member is nil outside a Stack.
func (m *Commandcenter) frontendService(ctr *dagger.Container, o frontendOpts,
	backend *dagger.Service, backendHost string, backendPort int, member *stackMember,
) *dagger.Service {
	command := o.Command
	if len(command) == 0 {
		command = []string{"npm", "run", "dev"}
	}
	if backendHost == "" {
		ctr, backendHost = ctr.WithServiceBinding("backend", backend), "backend"
	}
	return member.serve(ctr.
		WithEnvVariable("BACKEND_URL", fmt.Sprintf("http://%s:%d", backendHost, backendPort)).
		WithEnvVariable("HOST", "0.0.0.0").
		WithEnvVariable("PORT", strconv.Itoa(o.Port)),
		o.Port, command)
}

// Frontend starts the project's Node frontend as a service.
//
// It is built from the frontend folder's package.json (npm ci with a lock
// file) and runs its dev script with HOST=0.0.0.0 and PORT set, bound to the
// backend as "backend" (BACKEND_URL), so that a dev-server proxy can send /api
// to it and a browser needs only the frontend's port. Without backend it
// starts the project's own, with the module's defaults.
//
// +cache="session"
func (m *Commandcenter) Frontend(
	ctx context.Context,
	// The project's source folder.
	src *dagger.Directory,
	// Folder of the frontend inside src, with package.json.
	// +optional
	// +default="frontend"
	dir string,
	// Major version of Node.js: 22 or 24.
	// +optional
	// +default="24"
	nodeVersion string,
	// Port the frontend listens on.
	// +optional
	// +default=3000
	port int,
	// Command that serves the frontend instead of "npm run dev"; it must listen on HOST and PORT.
	// +optional
	command []string,
	// Backend service to use; without it the project's own starts, from src.
	// +optional
	backend *dagger.Service,
	// Port the given backend listens on.
	// +optional
	// +default=8000
	backendPort int,
) (*dagger.Service, error) {
	o := frontendOpts{Dir: dir, Version: nodeVersion, Port: port, Command: command}
	if err := o.check(); err != nil {
		return nil, fmt.Errorf("frontend: %w", err)
	}
	if err := spec.Port(backendPort, "--backend-port"); err != nil {
		return nil, fmt.Errorf("frontend: %w", err)
	}
	if backend == nil {
		bo := defaultBackend()
		bo.Port = backendPort
		var err error
		if backend, err = m.Backend(ctx, src, bo.Dir, bo.Version, bo.App, bo.Port, nil, "", nil, nil, nil, nil); err != nil {
			return nil, err
		}
	}
	ctr, err := m.frontendContainer(ctx, src, o, frontendScript(o))
	if err != nil {
		return nil, err
	}
	return m.frontendService(ctr, o, backend, "", backendPort, nil), nil
}

func defaultBackend() backendOpts {
	return backendOpts{Dir: "backend", Version: defaultPythonVersion, App: "app.main:app", Port: 8000}
}
