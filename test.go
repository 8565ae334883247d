package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"dagger/commandcenter/internal/contract"
	"dagger/commandcenter/internal/dagger"
)

// Test runs the project's test suites against a live stack and returns a
// short report; it fails with the suite's own output when a test fails.
//
// The backend's tests (pytest by default) run in a container built like the
// backend, with the env of with-env, bound to a fresh Postgres and Redis as
// "postgres" and "redis", with the same connection variables as the backend
// (DATABASE_URL, REDIS_URL, ...). The frontend's tests (npm test by default)
// run in a container built like the frontend. The databases of a test run
// are thrown away after it: a project's own data, its persistent folders
// included, is never touched.
//
// +cache="never"
func (m *Commandcenter) Test(
	ctx context.Context,
	// The project's source folder.
	// +ignore=[".git", "**/node_modules", "**/.venv", "**/__pycache__", "**/.pytest_cache", "**/.mypy_cache", "**/dist", "**/.next"]
	src *dagger.Directory,
	// Command that runs the backend's tests.
	// +optional
	// +default=["python", "-m", "pytest", "-q"]
	backendCommand []string,
	// Command that runs the frontend's tests.
	// +optional
	// +default=["npm", "test"]
	frontendCommand []string,
	// Skip the backend's tests.
	// +optional
	skipBackend bool,
	// Skip the frontend's tests.
	// +optional
	skipFrontend bool,
) (string, error) {
	if skipBackend && skipFrontend {
		return "", fmt.Errorf("test: both suites are skipped: drop --skip-backend or --skip-frontend")
	}
	if len(backendCommand) == 0 || len(frontendCommand) == 0 {
		return "", fmt.Errorf("test: a test command is empty: set --backend-command and --frontend-command to the commands that run the tests")
	}
	if err := m.checkSettings(); err != nil {
		return "", fmt.Errorf("test: %w", err)
	}
	// Each run names itself, so a suite always runs against live services
	// and never comes back from the cache.
	run := time.Now().UTC().Format("20060102T150405.000000000")

	var report []string
	if !skipBackend {
		out, err := m.testBackend(ctx, src, backendCommand, run)
		if err != nil {
			return "", err
		}
		report = append(report, "backend:  "+out)
	}
	if !skipFrontend {
		// The default command runs the test script with the project's
		// package manager.
		script, command := "", frontendCommand
		if len(frontendCommand) == 2 && frontendCommand[0] == "npm" && frontendCommand[1] == "test" {
			script = "test"
		}
		img, err := m.frontendImage(ctx, src, script)
		if err != nil {
			return "", err
		}
		if script == "test" {
			command = append(append([]string{}, img.pm.Run...), "test")
		}
		env, err := m.environment(ctx)
		if err != nil {
			return "", err
		}
		ctr := withEnv(img.ctr, env.forService("frontend", false)).
			WithEnvVariable("CI", "true").
			WithEnvVariable("NO_COLOR", "1").
			WithEnvVariable("COMMANDCENTER_TEST_RUN", run)
		out, err := runSuite(ctx, "frontend", ctr, command)
		if err != nil {
			return "", err
		}
		report = append(report, "frontend: "+out)
	}
	return strings.Join(report, "\n") + "\n", nil
}

func (m *Commandcenter) testBackend(ctx context.Context, src *dagger.Directory, command []string, run string) (string, error) {
	r, err := m.prepare(ctx, src, needs{postgres: true, backend: true})
	if err != nil {
		return "", err
	}
	// Throwaway services, of no project, with passwords of their own.
	pg, rd := randomPassword(), randomPassword()
	t := *m
	t.Project = ""
	t.Pg.Password, t.Rd.Password = newSecret("test-postgres", pg), newSecret("test-redis", rd)
	// The suite runs as an exec, with no supervisor to fill the passwords
	// in: they are known here, and set as secrets.
	// So are the project's own URLs of them (envurls.go), after it.
	expand := func(env []contract.EnvVar) ([]envVar, error) {
		var vars []envVar
		for _, e := range env {
			v, err := contract.Expand(e.Value, map[string]string{"postgres": pg, "redis": rd})
			if err != nil {
				return nil, err
			}
			vars = append(vars, envVar{name: e.Name, secret: newSecret("test-env", v)})
		}
		return vars, nil
	}
	project := r.env.forService("backend", false)
	linked, err := expand(t.projectLinks(boundPeers).env())
	if err != nil {
		return "", err
	}
	filled, err := expand(supervised(project))
	if err != nil {
		return "", err
	}
	ctr := withEnv(withEnv(withEnv(r.backend.ctr, linked), project), filled).
		WithServiceBinding(boundPeers.postgres, t.run(t.postgres(r.postgres, false), r.supervisor)).
		WithServiceBinding(boundPeers.redis, t.run(t.redis(false), r.supervisor)).
		WithEnvVariable("COMMANDCENTER_TEST_RUN", run)
	return runSuite(ctx, "backend", ctr, command)
}

// runSuite runs a test command and returns the last line of its output, or
// an error with the end of its output when it fails.
func runSuite(ctx context.Context, name string, ctr *dagger.Container, command []string) (string, error) {
	ctr = ctr.WithExec(command, dagger.ContainerWithExecOpts{Expect: dagger.ReturnTypeAny})
	code, err := ctr.ExitCode(ctx)
	if err != nil {
		return "", fmt.Errorf("%s tests: %w", name, err)
	}
	stdout, err := ctr.Stdout(ctx)
	if err != nil {
		return "", err
	}
	stderr, err := ctr.Stderr(ctx)
	if err != nil {
		return "", err
	}
	output := strings.TrimSpace(stdout + "\n" + stderr)
	if code != 0 {
		return "", fmt.Errorf("%s tests failed (%s exited %d):\n%s", name, strings.Join(command, " "), code, lastLines(output, 60))
	}
	return summaryLine(output), nil
}

// summaryLine picks the line of a test run's output that says how it went.
func summaryLine(output string) string {
	lines := strings.Split(output, "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		line := strings.TrimSpace(lines[i])
		if strings.Contains(line, "passed") || strings.HasPrefix(line, "Tests") {
			return line
		}
	}
	return lastLines(output, 1)
}

func lastLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
