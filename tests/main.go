// Tests of the commandcenter module on a real engine: each starts services
// of the module and checks them with a real client (psql, redis-cli, HTTP) in
// a container bound to them.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"time"

	"dagger/tests/internal/dagger"
)

// Clients the tests run, from the same image families as the services.
const (
	psqlImage     = "postgres:17-trixie"
	nodeImage     = "node:24-trixie-slim"
	redisCliImage = "redis:8-trixie"
	httpImage     = "python:3.13-slim-trixie"
)

type Tests struct {
	// The example project (a backend and a frontend in CommandCenter's layout).
	Example *dagger.Directory
	// Projects' parts for the tests (tests/fixtures).
	Fixtures *dagger.Directory
}

func New(
	// The example project the tests run.
	// +defaultPath="/examples/commandcenter"
	example *dagger.Directory,
	// Projects' parts for the tests.
	// +defaultPath="/tests/fixtures"
	fixtures *dagger.Directory,
) *Tests {
	return &Tests{Example: example, Fixtures: fixtures}
}

// tests are every test of Tests: each method but All that takes a context
// and returns an error. Found, not listed, so that none is forgotten.
func (m *Tests) tests() map[string]func(context.Context) error {
	tests := map[string]func(context.Context) error{}
	v := reflect.ValueOf(m)
	for i := range v.NumMethod() {
		name := v.Type().Method(i).Name
		if test, ok := v.Method(i).Interface().(func(context.Context) error); ok && name != "All" {
			tests[name] = test
		}
	}
	return tests
}

// All runs every test concurrently and reports each one that failed.
//
// +cache="never"
func (m *Tests) All(ctx context.Context) error {
	tests := m.tests()
	checks := map[string]func() error{}
	for name, test := range tests {
		checks[name] = func() error {
			start := time.Now()
			err := test(ctx)
			status := "ok  "
			if err != nil {
				status = "FAIL"
			}
			fmt.Printf("%s %s (%s)\n", status, name, time.Since(start).Round(time.Second))
			return err
		}
	}
	failed := runAll(checks)
	fmt.Printf("%d passed, %d failed\n", len(tests)-len(failed), len(failed))
	return errors.Join(failed...)
}

// fresh makes a client run every time: an exec's result is otherwise cached,
// and a cached check would check nothing.
func fresh(ctr *dagger.Container) *dagger.Container {
	return ctr.WithEnvVariable("TESTS_RUN", time.Now().Format(time.RFC3339Nano))
}

func psql(svc *dagger.Service, password *dagger.Secret, port int, sql string) *dagger.Container {
	return psqlRun(svc, password, port, "-tAc", sql)
}

// psqlRun runs psql with args against svc as the project's user, stopping
// at the first error.
func psqlRun(svc *dagger.Service, password *dagger.Secret, port int, args ...string) *dagger.Container {
	return fresh(dag.Container().From(psqlImage)).
		WithServiceBinding("db", svc).
		WithSecretVariable("PGPASSWORD", password).
		WithExec(append([]string{"psql", "-h", "db", "-p", fmt.Sprint(port), "-U", "commandcenter", "-d", "commandcenter",
			"-v", "ON_ERROR_STOP=1"}, args...), dagger.ContainerWithExecOpts{Expect: dagger.ReturnTypeAny})
}

func redisCli(svc *dagger.Service, password *dagger.Secret, port int, args ...string) *dagger.Container {
	ctr := fresh(dag.Container().From(redisCliImage)).WithServiceBinding("cache", svc)
	cmd := []string{"redis-cli", "-h", "cache", "-p", fmt.Sprint(port), "--no-auth-warning"}
	if password != nil {
		ctr = ctr.WithSecretVariable("REDISCLI_AUTH", password)
	}
	return ctr.WithExec(append(cmd, args...), dagger.ContainerWithExecOpts{Expect: dagger.ReturnTypeAny})
}

// httpScript fetches a URL (retrying while the server starts), as a browser
// on the developer's machine does (Host: localhost), and prints the status
// code on the first line and the body after it.
const httpScript = `
import sys, time, urllib.request, urllib.error
url, method, data = sys.argv[1], sys.argv[2], sys.argv[3].encode() or None
last = None
for _ in range(60):
    try:
        # As a browser on the developer's machine asks: the frontend's dev
        # server answers only requests for localhost names.
        req = urllib.request.Request(url, data=data, method=method,
                                     headers={"Content-Type": "application/json", "Host": "localhost"})
        with urllib.request.urlopen(req, timeout=10) as r:
            print(r.status); print(r.read().decode()); sys.exit(0)
    except urllib.error.HTTPError as e:
        print(e.code); print(e.read().decode()); sys.exit(0)
    except Exception as e:
        last = e; time.sleep(1)
print("no answer from", url, last, file=sys.stderr); sys.exit(1)
`

// httpDo runs a request from a container bound to svc as host. The service
// is started first: one that fails to start as a binding comes back from
// Dagger v0.19's SDK as "invalid nil ref", started alone with its exit code
// and output.
func httpDo(ctx context.Context, svc *dagger.Service, host, method, url, body string) (int, string, error) {
	if _, err := svc.Start(ctx); err != nil {
		return 0, "", withOutput(err)
	}
	out, err := fresh(dag.Container().From(httpImage)).
		WithServiceBinding(host, svc).
		WithExec([]string{"python3", "-c", httpScript, url, method, body}).
		Stdout(ctx)
	if err != nil {
		return 0, "", err
	}
	status, rest, _ := strings.Cut(out, "\n")
	var code int
	if _, err := fmt.Sscan(status, &code); err != nil {
		return 0, "", fmt.Errorf("%s %s: unexpected output %q", method, url, out)
	}
	return code, rest, nil
}

// withOutput adds an exec error's output to its message.
func withOutput(err error) error {
	var exec *dagger.ExecError
	if errors.As(err, &exec) {
		return fmt.Errorf("%w\n%s\n%s", err, exec.Stdout, exec.Stderr)
	}
	return err
}

// checkHealth expects 200 and {"status": "ok", "postgres": "ok", "redis": "ok"}.
func checkHealth(ctx context.Context, svc *dagger.Service, host, url string) error {
	code, body, err := httpDo(ctx, svc, host, "GET", url, "")
	if err != nil {
		return err
	}
	var report map[string]string
	if err := json.Unmarshal([]byte(body), &report); err != nil {
		return fmt.Errorf("GET %s: %d, body is not JSON: %q", url, code, body)
	}
	if code != 200 || report["status"] != "ok" || report["postgres"] != "ok" || report["redis"] != "ok" {
		return fmt.Errorf("GET %s: %d %v, want 200 with postgres and redis ok", url, code, report)
	}
	return nil
}

// expectOutput runs ctr's exec and wants its exit code and output to match.
func expectOutput(ctx context.Context, ctr *dagger.Container, wantCode int, wantIn string) error {
	code, err := ctr.ExitCode(ctx)
	if err != nil {
		return err
	}
	stdout, err := ctr.Stdout(ctx)
	if err != nil {
		return err
	}
	stderr, err := ctr.Stderr(ctx)
	if err != nil {
		return err
	}
	if code != wantCode || !strings.Contains(stdout+stderr, wantIn) {
		return fmt.Errorf("exit %d, output %q %q; want exit %d and %q", code, stdout, stderr, wantCode, wantIn)
	}
	return nil
}
