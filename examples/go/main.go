// Examples of the commandcenter module used from another Dagger module: bind
// its Postgres into a container of your own, run its Stack with settings of
// your own (the With* builders), and run a project's tests against a live
// stack. Each example is named Commandcenter_FUNCTION, as the Daggerverse
// expects.
package main

import (
	"context"
	"fmt"
	"regexp"
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

// Commandcenter_Stack runs the whole stack with the backend on 9000, the
// frontend on 9001 and an environment variable of your own, and asks the
// backend's /health through the frontend's /api proxy. From the CLI the same
// stack is
//
//	dagger call --project=examples-stack with-backend --port=9000 with-frontend --port=9001 \
//	  with-env --name=LOG_LEVEL --value=debug stack --src=examples/commandcenter up --ports 19000:9000,19001:9001
//
// +cache="never"
func (m *Examples) Commandcenter_Stack(ctx context.Context) (string, error) {
	stack := dag.Commandcenter(dagger.CommandcenterOpts{Project: "examples-stack"}).
		WithBackend(dagger.CommandcenterWithBackendOpts{Port: 9000}).
		WithFrontend(dagger.CommandcenterWithFrontendOpts{Port: 9001}).
		WithEnv("LOG_LEVEL", "debug").
		Stack(m.Project)
	return dag.Container().
		From("python:3.13-slim-trixie").
		WithServiceBinding("stack", stack).
		WithEnvVariable("RUN", time.Now().String()).
		WithExec([]string{"python3", "-c",
			// Host: localhost, as a browser on the developer's machine asks:
			// the example's dev server answers only localhost names.
			"import urllib.request as u; print(u.urlopen(u.Request('http://stack:9001/api/health', headers={'Host': 'localhost'}), timeout=30).read().decode())"}).
		Stdout(ctx)
}

// Commandcenter_Test runs the project's backend tests against live Postgres and
// Redis, and its frontend tests, and returns the module's report.
//
// +cache="never"
func (m *Examples) Commandcenter_Test(ctx context.Context) (string, error) {
	return dag.Commandcenter().Test(ctx, m.Project)
}

// All runs every example and fails when one fails or gives a result other
// than the one it shows.
//
// +cache="never"
func (m *Examples) All(ctx context.Context) (string, error) {
	var out []string
	for _, ex := range []struct {
		name string
		run  func(context.Context) (string, error)
		want *regexp.Regexp
	}{
		{"commandcenter-postgres", m.Commandcenter_Postgres, regexp.MustCompile(`^postgres 1[5-7]\n?$`)},
		{"commandcenter-stack", m.Commandcenter_Stack, regexp.MustCompile(`"postgres":\s*"ok".*"redis":\s*"ok".*"status":\s*"ok"`)},
		{"commandcenter-test", m.Commandcenter_Test, regexp.MustCompile(`(?m)^backend: +\d+ passed.*\nfrontend: .*\d+ passed`)},
	} {
		res, err := ex.run(ctx)
		if err != nil {
			return "", fmt.Errorf("example %s: %w", ex.name, err)
		}
		if !ex.want.MatchString(res) {
			return "", fmt.Errorf("example %s: result %q does not match %s", ex.name, res, ex.want)
		}
		out = append(out, fmt.Sprintf("%s:\n  %s", ex.name, strings.ReplaceAll(strings.TrimSpace(res), "\n", "\n  ")))
	}
	return strings.Join(out, "\n") + "\n", nil
}
