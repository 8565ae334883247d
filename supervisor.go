package main

import (
	"slices"

	"dagger/commandcenter/internal/dagger"
)

// supervisor builds the module's supervisor (the supervisor folder, with
// the contract it shares with the module, internal/contract): a static Go
// program that runs in any image, rebuilt only when its source changes. It
// runs every service's command and holds the Stack together (see
// supervisor/main.go).
//
// It is built for the containers only (the incontainer tag): without the
// host command, the watcher and serve-static, it leaves out net/http and
// the TLS stack, which takes about 40% off its compile, the largest step of
// a project's first start.
func supervisor() *dagger.File {
	return goBuild().
		WithExec(slices.Concat(containerBuild, []string{"-tags=incontainer", "-o", "/out/commandcenter-supervisor", "./supervisor"})).
		File("/out/commandcenter-supervisor")
}

// staticServer builds the supervisor's full program for a production
// frontend's container, where its serve-static serves the build (it needs
// net/http, which supervisor() leaves out).
func staticServer() *dagger.File {
	return goBuild().
		WithExec(slices.Concat(containerBuild, []string{"-o", "/out/commandcenter-static", "./supervisor"})).
		File("/out/commandcenter-static")
}

// containerBuild is the go build of the programs that run in the
// containers: stripped, and compiled without the debug information that
// stripping drops (about a tenth of a cold compile).
var containerBuild = []string{"go", "build", "-trimpath", "-gcflags=all=-dwarf=false", "-ldflags=-s -w"}

// goBuild is a Go container, static builds on, with the module's Go files
// that the supervisor is made of (its tests left out) as its working folder.
func goBuild() *dagger.Container {
	return dag.Container().
		From(golangImage).
		WithEnvVariable("CGO_ENABLED", "0").
		WithMountedCache("/root/.cache/go-build", dag.CacheVolume("commandcenter-go-build")).
		WithMountedDirectory("/src", dag.CurrentModule().Source().
			Filter(dagger.DirectoryFilterOpts{
				Include: []string{"go.mod", "go.sum", "supervisor/*.go", "internal/contract/*.go", "internal/minihttp/*.go"},
				Exclude: []string{"**/*_test.go"},
			})).
		WithWorkdir("/src")
}
