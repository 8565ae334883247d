package main

import "dagger/commandcenter/internal/dagger"

// supervisorPath is where the supervisor goes in a container.
const supervisorPath = "/usr/local/bin/commandcenter-supervisor"

// supervisorTokenEnv holds the Stack's token in the front's and members'
// containers (the supervisor's tokenEnv).
const supervisorTokenEnv = "COMMANDCENTER_STACK_TOKEN"

// supervisor builds the module's supervisor from its supervisor folder: a
// static Go program that runs in any image, rebuilt only when its source
// changes. It runs the project's own commands and checks they listen where
// they should, and holds the Stack together (see supervisor/main.go).
func supervisor() *dagger.File {
	return goBuild("supervisor").
		WithExec([]string{"go", "build", "-trimpath", "-ldflags=-s -w", "-o", "/out/commandcenter-supervisor", "."}).
		File("/out/commandcenter-supervisor")
}

// goBuild is a Go container, static builds on, with the Go module in the
// module's folder dir as its working folder (its tests left out).
func goBuild(dir string) *dagger.Container {
	return dag.Container().
		From(golangImage).
		WithEnvVariable("CGO_ENABLED", "0").
		WithMountedCache("/root/.cache/go-build", dag.CacheVolume("commandcenter-go-build")).
		WithMountedDirectory("/src", dag.CurrentModule().Source().Directory(dir).
			Filter(dagger.DirectoryFilterOpts{Include: []string{"go.mod", "*.go"}, Exclude: []string{"*_test.go"}})).
		WithWorkdir("/src")
}
