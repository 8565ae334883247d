package main

import "dagger/commandcenter/internal/dagger"

// supervisor builds the module's supervisor (the supervisor folder, with
// the contract it shares with the module, internal/contract): a static Go
// program that runs in any image, rebuilt only when its source changes. It
// runs every service's command and holds the Stack together (see
// supervisor/main.go).
func supervisor() *dagger.File {
	return goBuild().
		WithExec([]string{"go", "build", "-trimpath", "-ldflags=-s -w", "-o", "/out/commandcenter-supervisor", "./supervisor"}).
		File("/out/commandcenter-supervisor")
}

// goBuild is a Go container, static builds on, with the module's Go files
// that the supervisor is made of (its tests left out) as its working folder.
func goBuild() *dagger.Container {
	return dag.Container().
		From(golangImage).
		WithEnvVariable("CGO_ENABLED", "0").
		WithMountedCache("/root/.cache/go-build", dag.CacheVolume("commandcenter-go-build")).
		WithMountedDirectory("/src", dag.CurrentModule().Source().
			Filter(dagger.DirectoryFilterOpts{
				Include: []string{"go.mod", "go.sum", "supervisor/*.go", "internal/contract/*.go"},
				Exclude: []string{"**/*_test.go"},
			})).
		WithWorkdir("/src")
}
