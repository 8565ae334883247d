package main

import (
	"strconv"
	"time"

	"dagger/commandcenter/internal/dagger"
)

// uncached makes the exec that follows run each time it is asked for: the
// engine caches an exec's result by its inputs, and some (a wipe, a read
// of the project's volumes) must see the volumes as they are now. what
// names the variable, for whoever reads the container's env.
func uncached(ctr *dagger.Container, what string) *dagger.Container {
	return ctr.WithEnvVariable("COMMANDCENTER_"+what, strconv.FormatInt(time.Now().UnixNano(), 10))
}

// entrypoint is one of the programs of the module's entrypoints folder that
// run in the services' containers (launch.py, postgres.sh, project.sh):
// real files of the module's source, tested in their own language, which
// reach a container as files, so that the engine's logs name them rather
// than print them.
func entrypoint(name string) *dagger.File {
	return dag.CurrentModule().Source().File("entrypoints/" + name)
}

// withProgram puts the entrypoint name in ctr at path, executable.
func withProgram(ctr *dagger.Container, name, path string) *dagger.Container {
	return ctr.WithFile(path, entrypoint(name), dagger.ContainerWithFileOpts{Permissions: 0o755})
}
