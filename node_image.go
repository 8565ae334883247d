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
	"dagger/commandcenter/internal/manifest"
)

// How the frontend's Node image is built: the Node image of its version,
// its package manager, its dependencies in a layer that depends on its
// manifests alone, its source on top, and in production its build.

// frontendService is the image the frontend runs in: from its Dockerfile,
// or the module's build.
func (m *Commandcenter) frontendService(ctx context.Context, src *dagger.Directory) (builtImage, error) {
	if m.Fe.Build.Dockerfile != "" {
		built, err := dockerBuild(ctx, src, m.Fe.Dir, m.Fe.Build, "frontend", "with-frontend")
		return builtImage{ctr: built.ctr, docker: &built}, err
	}
	return m.frontendImage(ctx, src, m.frontendScript())
}

// frontendImage is the frontend's image: its package manager (npm, pnpm
// or yarn, as its lock file says) installed in a layer of its own, its
// dependencies in a layer that depends on package.json, the lock file and
// the manager's configuration alone, then the source on top (withSource),
// and in production the build. script, when set, must be in package.json.
func (m *Commandcenter) frontendImage(ctx context.Context, src *dagger.Directory, script string) (builtImage, error) {
	ref, _ := check.ImageRef(nodeImage, nodeTags, m.Fe.NodeVersion, "")
	dir := m.Fe.Dir
	listed, err := listFolder(ctx, src, dir, "with-frontend --dir")
	if err != nil {
		return builtImage{}, fmt.Errorf("frontend: %w", err)
	}
	pkg := path.Join(dir, "package.json")
	if !listed.file("package.json") {
		return builtImage{}, fmt.Errorf("frontend: %s has no package.json: add one, or set with-frontend --dir to the folder that has it", dir)
	}
	packageJSON, err := src.File(pkg).Contents(ctx)
	if err != nil {
		return builtImage{}, err
	}
	if err := check.PackageJSON(packageJSON, script); err != nil {
		return builtImage{}, fmt.Errorf("frontend: %s: %w", pkg, err)
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
				return builtImage{}, err
			}
			locks[name] = text
		case "pnpm-lock.yaml", "package-lock.json":
			locks[name] = ""
		}
	}
	pm, err := manifest.Node(packageJSON, locks)
	if err != nil {
		return builtImage{}, fmt.Errorf("frontend: %s: %w", dir, err)
	}
	ctr, err := withPackages(ctx, dag.Container().From(ref), m.Fe.Packages, "frontend", "with-frontend --packages")
	if err != nil {
		return builtImage{}, err
	}
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
			return builtImage{}, err
		}
	}
	deps, err := installed(ctx, ctr.
		WithMountedCache(pm.Cache, dag.CacheVolume("commandcenter-"+pm.Name)).
		WithWorkdir("/app").
		WithDirectory("/app", manifests).
		WithExec(asUser(pm.Install, runAs(m.Fe.User), "/app")),
		"frontend", fmt.Sprintf("fix %s/package.json or its lock file (%s's output below says what it could not install)", dir, pm.Name))
	if err != nil {
		return builtImage{}, err
	}
	exclude, err := dockerignore(ctx, src, dir, listed)
	if err != nil {
		return builtImage{}, err
	}
	exclude = append(exclude, "node_modules", m.Fe.Dist, ".vite", ".git", ".next")
	img, err := withSource(ctx, deps, src.Directory(dir), exclude, runAs(m.Fe.User), depFiles, listed)
	if err != nil {
		return builtImage{}, err
	}
	// Live reload: the dev script's server reloads the page's modules
	// itself; a command of the project's own restarts; a production build
	// is built again. A changed manifest installs the dependencies again
	// first, and restarts the server.
	spec := &contract.Sync{Root: "/app", Dir: dir, Ignore: slices.Concat(exclude, m.Fe.WatchIgnore), Deps: depFiles, DepsRun: shellLine(pm.Install), Restart: m.Fe.Command != ""}
	if m.Fe.Production && script == "build" {
		spec.Run = shellLine(append(append([]string{}, pm.Run...), "build"))
	}
	if m.Fe.Production && script == "build" {
		img, err = installed(ctx, img.WithExec(asUser(append(append([]string{}, pm.Run...), "build"), runAs(m.Fe.User), "/app")),
			"frontend", fmt.Sprintf("fix the build script of %s/package.json (its output below)", dir))
		if err != nil {
			return builtImage{}, err
		}
		if ok, err := img.Directory("/app").Exists(ctx, path.Join(m.Fe.Dist, "index.html")); err != nil || !ok {
			return builtImage{}, fmt.Errorf("frontend: the build wrote no %s/index.html: set with-frontend --dist to the folder the build script writes", m.Fe.Dist)
		}
	}
	return builtImage{ctr: img, pm: pm, sync: spec}, nil
}

// withSource puts the frontend's source (dir, less exclude, owned by
// owner) at /app of deps, where the install left the manifests (depFiles)
// and what it made (node_modules; yarn's .pnp.cjs): the source is mounted,
// and what the install made is mounted over it from the install's layer.
// A copy onto the image would make a new layer at every change to the
// source, which the engine takes seconds to prepare where node_modules is
// large; a mount of the changed folder costs what the folder does. Where
// the source has something the install made too (a .yarn folder in both),
// the source is copied over the install's /app instead, as the two must
// merge.
func withSource(ctx context.Context, deps *dagger.Container, dir *dagger.Directory, exclude []string, owner string, depFiles []string, listed folder) (*dagger.Container, error) {
	made, err := deps.Directory("/app").Entries(ctx)
	if err != nil {
		return nil, fmt.Errorf("frontend: list what the install made: %w", err)
	}
	ctr := deps.WithMountedDirectory("/app", dir.Filter(dagger.DirectoryFilterOpts{Exclude: exclude}),
		dagger.ContainerWithMountedDirectoryOpts{Owner: owner})
	for _, entry := range made {
		name, isDir := strings.CutSuffix(entry, "/")
		switch {
		case slices.Contains(depFiles, name):
			// The source has the same file: the install depends on it alone.
		case (listed.file(name) || listed.file(name+"/")) && !slices.Contains(exclude, name):
			return deps.WithDirectory("/app", dir, dagger.ContainerWithDirectoryOpts{Exclude: exclude, Owner: owner}), nil
		case isDir:
			ctr = ctr.WithMountedDirectory(path.Join("/app", name), deps.Directory(path.Join("/app", name)))
		default:
			ctr = ctr.WithMountedFile(path.Join("/app", name), deps.File(path.Join("/app", name)))
		}
	}
	return ctr, nil
}
