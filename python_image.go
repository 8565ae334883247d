package main

import (
	"context"
	"fmt"
	"path"
	"slices"
	"strings"
	"unicode/utf8"

	"dagger/commandcenter/internal/check"
	"dagger/commandcenter/internal/contract"
	"dagger/commandcenter/internal/dagger"
	"dagger/commandcenter/internal/manifest"
)

// How the backend's Python image is built: the Python image of its
// version, its dependencies installed in a layer that depends on its
// manifests alone (requirements files and what they name, or
// pyproject.toml), its source on top.

// appDir is where the backend's source goes in its container.
const appDir = "/app"

// depsRoot is where the install step sees the manifests and local libraries
// at their places in src, so that relative paths in them hold.
const depsRoot = "/opt/commandcenter/src"

// backendImage is the backend's image: from its Dockerfile, or built by
// the module: its dependencies installed in a layer that depends on the
// manifests and the local libraries they name alone, then its source
// mounted on top, so that a change to the source reinstalls nothing.
func (m *Commandcenter) backendImage(ctx context.Context, src *dagger.Directory) (builtImage, error) {
	if m.Be.Build.Dockerfile != "" {
		built, err := dockerBuild(ctx, src, m.Be.Dir, m.Be.Build, "backend", "with-backend")
		return builtImage{ctr: built.ctr, docker: &built}, err
	}
	img, spec, err := m.moduleBackendImage(ctx, src)
	return builtImage{ctr: img, sync: spec}, err
}

func (m *Commandcenter) moduleBackendImage(ctx context.Context, src *dagger.Directory) (*dagger.Container, *contract.Sync, error) {
	ref, _ := check.ImageRef(pythonImage, pythonTags, m.Be.PythonVersion, "")
	deps := dag.Container().
		From(ref).
		WithEnvVariable("PYTHONUNBUFFERED", "1").
		WithEnvVariable("PYTHONDONTWRITEBYTECODE", "1").
		WithEnvVariable("PIP_DISABLE_PIP_VERSION_CHECK", "1").
		WithEnvVariable("PIP_ROOT_USER_ACTION", "ignore").
		WithMountedCache("/root/.cache/pip", dag.CacheVolume("commandcenter-pip"))
	deps, err := withPackages(ctx, deps, m.Be.Packages, "backend", "with-backend --packages")
	if err != nil {
		return nil, nil, err
	}
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
	spec := &contract.Sync{Root: appDir, Dir: m.Be.Dir, Ignore: slices.Concat(exclude, m.Be.WatchIgnore), Restart: true}
	for _, f := range plan.manifests {
		if rel, ok := inFolder(f, m.Be.Dir); ok {
			spec.Deps = append(spec.Deps, rel)
		}
	}
	spec.DepsRun = installIn(appDir, path.Join(depsRoot, m.Be.Dir), spec.Deps, plan.again)
	// The source is mounted, not copied: a copy onto the image makes a new
	// layer of it at every change, which the engine takes seconds to
	// prepare where the image is large (numpy, scipy and the like), while
	// a mount of the changed folder costs what the folder does. Writes
	// to it (live reload's) stay in the running container.
	app := src.Directory(m.Be.Dir).Filter(dagger.DirectoryFilterOpts{Exclude: exclude})
	return installedDeps.
		WithFile(pyprojectDepsPath, entrypoint("pyproject_deps.py")).
		WithMountedDirectory(appDir, app, dagger.ContainerWithMountedDirectoryOpts{Owner: runAs(m.Be.User)}).
		WithWorkdir(appDir), spec, nil
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
	files := map[string]string{} // path in src: its text
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
		if _, seen := files[file]; seen {
			continue
		}
		text, err := src.File(file).Contents(ctx)
		if err != nil {
			return nil, installPlan{}, err
		}
		files[file] = text
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
		// The text read above, not src.File(f): the pip layer's recipe
		// then carries the requirements themselves. A file of src is known
		// to the engine's cache by its content, so a cached step can hold
		// another project's recipe for the same text, one that loads a
		// folder of a session that is gone when the step must run again.
		// A text with credentials stays a file: Dagger's progress prints
		// the arguments of every call.
		if text := files[f]; utf8.ValidString(text) && !manifest.HoldsCredentials(text) {
			deps = deps.WithNewFile(path.Join(depsRoot, f), text)
		} else {
			deps = deps.WithFile(path.Join(depsRoot, f), src.File(f))
		}
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
	if manifest.HoldsCredentials(reqs) {
		// A dependency's URL carries a token: the list is made in the
		// container from the file, as live reload makes it, so that it never
		// becomes a call's argument, which Dagger's progress prints.
		deps = deps.
			WithFile(pyprojectDepsPath, entrypoint("pyproject_deps.py")).
			WithFile(path.Join(depsRoot, p), src.File(p))
		return deps, installPlan{install: again, again: again, manifests: []string{p}}, nil
	}
	return deps.WithNewFile(generated, reqs), installPlan{install: install, again: again, manifests: []string{p}}, nil
}

const launcherPath = "/usr/local/lib/commandcenter/launch.py"

// pyprojectDepsPath is where the backend's image keeps pyproject_deps.py.
const pyprojectDepsPath = "/usr/local/lib/commandcenter/pyproject_deps.py"
