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
	return goBuild(supervisorSource...).
		WithExec(slices.Concat(containerBuild, []string{"-tags=incontainer", "-o", "/out/commandcenter-supervisor", "./supervisor"})).
		File("/out/commandcenter-supervisor")
}

// staticServer builds the supervisor's full program for a production
// frontend's container, where its serve-static serves the build (it needs
// net/http, which supervisor() leaves out).
func staticServer() *dagger.File {
	return goBuild(supervisorSource...).
		WithExec(slices.Concat(containerBuild, []string{"-o", "/out/commandcenter-static", "./supervisor"})).
		File("/out/commandcenter-static")
}

// containerBuild is the go build of the programs that run in the
// containers: stripped, and compiled without the debug information that
// stripping drops (about a tenth of a cold compile).
var containerBuild = []string{"go", "build", "-trimpath", "-gcflags=all=-dwarf=false", "-ldflags=-s -w"}

// supervisorSource are the module's files the supervisor is made of.
var supervisorSource = []string{"supervisor/*.go", "internal/contract/*.go", "internal/minihttp/*.go"}

// goBuild is a Go container, static builds on, with go.mod, go.sum and the
// module's Go files of include (their tests left out) as its working
// folder. Modules the build needs beyond the standard library come from
// the Go module proxy, into a cache volume.
func goBuild(include ...string) *dagger.Container {
	return dag.Container().
		From(golangImage).
		WithEnvVariable("CGO_ENABLED", "0").
		WithEnvVariable("GOMODCACHE", "/root/.cache/go-mod").
		WithMountedCache("/root/.cache/go-build", dag.CacheVolume("commandcenter-go-build")).
		WithMountedCache("/root/.cache/go-mod", dag.CacheVolume("commandcenter-go-mod")).
		WithMountedDirectory("/src", dag.CurrentModule().Source().
			Filter(dagger.DirectoryFilterOpts{
				Include: append([]string{"go.mod", "go.sum"}, include...),
				Exclude: []string{"**/*_test.go"},
			})).
		WithWorkdir("/src")
}
