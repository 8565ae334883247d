package main

import (
	"dagger/commandcenter/internal/boot"
	"dagger/commandcenter/internal/dagger"
	"dagger/commandcenter/supervisor"
)

// The module's binary is also the supervisor (package supervisor) that runs
// every service's command and holds the Stack together: started under the
// supervisor's name, in a service's container, it runs that instead of
// serving the engine (internal/boot). This runs before the module's main.
func init() {
	if boot.Supervisor {
		boot.Unset()
		boot.ReleaseStartupPages()
		supervisor.Main()
	}
}

// supervisorProgram is the program every service's container runs its
// command under (at contract.SupervisorPath): the module's own binary, as
// the Go SDK built it to load the module, from the module's runtime
// container. It is static and runs in any image of the engine's platform.
//
// Taking the binary the engine already built, rather than building the
// supervisor apart, keeps a compile off a project's first start: a separate
// build compiled the standard library again (about 30 s on two cores after
// the engine's cache was pruned), while the SDK builds the module against
// its own prebuilt one. Loading the module again to reach its runtime costs
// a second code generation and link then (Directory.asModule and
// Module.runtime: 13-16 s in the bench's cold runs, beside pip and npm),
// and nothing once cached.
func supervisorProgram() *dagger.File {
	return dag.CurrentModule().Source().AsModule().Runtime().File(goSDKRuntimePath)
}

// goSDKRuntimePath is where the Go SDK's runtime container has the
// module's binary (its entry point).
const goSDKRuntimePath = "/runtime"

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

// supervisorSource are the module's files the supervisor's program for a
// developer's machine (hostProgram) is made of.
var supervisorSource = []string{"supervisor/**/*.go", "internal/contract/*.go", "internal/minihttp/*.go"}
