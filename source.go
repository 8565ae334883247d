package main

import (
	"context"
	"fmt"
	"path"
	"strings"

	"dagger/commandcenter/internal/dagger"
)

// Reading a project's source folder: what a service's folder holds, in one
// round trip, whether a file is there, and what its .dockerignore leaves
// out. The backend's and frontend's builds and the Dockerfile builds use
// them.

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

// inFolder is the path p of src relative to its folder dir, when it is in it.
func inFolder(p, dir string) (string, bool) {
	if dir == "." {
		return p, true
	}
	return strings.CutPrefix(p, dir+"/")
}

// dockerignore is what the .dockerignore file of the folder dir of src
// (listed) leaves out of the service's source, as docker build leaves it
// out of the build's context; nothing without one.
func dockerignore(ctx context.Context, src *dagger.Directory, dir string, listed folder) ([]string, error) {
	if !listed.file(".dockerignore") {
		return nil, nil
	}
	text, err := src.File(path.Join(dir, ".dockerignore")).Contents(ctx)
	if err != nil {
		return nil, err
	}
	var patterns []string
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		patterns = append(patterns, line)
	}
	return patterns, nil
}
