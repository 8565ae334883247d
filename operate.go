package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"dagger/commandcenter/internal/contract"
	"dagger/commandcenter/internal/dagger"
)

// Operating a running project, from any session of the engine: every
// service of the project writes its state, health and output to the
// project's state volume, and takes restarts and a stop from it (see
// supervisor/state.go and requests.go). These functions read and ask
// through it, in a container that mounts it; nothing here starts a service.

// exitNotRunning is the supervisor's exit status of a query of a project
// where nothing runs (supervisor/commands.go).
const exitNotRunning = 3

// query runs one of the supervisor's state subcommands for the project:
// its output, or an error with what it said.
func (m *Commandcenter) query(ctx context.Context, command string, q contract.Query) (string, int, error) {
	q.State, q.Project = keepPath(stateKind), m.Project
	ctr := uncached(m.withVolumes(dag.Container().From(helperImage), stateKind).
		WithFile(contract.SupervisorPath, supervisorProgram()), "QUERY").
		WithExec(q.Args(command), dagger.ContainerWithExecOpts{Expect: dagger.ReturnTypeAny})
	code, err := ctr.ExitCode(ctx)
	if err != nil {
		return "", 0, err
	}
	out, err := ctr.Stdout(ctx)
	if err != nil {
		return "", 0, err
	}
	if code != 0 {
		said, err := ctr.Stderr(ctx)
		if err != nil {
			return "", 0, err
		}
		if strings.TrimSpace(said) == "" {
			said = out
		}
		return out, code, errors.New(strings.TrimSpace(said))
	}
	return out, 0, nil
}

// jsonFormat reads --format.
func jsonFormat(format string) (bool, error) {
	switch format {
	case "text", "":
		return false, nil
	case "json":
		return true, nil
	}
	return false, fmt.Errorf("--format=%s: give text or json", format)
}

// Status tells what each service of the project does: its state
// (starting, ready, unhealthy, restarting, exited with its code, or gone
// when its run ended without a word), since when, how many times it was
// restarted, its port and the host ports `up` forwards to it where known,
// and its last health check. With nothing running it says so, and fails
// (with --format=json it answers "running": false).
//
//	dagger call --project=shop status
//
// +cache="never"
func (m *Commandcenter) Status(
	ctx context.Context,
	// text, for people, or json, for programs: {"project", "running",
	// "healthy", "services": [{"name", "state", "since", "restarts",
	// "health", ...}]}.
	// +optional
	// +default="text"
	format string,
) (string, error) {
	json, err := jsonFormat(format)
	if err != nil {
		return "", fmt.Errorf("status: %w", err)
	}
	out, code, err := m.query(ctx, contract.StatusCommand, contract.Query{JSON: json})
	switch {
	case code == exitNotRunning && json:
		return out, nil
	case code == exitNotRunning:
		return "", errors.New(strings.TrimSpace(out))
	case err != nil:
		return "", fmt.Errorf("status of project %q: %w", m.Project, err)
	}
	return out, nil
}

// Logs returns what the project's services wrote (stdout and stderr, with
// their times, secrets masked), from the project's state volume: the
// current run's, or the previous run's. Each service keeps its last 10 MB,
// and 5 MB of the run before. Follow a running stack's log with the host's
// commandcenter command (`commandcenter logs -f`).
//
//	dagger call --project=shop logs --service=backend --tail=50
//
// +cache="never"
func (m *Commandcenter) Logs(
	ctx context.Context,
	// Services whose logs to show (postgres, redis, backend, frontend, a
	// worker's name): all without.
	// +optional
	service []string,
	// The last lines only (0: all).
	// +optional
	tail int,
	// Lines written since: a duration ago (10m) or a time (RFC 3339).
	// +optional
	since string,
	// The previous run's log instead.
	// +optional
	previous bool,
	// text, or json: [{"service", "time", "stream", "text"}].
	// +optional
	// +default="text"
	format string,
) (string, error) {
	json, err := jsonFormat(format)
	if err != nil {
		return "", fmt.Errorf("logs: %w", err)
	}
	if tail < 0 {
		return "", fmt.Errorf("logs: --tail=%d: give 0 (all) or more", tail)
	}
	out, _, err := m.query(ctx, contract.LogsCommand, contract.Query{Services: service, Tail: tail, Since: since, Previous: previous, JSON: json})
	if err != nil {
		return "", fmt.Errorf("logs: %w", err)
	}
	return out, nil
}

// Restart restarts one service of the running project, where it runs: the
// backend, a worker or the frontend (its process ends with SIGTERM and
// starts again, with the settings it was started with), or Postgres or
// Redis (a clean shutdown, then a start). The other services keep running,
// and their connections with them.
//
//	dagger call --project=shop restart --service=backend
//
// +cache="never"
func (m *Commandcenter) Restart(
	ctx context.Context,
	// The service: postgres, redis, backend, frontend or a worker's name.
	service string,
) (string, error) {
	if !contract.NamePattern.MatchString(service) {
		return "", fmt.Errorf("restart: --service=%q is not a service's name, such as backend", service)
	}
	out, _, err := m.query(ctx, contract.RequestCommand, contract.Query{Action: "restart", Services: []string{service}})
	if err != nil {
		return "", err
	}
	return out, nil
}

// Down stops the running project cleanly, from anywhere: Postgres shuts
// down (its next start needs no recovery), Redis writes its data, every
// service ends; the `up` that runs it (or `commandcenter up`) then ends.
// It returns once every service has ended.
//
//	dagger call --project=shop down
//
// +cache="never"
func (m *Commandcenter) Down(ctx context.Context) (string, error) {
	out, _, err := m.query(ctx, contract.RequestCommand, contract.Query{Action: "stop"})
	if err != nil {
		return "", err
	}
	return out, nil
}

// Control is a service that answers the project's status, logs (and
// follows them), restarts and stop over HTTP on port 65434, to requests
// that carry token (Authorization: Bearer TOKEN). The host's commandcenter
// command starts it next to `up` to follow logs and see the stack end.
//
// +cache="session"
func (m *Commandcenter) Control(
	// Token every request must carry: 16 characters or more.
	token *dagger.Secret,
) *dagger.Service {
	q := contract.Query{State: keepPath(stateKind), Project: m.Project}
	return m.withVolumes(dag.Container().From(helperImage), stateKind).
		WithFile(contract.SupervisorPath, supervisorProgram()).
		WithSecretVariable(contract.ControlTokenEnv, token).
		WithExposedPort(contract.ControlServicePort, dagger.ContainerWithExposedPortOpts{Description: "control"}).
		AsService(dagger.ContainerAsServiceOpts{Args: q.Args(contract.ControlCommand)})
}
