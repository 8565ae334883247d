// Examples of the commandcenter module used from another Dagger module: bind
// its Postgres into a container of your own, run its Stack on ports of your
// choosing, and run a project's tests against a live stack. Each example is
// named Commandcenter_FUNCTION, as the Daggerverse expects.
package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"dagger/examples/internal/dagger"
)

type Examples struct {
	// A project in CommandCenter's layout (backend/, frontend/).
	Project *dagger.Directory
}

func New(
	// A project in CommandCenter's layout.
	// +defaultPath="/examples/commandcenter"
	project *dagger.Directory,
) *Examples {
	return &Examples{Project: project}
}

// Commandcenter_Postgres binds the module's Postgres into a container of your
// own, as "db", and runs SQL against it with psql, logging in with the
// project's generated password.
//
// +cache="never"
func (m *Examples) Commandcenter_Postgres(ctx context.Context) (string, error) {
	project := dag.Commandcenter(dagger.CommandcenterOpts{Project: "examples"})
	db := project.Postgres()
	password := project.PostgresPassword()
	return dag.Container().
		From("postgres:17-trixie").
		WithServiceBinding("db", db).
		WithSecretVariable("PGPASSWORD", password).
		WithEnvVariable("RUN", time.Now().String()). // run every time, not from the cache
		WithExec([]string{"psql", "-h", "db", "-U", "commandcenter", "-d", "commandcenter", "-tAc",
			"select 'postgres ' || current_setting('server_version_num')::int / 10000"}).
		Stdout(ctx)
}

// Commandcenter_Stack runs the whole stack with the backend on 9000 and the
// frontend on 9001, and asks the backend's /health through the Stack's forwarded port.
// From the CLI the same stack is forwarded to the host with
// `up --ports 19000:9000,19001:9001`.
//
// +cache="never"
func (m *Examples) Commandcenter_Stack(ctx context.Context) (string, error) {
	stack := dag.Commandcenter(dagger.CommandcenterOpts{Project: "examples-stack"}).
		Stack(m.Project, dagger.CommandcenterStackOpts{BackendPort: 9000, FrontendPort: 9001})
	return dag.Container().
		From("python:3.13-slim-trixie").
		WithServiceBinding("stack", stack).
		WithEnvVariable("RUN", time.Now().String()).
		WithExec([]string{"python3", "-c",
			"import urllib.request; print(urllib.request.urlopen('http://stack:9001/api/health', timeout=30).read().decode())"}).
		Stdout(ctx)
}

// Commandcenter_Test runs the project's backend tests against live Postgres and
// Redis, and its frontend tests, and returns the module's report.
//
// +cache="never"
func (m *Examples) Commandcenter_Test(ctx context.Context) (string, error) {
	return dag.Commandcenter().Test(ctx, m.Project)
}

// All runs every example and fails when one does.
//
// +cache="never"
func (m *Examples) All(ctx context.Context) (string, error) {
	var out []string
	for _, ex := range []struct {
		name string
		run  func(context.Context) (string, error)
	}{
		{"commandcenter-postgres", m.Commandcenter_Postgres},
		{"commandcenter-stack", m.Commandcenter_Stack},
		{"commandcenter-test", m.Commandcenter_Test},
	} {
		res, err := ex.run(ctx)
		if err != nil {
			return "", fmt.Errorf("example %s: %w", ex.name, err)
		}
		out = append(out, fmt.Sprintf("%s:\n  %s", ex.name, strings.ReplaceAll(strings.TrimSpace(res), "\n", "\n  ")))
	}
	return strings.Join(out, "\n") + "\n", nil
}
