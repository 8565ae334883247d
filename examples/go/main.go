// Examples of the commandcenter module used from another Dagger module: bind
// its Postgres into a container of your own, run its Stack with settings of
// your own (the With* builders), and run a project's tests against a live
// stack. Each example is named Commandcenter_FUNCTION, as the Daggerverse
// expects.
package main

import (
	"context"
	"encoding/json"
	"errors"
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

// hubStatus is the part of `status --format=json` the hub reads.
type hubStatus struct {
	Running  bool `json:"running"`
	Healthy  bool `json:"healthy"`
	Services []struct {
		Name     string `json:"name"`
		State    string `json:"state"`
		Restarts int    `json:"restarts"`
		PID      int    `json:"pid"`
	} `json:"services"`
}

func (s hubStatus) service(name string) (state string, restarts, pid int) {
	for _, v := range s.Services {
		if v.Name == name {
			return v.State, v.Restarts, v.PID
		}
	}
	return "missing", 0, 0
}

// waitHealthy asks the project's status until every service is ready and
// until ok (when given) says the status is the one awaited, for at most
// limit: a first start builds images.
func waitHealthy(ctx context.Context, project *dagger.Commandcenter, limit time.Duration, ok func(hubStatus) bool) (hubStatus, error) {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	var last hubStatus
	for {
		out, err := project.Status(ctx, dagger.CommandcenterStatusOpts{Format: "json"})
		if err == nil {
			last = hubStatus{}
			if err := json.Unmarshal([]byte(out), &last); err != nil {
				return last, fmt.Errorf("status --format=json is not JSON: %w: %s", err, out)
			}
			if last.Running && last.Healthy && (ok == nil || ok(last)) {
				return last, nil
			}
		}
		select {
		case <-ctx.Done():
			if err == nil || ctx.Err() != nil {
				err = fmt.Errorf("its last status: %+v", last)
			}
			return last, fmt.Errorf("the project was not healthy within %s: %w", limit, err)
		case <-time.After(time.Second):
		}
	}
}

// Commandcenter_Operate is the loop of a hub that runs many projects: it
// starts a project's stack, waits until every service is healthy, reads
// the backend's last log lines, restarts the backend (Postgres and the
// others keep running), waits until it is healthy again, and stops the
// project cleanly. From the CLI, each step is
//
//	dagger call --project=examples-hub status --format=json
//	dagger call --project=examples-hub logs --service=backend --tail=5
//	dagger call --project=examples-hub restart --service=backend
//	dagger call --project=examples-hub down
//
// +cache="never"
func (m *Examples) Commandcenter_Operate(ctx context.Context) (string, error) {
	project := dag.Commandcenter(dagger.CommandcenterOpts{Project: "examples-hub"})
	stack, err := project.Stack(m.Project).Start(ctx)
	if err != nil {
		return "", fmt.Errorf("start: %w", err)
	}
	stopped := false
	defer func() {
		if !stopped {
			_, _ = project.Down(ctx)
		}
		_, _ = stack.Stop(ctx)
	}()
	var report []string

	st, err := waitHealthy(ctx, project, 15*time.Minute, nil)
	if err != nil {
		return "", err
	}
	var names []string
	for _, s := range st.Services {
		names = append(names, s.Name+" "+s.State)
	}
	report = append(report, "healthy: "+strings.Join(names, ", "))
	_, _, pid := st.service("backend")

	logs, err := project.Logs(ctx, dagger.CommandcenterLogsOpts{Service: []string{"backend"}, Tail: 5})
	if err != nil {
		return "", fmt.Errorf("logs: %w", err)
	}
	lines := strings.Split(strings.TrimSpace(logs), "\n")
	if len(lines) == 0 || len(lines) > 5 || !strings.Contains(logs, "backend") {
		return "", fmt.Errorf("logs --service=backend --tail=5: want 1 to 5 lines of the backend, got %q", logs)
	}
	report = append(report, fmt.Sprintf("backend's last log lines: %d", len(lines)))

	if _, err := project.Restart(ctx, "backend"); err != nil {
		return "", fmt.Errorf("restart: %w", err)
	}
	st, err = waitHealthy(ctx, project, 2*time.Minute, func(s hubStatus) bool {
		state, restarts, now := s.service("backend")
		return state == "ready" && restarts == 1 && now != pid
	})
	if err != nil {
		return "", fmt.Errorf("after the backend's restart: %w", err)
	}
	state, restarts, _ := st.service("backend")
	report = append(report, fmt.Sprintf("backend after its restart: %s, restarts %d, a new process", state, restarts))

	if _, err := project.Down(ctx); err != nil {
		return "", fmt.Errorf("down: %w", err)
	}
	stopped = true
	out, err := project.Status(ctx, dagger.CommandcenterStatusOpts{Format: "json"})
	if err != nil {
		return "", fmt.Errorf("status after down: %w", err)
	}
	var after hubStatus
	if err := json.Unmarshal([]byte(out), &after); err != nil {
		return "", fmt.Errorf("status after down is not JSON: %w: %s", err, out)
	}
	if after.Running {
		return "", errors.New("status after down: the project still runs")
	}
	report = append(report, "down: nothing runs")
	return strings.Join(report, "\n") + "\n", nil
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
		{"commandcenter-operate", m.Commandcenter_Operate, regexp.MustCompile(`(?s)^healthy: .*backend ready.*\nbackend's last log lines: [1-5]\nbackend after its restart: ready, restarts 1, a new process\ndown: nothing runs\n$`)},
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
