// Floor is the smallest module that starts the Postgres of the benchmarks'
// floor: the same image, variables and cache volume, with one function and
// nothing else. `make bench` starts it to tell what any Dagger module adds
// to a service's start (loading the module, calling a function) from what
// the commandcenter module adds.
package main

import "dagger/floor/internal/dagger"

type Floor struct{}

// Postgres is the floor's Postgres, returned by a module's function.
func (Floor) Postgres(password *dagger.Secret) *dagger.Service {
	return dag.Container().From("postgres:17-trixie").
		WithEnvVariable("POSTGRES_USER", "commandcenter").
		WithEnvVariable("POSTGRES_DB", "commandcenter").
		WithSecretVariable("POSTGRES_PASSWORD", password).
		WithMountedCache("/var/lib/postgresql/data", dag.CacheVolume("commandcenter-bench-floor-pgdata")).
		WithExposedPort(5432).
		AsService()
}
