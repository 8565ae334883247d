package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"dagger/commandcenter/internal/dagger"
)

// Test runs the project's test suites against a live stack and returns a
// short report; it fails with the suite's own output when a test fails.
//
// The backend's tests (pytest by default) run in a container built like the
// backend, bound to a fresh Postgres and Redis as "postgres" and "redis", with
// DATABASE_URL and REDIS_URL set as the backend gets them. The frontend's tests
// (npm test by default) run in a container built like the frontend. The
// databases of a test run are thrown away after it: a project's own data is
// never touched.
//
// +cache="never"
func (m *Commandcenter) Test(
	ctx context.Context,
	// The project's source folder.
	src *dagger.Directory,
	// Folder of the backend inside src, with requirements.txt.
	// +optional
	// +default="backend"
	backendDir string,
	// Folder of the frontend inside src, with package.json.
	// +optional
	// +default="frontend"
	frontendDir string,
	// Command that runs the backend's tests.
	// +optional
	// +default=["python", "-m", "pytest", "-q"]
	backendCommand []string,
	// Command that runs the frontend's tests.
	// +optional
	// +default=["npm", "test"]
	frontendCommand []string,
	// Python version of the backend: 3.11, 3.12, 3.13 or 3.14.
	// +optional
	// +default="3.13"
	pythonVersion string,
	// Major version of Node.js for the frontend: 22 or 24.
	// +optional
	// +default="24"
	nodeVersion string,
	// Major version of PostgreSQL the backend's tests run against.
	// +optional
	// +default="17"
	postgresVersion string,
	// Skip the backend's tests.
	// +optional
	skipBackend bool,
	// Skip the frontend's tests.
	// +optional
	skipFrontend bool,
) (string, error) {
	be := backendOpts{Dir: backendDir, Version: pythonVersion, App: "app.main:app", Port: 8000}
	fe := frontendOpts{Dir: frontendDir, Version: nodeVersion, Port: 3000, Command: frontendCommand}
	pg := defaultPostgres()
	pg.Version = postgresVersion
	if skipBackend && skipFrontend {
		return "", fmt.Errorf("test: both suites are skipped: drop --skip-backend or --skip-frontend")
	}
	if len(backendCommand) == 0 || len(frontendCommand) == 0 {
		return "", fmt.Errorf("test: a test command is empty: set --backend-command and --frontend-command to the commands that run the tests")
	}
	for _, check := range []func() error{be.check, fe.check, pg.check} {
		if err := check(); err != nil {
			return "", fmt.Errorf("test: %w", err)
		}
	}
	// Each run names itself, so a suite always runs against live services
	// and never comes back from the cache.
	run := time.Now().UTC().Format("20060102T150405.000000000")

	var report []string
	if !skipBackend {
		out, err := m.testBackend(ctx, src, be, pg, backendCommand, run)
		if err != nil {
			return "", err
		}
		report = append(report, "backend:  "+out)
	}
	if !skipFrontend {
		script := ""
		if len(frontendCommand) == 2 && frontendCommand[0] == "npm" && frontendCommand[1] == "test" {
			script = "test"
		}
		ctr, err := m.frontendContainer(ctx, src, fe, script)
		if err != nil {
			return "", err
		}
		out, err := runSuite(ctx, "frontend", ctr.WithEnvVariable("CI", "true").WithEnvVariable("NO_COLOR", "1").WithEnvVariable("COMMANDCENTER_TEST_RUN", run), frontendCommand)
		if err != nil {
			return "", err
		}
		report = append(report, "frontend: "+out)
	}
	return strings.Join(report, "\n") + "\n", nil
}

func (m *Commandcenter) testBackend(ctx context.Context, src *dagger.Directory, be backendOpts, pg postgresOpts,
	command []string, run string,
) (string, error) {
	ctr, err := m.backendContainer(ctx, src, be)
	if err != nil {
		return "", err
	}
	// Throw-away services with a password of their own.
	pg.Password = dag.SetSecret("commandcenter-test-postgres-"+run, randomPassword())
	rd := redisOpts{Version: defaultRedisVersion, Password: dag.SetSecret("commandcenter-test-redis-"+run, randomPassword())}
	pgSvc, err := m.postgresService(ctx, pg, false)
	if err != nil {
		return "", err
	}
	rdSvc, err := m.redis(ctx, rd, nil)
	if err != nil {
		return "", err
	}
	pgURL, err := m.databaseURL(ctx, pg, "postgres", postgresPort)
	if err != nil {
		return "", err
	}
	rdURL, err := m.redisURL(ctx, rd, "redis", redisPort)
	if err != nil {
		return "", err
	}
	ctr = ctr.
		WithServiceBinding("postgres", pgSvc).
		WithServiceBinding("redis", rdSvc).
		WithSecretVariable("DATABASE_URL", pgURL).
		WithSecretVariable("REDIS_URL", rdURL).
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

func randomPassword() string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return hex.EncodeToString(b)
}
