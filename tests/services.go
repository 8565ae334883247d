package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"dagger/tests/internal/dagger"
)

// secret is a password of the test's own, different on every run.
func secret(name string) *dagger.Secret {
	return dag.SetSecret(name, fmt.Sprintf("pw-%s-%d", name, time.Now().UnixNano()))
}

// project is a project name of the test's own, so that tests running at
// once never share a database.
func project(name string) *dagger.Commandcenter {
	return dag.Commandcenter(dagger.CommandcenterOpts{Project: "test-" + name})
}

// emptyProject is the test's own project with its data wiped first: a
// database is created with the password of its first start, and each run of
// the tests has passwords of its own.
func emptyProject(ctx context.Context, name string) (*dagger.Commandcenter, error) {
	cc := project(name)
	if _, err := cc.Wipe(ctx, "test-"+name); err != nil {
		return nil, err
	}
	return cc, nil
}

// exampleStack is the example's Stack in the test's own empty project, with
// passwords of the test's own.
func (m *Tests) exampleStack(ctx context.Context, name string) (stack *dagger.Service, pgPW, rdPW *dagger.Secret, err error) {
	cc, pgPW, rdPW, err := exampleProject(ctx, name)
	if err != nil {
		return nil, nil, nil, err
	}
	return cc.Stack(m.Example), pgPW, rdPW, nil
}

// exampleProject is the empty project name with Postgres and Redis
// passwords of its own (given, so that a client can log in).
func exampleProject(ctx context.Context, name string) (cc *dagger.Commandcenter, pgPW, rdPW *dagger.Secret, err error) {
	cc, err = emptyProject(ctx, name)
	if err != nil {
		return nil, nil, nil, err
	}
	pgPW, rdPW = secret(name+"-pg"), secret(name+"-redis")
	cc = cc.
		WithPostgres(dagger.CommandcenterWithPostgresOpts{Password: pgPW}).
		WithRedis(dagger.CommandcenterWithRedisOpts{Password: rdPW})
	return cc, pgPW, rdPW, nil
}

// PostgresAcceptsPassword: psql logs in with the password and runs a query;
// a wrong password is refused.
//
// +cache="never"
func (m *Tests) PostgresAcceptsPassword(ctx context.Context) error {
	pw := secret("pg-accepts")
	cc, err := emptyProject(ctx, "pg-accepts")
	if err != nil {
		return err
	}
	svc := cc.WithPostgres(dagger.CommandcenterWithPostgresOpts{Password: pw}).Postgres()
	if err := expectOutput(ctx, psql(svc, pw, 5432, "select 40 + 2"), 0, "42"); err != nil {
		return fmt.Errorf("right password: %w", err)
	}
	if err := expectOutput(ctx, psql(svc, dag.SetSecret("wrong", "wrong-password"), 5432, "select 1"), 2,
		"password authentication failed"); err != nil {
		return fmt.Errorf("wrong password: %w", err)
	}
	return nil
}

// PostgresRunsInitScripts: a SQL file of initScripts creates a table at first start.
//
// +cache="never"
func (m *Tests) PostgresRunsInitScripts(ctx context.Context) error {
	pw := secret("pg-init")
	table := fmt.Sprintf("seeded_%d", time.Now().UnixNano())
	scripts := dag.Directory().WithNewFile("01-seed.sql",
		fmt.Sprintf("CREATE TABLE %s (n int); INSERT INTO %s VALUES (7);", table, table))
	// Init scripts run only on an empty database.
	cc, err := emptyProject(ctx, "pg-init")
	if err != nil {
		return err
	}
	svc := cc.WithPostgres(dagger.CommandcenterWithPostgresOpts{Password: pw, InitScripts: scripts}).Postgres()
	return expectOutput(ctx, psql(svc, pw, 5432, "select n from "+table), 0, "7")
}

// RedisRequiresPassword: redis-cli gets PONG with AUTH and NOAUTH without.
//
// +cache="never"
func (m *Tests) RedisRequiresPassword(ctx context.Context) error {
	pw := secret("redis")
	svc := project("redis").WithRedis(dagger.CommandcenterWithRedisOpts{Password: pw}).Redis()
	if err := expectOutput(ctx, redisCli(svc, pw, 6379, "ping"), 0, "PONG"); err != nil {
		return fmt.Errorf("with AUTH: %w", err)
	}
	if err := expectOutput(ctx, redisCli(svc, nil, 6379, "ping"), 0, "NOAUTH"); err != nil {
		return fmt.Errorf("without AUTH: %w", err)
	}
	return nil
}

// BackendReportsBothHealthy: the example backend, with the Postgres and Redis
// the module starts for it, answers /health with both ok.
//
// +cache="never"
func (m *Tests) BackendReportsBothHealthy(ctx context.Context) error {
	svc := project("backend").Backend(m.Example)
	return checkHealth(ctx, svc, "backend", "http://backend:8000/health")
}

// FrontendServesPageAndApi: the frontend serves its page, and /api reaches
// the backend through the dev server's proxy.
//
// +cache="never"
func (m *Tests) FrontendServesPageAndApi(ctx context.Context) error {
	cc, err := emptyProject(ctx, "frontend")
	if err != nil {
		return err
	}
	svc := cc.Frontend(m.Example)
	code, body, err := httpDo(ctx, svc, "frontend", "GET", "http://frontend:3000/", "")
	if err != nil {
		return err
	}
	if code != 200 || !strings.Contains(body, "<title>CommandCenter</title>") {
		return fmt.Errorf("GET /: %d %q, want 200 and the page", code, body)
	}
	return checkHealth(ctx, svc, "frontend", "http://frontend:3000/api/health")
}

// StackForwardsAllFourPorts: one Stack service answers Postgres on 5432,
// Redis on 6379, the backend on 8000 and the frontend on 3000.
//
// +cache="never"
func (m *Tests) StackForwardsAllFourPorts(ctx context.Context) error {
	stack, pgPW, rdPW, err := m.exampleStack(ctx, "stack")
	if err != nil {
		return err
	}
	checks := map[string]func() error{
		"5432 (postgres)": func() error {
			return expectOutput(ctx, psql(stack, pgPW, 5432, "select 'via the stack'"), 0, "via the stack")
		},
		"6379 (redis)":    func() error { return expectOutput(ctx, redisCli(stack, rdPW, 6379, "ping"), 0, "PONG") },
		"8000 (backend)":  func() error { return checkHealth(ctx, stack, "stack", "http://stack:8000/health") },
		"3000 (frontend)": func() error { return checkHealth(ctx, stack, "stack", "http://stack:3000/api/health") },
	}
	return errors.Join(runAll(checks)...)
}

// StackStopsWhenAServiceEnds: a backend whose prestart command fails ends
// the whole Stack at start, and the error names the backend and its status.
//
// +cache="never"
func (m *Tests) StackStopsWhenAServiceEnds(ctx context.Context) error {
	cc, err := emptyProject(ctx, "stack-stops")
	if err != nil {
		return err
	}
	stack := cc.WithBackend(dagger.CommandcenterWithBackendOpts{
		// A different command every run, so that no earlier run's result is reused.
		Prestart: fmt.Sprintf("echo 'migration failed (run %d)' >&2; exit 3", time.Now().UnixNano()),
	}).Stack(m.Example)
	_, err = stack.Start(ctx)
	if err == nil {
		_, _ = stack.Stop(ctx)
		return errors.New("the Stack started with a backend whose prestart exits 3")
	}
	// The front's exit is an exec error, with the front's output.
	said := err.Error()
	var exec *dagger.ExecError
	if errors.As(err, &exec) {
		said += "\n" + exec.Stdout + "\n" + exec.Stderr
	}
	if want := "backend ended (exit status 3): stopping stack"; !strings.Contains(said, want) {
		return fmt.Errorf("the Stack failed to start, but its error does not say %q: %s", want, said)
	}
	// Postgres stopped cleanly then (a fast shutdown), not killed: its log
	// says so after the front's (a new database's first start says it too,
	// before).
	after := said[strings.LastIndex(said, "stopping stack"):]
	if want := "database system is shut down"; !strings.Contains(after, want) {
		return fmt.Errorf("the Stack stopped, but Postgres's log does not say %q after it: %s", want, after)
	}
	return nil
}

// ProjectsHaveTheirOwnPassword: without a password, each project gets a
// generated one, the same on every call and different between projects.
//
// +cache="never"
func (m *Tests) ProjectsHaveTheirOwnPassword(ctx context.Context) error {
	a1, err := project("pw-a").Urls(ctx)
	if err != nil {
		return err
	}
	a2, err := project("pw-a").Urls(ctx)
	if err != nil {
		return err
	}
	b, err := project("pw-b").Urls(ctx)
	if err != nil {
		return err
	}
	if a1 != a2 {
		return fmt.Errorf("project pw-a's URLs changed between two calls")
	}
	if firstLine(a1) == firstLine(b) {
		return fmt.Errorf("projects pw-a and pw-b got the same database URL")
	}
	if !strings.HasPrefix(a1, "DATABASE_URL=postgresql://commandcenter:") || len(firstLine(a1)) < 80 {
		return fmt.Errorf("unexpected URLs %q", a1)
	}
	return nil
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// runAll runs checks at once and returns the error of each that failed,
// named after it.
func runAll(checks map[string]func() error) []error {
	var (
		mu     sync.Mutex
		failed []error
		wg     sync.WaitGroup
	)
	for name, check := range checks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := check(); err != nil {
				mu.Lock()
				failed = append(failed, fmt.Errorf("%s: %w", name, err))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return failed
}

// FrontendInstallsWithPnpmAndYarn: a frontend with a pnpm lock file is
// installed and run with pnpm, one with a yarn lock file with yarn, each
// tool from the npm registry; the dev server answers only when its
// dependency is installed.
//
// +cache="never"
func (m *Tests) FrontendInstallsWithPnpmAndYarn(ctx context.Context) error {
	// yarn 1 writes the registry's address into its lock file: the test
	// makes the lock file with yarn, as a developer does.
	yarnLock := dag.Container().From(nodeImage).
		WithExec([]string{"npm", "install", "--global", "--no-audit", "--no-fund", "yarn@1"}).
		WithDirectory("/app", m.Fixtures.Directory("yarn-frontend")).
		WithWorkdir("/app").
		WithExec([]string{"yarn", "install", "--ignore-scripts", "--non-interactive"}).
		File("/app/yarn.lock")
	checks := map[string]func() error{}
	for _, c := range []struct {
		manager  string
		frontend *dagger.Directory
	}{
		{"pnpm", m.Fixtures.Directory("pnpm-frontend")},
		{"yarn", m.Fixtures.Directory("yarn-frontend").WithFile("yarn.lock", yarnLock)},
	} {
		checks[c.manager] = func() error {
			src := m.Example.WithoutDirectory("frontend").WithDirectory("frontend", c.frontend)
			svc := project(c.manager + "-frontend").Frontend(src)
			code, body, err := httpDo(ctx, svc, "frontend", "GET", "http://frontend:3000/", "")
			if err != nil {
				return err
			}
			if want := c.manager + " frontend: is-number(7) is true, run by " + c.manager + "/"; code != 200 || !strings.Contains(body, want) {
				return fmt.Errorf("GET /: %d %q, want %q", code, body, want)
			}
			report, err := project(c.manager+"-frontend").Test(ctx, src, dagger.CommandcenterTestOpts{SkipBackend: true})
			if err != nil {
				return err
			}
			if !strings.Contains(report, "frontend: Tests 1 passed (1)") {
				return fmt.Errorf("test: %q, want the fixture's test passed", report)
			}
			return nil
		}
	}
	return errors.Join(runAll(checks)...)
}

// FrontendKeepsWhatItsInstallWroteBesideItsSource: where the install
// writes into a folder the source has too (a postinstall that puts an asset
// in public/), the running frontend has both: the source's page and the
// install's asset.
//
// +cache="never"
func (m *Tests) FrontendKeepsWhatItsInstallWroteBesideItsSource(ctx context.Context) error {
	src := m.Example.WithoutDirectory("frontend").WithDirectory("frontend", m.Fixtures.Directory("postinstall-frontend"))
	svc := project("postinstall-frontend").Frontend(src)
	code, body, err := httpDo(ctx, svc, "frontend", "GET", "http://frontend:3000/", "")
	if err != nil {
		return err
	}
	for _, want := range []string{"<p>page from the source</p>\n", "asset made by the install\n"} {
		if code != 200 || !strings.Contains(body, want) {
			return fmt.Errorf("GET /: %d %q, want it to have %q", code, body, want)
		}
	}
	return nil
}

// FrontendServesItsProductionBuild: with-frontend --production builds the
// example's frontend and serves the build: the built page, /api through to
// the backend, and the page for a route of the app.
//
// +cache="never"
func (m *Tests) FrontendServesItsProductionBuild(ctx context.Context) error {
	svc := project("frontend-production").
		WithFrontend(dagger.CommandcenterWithFrontendOpts{Production: true}).
		Frontend(m.Example)
	code, body, err := httpDo(ctx, svc, "frontend", "GET", "http://frontend:3000/", "")
	if err != nil {
		return err
	}
	// A build's page loads its scripts from hashed assets, the dev server's from /src.
	if code != 200 || !strings.Contains(body, "<title>CommandCenter</title>") || !strings.Contains(body, "/assets/") || strings.Contains(body, "/src/main.js") {
		return fmt.Errorf("GET /: %d %q, want the built page", code, body)
	}
	code, route, err := httpDo(ctx, svc, "frontend", "GET", "http://frontend:3000/notes/42", "")
	if err != nil {
		return err
	}
	if code != 200 || route != body {
		return fmt.Errorf("GET /notes/42: %d, want the app's page (a route of a single-page app)", code)
	}
	return checkHealth(ctx, svc, "frontend", "http://frontend:3000/api/health")
}

// BackendBuiltFromItsDockerfile: a backend built from the project's own
// Dockerfile (its stage "dev", with a build argument) runs its image's
// command, after the supervisor waited for Postgres and Redis and ran the
// prestart command, alone and in a Stack, and reaches both.
//
// +cache="never"
func (m *Tests) BackendBuiltFromItsDockerfile(ctx context.Context) error {
	src := m.Example.WithFile("backend/Dockerfile", m.Fixtures.File("backend.Dockerfile"))
	cc := project("dockerfile").WithBackend(dagger.CommandcenterWithBackendOpts{
		Dockerfile: "Dockerfile",
		BuildArgs:  []string{"GREETING=hello-from-build-args"},
		Target:     "dev",
		// Fails unless the build argument reached the image.
		Prestart: `test "$GREETING" = hello-from-build-args`,
	})
	checks := map[string]func() error{
		"alone": func() error { return checkHealth(ctx, cc.Backend(src), "backend", "http://backend:8000/health") },
		"in a stack": func() error {
			return checkHealth(ctx, project("dockerfile-stack").WithBackend(dagger.CommandcenterWithBackendOpts{
				Dockerfile: "Dockerfile", BuildArgs: []string{"GREETING=hello-from-build-args"}, Target: "dev",
				Prestart: `test "$GREETING" = hello-from-build-args`,
			}).Stack(src), "stack", "http://stack:8000/health")
		},
		// Fails unless the build ran in the repository's root, where libs/ is.
		"with the repository as its context": func() error {
			root := m.Example.
				WithFile("backend/Dockerfile.root", m.Fixtures.File("backend-root.Dockerfile")).
				WithNewFile("libs/marker.txt", "a library next to the backend\n")
			return checkHealth(ctx, project("dockerfile-context").WithBackend(dagger.CommandcenterWithBackendOpts{
				Dockerfile: "backend/Dockerfile.root", Context: ".", Prestart: "test -f /opt/libs/marker.txt",
			}).Backend(root), "backend", "http://backend:8000/health")
		},
	}
	return errors.Join(runAll(checks)...)
}

// ServicesInstallSystemPackages: a Debian package given to with-backend
// --packages or with-frontend --packages (a C library a package binds to,
// which the Python and Node images lack) is there when the service starts:
// the backend alone and in a stack, the frontend.
//
// +cache="never"
func (m *Tests) ServicesInstallSystemPackages(ctx context.Context) error {
	// Fails, and with it the start, unless the library is installed.
	const needsSodium = `python -c "import ctypes, ctypes.util, sys; name = ctypes.util.find_library('sodium'); print('libsodium:', name); ctypes.CDLL(name).sodium_init"`
	settings := dagger.CommandcenterWithBackendOpts{Packages: []string{"libsodium23"}, Prestart: needsSodium}
	checks := map[string]func() error{
		"backend alone": func() error {
			return checkHealth(ctx, project("packages").WithBackend(settings).Backend(m.Example), "backend", "http://backend:8000/health")
		},
		"backend in a stack": func() error {
			return checkHealth(ctx, project("packages-stack").WithBackend(settings).Stack(m.Example), "stack", "http://stack:8000/health")
		},
		"frontend": func() error {
			svc := project("packages-frontend").WithFrontend(dagger.CommandcenterWithFrontendOpts{
				Packages: []string{"libsodium23"},
				Command:  `ls /usr/lib/*/libsodium.so.* && exec npm run dev`,
			}).Frontend(m.Example)
			code, _, err := httpDo(ctx, svc, "frontend", "GET", "http://frontend:3000/", "")
			if err == nil && code != 200 {
				err = fmt.Errorf("GET http://frontend:3000/: %d, want 200", code)
			}
			return err
		},
	}
	return errors.Join(runAll(checks)...)
}

// SourceLeavesOutWhatDockerignoreSays: a file the backend folder's
// .dockerignore names does not reach the backend's image; the others do.
//
// +cache="never"
func (m *Tests) SourceLeavesOutWhatDockerignoreSays(ctx context.Context) error {
	src := m.Example.
		WithNewFile("backend/.dockerignore", "# not for images\nsecrets/\n*.log\n").
		WithNewFile("backend/secrets/dev.key", "not for images").
		WithNewFile("backend/debug.log", "not for images").
		WithNewFile("backend/kept.txt", "for the image")
	report, err := project("dockerignore").Test(ctx, src, dagger.CommandcenterTestOpts{
		SkipFrontend:   true,
		BackendCommand: []string{"sh", "-c", "test ! -e secrets/dev.key && test ! -e debug.log && test -e kept.txt && echo '1 passed: ignored files left out'"},
	})
	if err != nil {
		return err
	}
	if !strings.Contains(report, "1 passed: ignored files left out") {
		return fmt.Errorf("report %q", report)
	}
	return nil
}

// ProjectEnvWinsOverTheModules: a variable the project gives (with-env)
// reaches the backend as given, even one the module sets for its peers
// (REDIS_HOST); the module's other variables are still there.
//
// +cache="never"
func (m *Tests) ProjectEnvWinsOverTheModules(ctx context.Context) error {
	serveEnv := `mkdir -p /tmp/env && printf '%s|%s' "$REDIS_HOST" "$POSTGRES_USER" > /tmp/env/vars && cd /tmp/env && exec python3 -m http.server "$PORT"`
	svc := project("env-wins").
		WithBackend(dagger.CommandcenterWithBackendOpts{Command: serveEnv}).
		WithEnv("REDIS_HOST", "cache.project.example").
		Backend(m.Example)
	code, body, err := httpDo(ctx, svc, "backend", "GET", "http://backend:8000/vars", "")
	if err != nil {
		return err
	}
	if want := "cache.project.example|commandcenter"; code != 200 || strings.TrimSpace(body) != want {
		return fmt.Errorf("GET /vars: %d %q, want the project's REDIS_HOST and the module's POSTGRES_USER: %q", code, body, want)
	}
	return nil
}

// probe is a worker that runs check, Python code that raises OSError or
// AssertionError until what it checks answers, again every half second,
// and prints "NAME: all answer" once it passes, or "NAME: not all answer"
// with the last error after 5 minutes. Its helpers: get(url) is the body
// of a 200 answer; ping(host, port) Redis's first answer to PING.
func probe(name, check string) string {
	return `python3 -c "
import socket, time, urllib.request
def get(url):
    with urllib.request.urlopen(url, timeout=5) as r:
        assert r.status == 200, (url, r.status)
        return r.read().decode().strip()
def ping(host, port):
    with socket.create_connection((host, port), 2) as c:
        c.sendall(b'PING\\r\\n')
        return c.recv(64)
def check():
` + check + `
err = None
for _ in range(600):
    try:
        check()
        print('` + name + `: all answer', flush=True)
        break
    except (OSError, AssertionError) as e:
        err = e
        time.sleep(0.5)
else:
    print('` + name + `: not all answer:', repr(err), flush=True)
time.sleep(3600)
"`
}

// waitProbe waits until the probe worker of project cc says it passed (or
// failed, or did not say within 6 minutes).
func waitProbe(ctx context.Context, cc *dagger.Commandcenter, worker, name string) error {
	logs, ok, err := waitLog(ctx, cc, worker, name+": not all answer", name+": all answer")
	if err == nil && !ok {
		err = fmt.Errorf("%s: not every service answered as it should:\n%s", name, logs)
	}
	return err
}

// waitLog waits until the log of service of project cc holds each of
// wants (ok), or holds failed (when not empty), or 6 minutes went by; it
// returns the log it read last.
func waitLog(ctx context.Context, cc *dagger.Commandcenter, service, failed string, wants ...string) (logs string, ok bool, err error) {
	holdsAll := func(logs string) bool {
		for _, want := range wants {
			if !strings.Contains(logs, want) {
				return false
			}
		}
		return true
	}
	logs, _, err = pollLog(ctx, cc, service, func(logs string) bool {
		return holdsAll(logs) || failed != "" && strings.Contains(logs, failed)
	})
	return logs, err == nil && holdsAll(logs), err
}

// pollLog reads the log of service of project cc until settled says it
// has what the caller waits for (ok), or 6 minutes went by; it returns the
// log it read last.
func pollLog(ctx context.Context, cc *dagger.Commandcenter, service string, settled func(logs string) bool) (logs string, ok bool, err error) {
	deadline := time.Now().Add(6 * time.Minute)
	for poll := 1; ; poll++ {
		logs, err = cc.Logs(ctx, dagger.CommandcenterLogsOpts{Service: []string{service}})
		if err != nil {
			return "", false, err
		}
		if settled(logs) {
			return logs, true, nil
		}
		if time.Now().After(deadline) {
			return logs, false, nil
		}
		time.Sleep(pollPause(poll))
	}
}

// pollPause is the pause after a poll's nth look at a service's logs or
// status: 1 s, then a second more each time up to 5 s. Each look is a call of
// the module and a container of its own, which the other tests running at
// once pay for on a busy engine.
func pollPause(n int) time.Duration {
	return time.Duration(min(n, 5)) * time.Second
}

// composeProbe reaches every service of the Stack by the host name compose
// would give it, and at localhost as on a developer's machine, each checked
// for what answers (Redis's NOAUTH, the backend's /api/health, the
// frontend's page).
var composeProbe = probe("compose names", `
    for host, port in [('postgres', 5432), ('redis', 6379), ('backend', 8000), ('frontend', 3000)]:
        socket.create_connection((host, port), 2).close()
    socket.gethostbyname('prober')
    for host in ['localhost', '127.0.0.1']:
        socket.create_connection((host, 5432), 2).close()
        got = ping(host, 6379)
        assert got.startswith(b'-NOAUTH'), (host, got)
        get('http://%s:8000/api/health' % host)
        get('http://%s:3000/' % host)
    for host, port in [('db', 5432), ('api', 8000)]:
        socket.create_connection((host, port), 2).close()
    import os, urllib.parse
    u = urllib.parse.urlparse(os.environ['CACHE_URL'])
    assert u.hostname == 'cache' and u.password, ('no password filled in', u.hostname)
    with socket.create_connection((u.hostname, u.port), 2) as c:
        c.sendall(('AUTH %s %s\\r\\nPING\\r\\n' % (u.username, urllib.parse.unquote(u.password))).encode())
        got = b''
        while b'PONG' not in got and not got.startswith(b'-'):
            chunk = c.recv(64)
            if not chunk:
                break
            got += chunk
        assert got.startswith(b'+OK') and b'+PONG' in got, got`)

// StackMembersReachComposeHostNames: in the Stack, a worker reaches
// Postgres, Redis, the backend and the frontend by the host names compose
// gives them (postgres, redis, backend, frontend) and itself by its own
// name, as a project written for compose names them, and Postgres, Redis
// and the backend by names of with-host-name (db, cache, api); a URL of
// the project's Redis with no password (redis://cache:6379/3) has the
// password filled in; and it reaches each at localhost too, as a program
// written for a developer's machine does.
//
// +cache="never"
func (m *Tests) StackMembersReachComposeHostNames(ctx context.Context) error {
	cc, err := emptyProject(ctx, "compose-names")
	if err != nil {
		return err
	}
	pgPW, rdPW := secret("compose-names-pg"), secret("compose-names-redis")
	stack := cc.
		WithPostgres(dagger.CommandcenterWithPostgresOpts{Password: pgPW}).
		WithRedis(dagger.CommandcenterWithRedisOpts{Password: rdPW}).
		WithWorker("prober", composeProbe).
		WithHostName("db", "postgres").
		WithHostName("cache", "redis").
		WithHostName("api", "backend").
		WithEnv("CACHE_URL", "redis://cache:6379/3", dagger.CommandcenterWithEnvOpts{Service: "prober"}).
		Stack(m.Example)
	if err := checkHealth(ctx, stack, "stack", "http://stack:3000/api/health"); err != nil {
		return err
	}
	defer stack.Stop(ctx)
	return waitProbe(ctx, cc, "prober", "compose names")
}

// extrasProbe reaches the project's services of with-service by name and
// at localhost: a Redis from an image, with a command of the project's, and
// a server built from a Dockerfile in the repository's root context, with
// its build argument and the env given to it by name; and a worker with a
// port (as flower serves 5555).
var extrasProbe = probe("extras", `
    for host in ['broker', 'localhost']:
        got = ping(host, 4222)
        assert got.startswith(b'+PONG'), (host, got)
    for base in ['http://built:5555', 'http://localhost:5555']:
        assert get(base + '/hello.txt') == 'hello from the build context', base
        assert get(base + '/message.txt') == 'from-build-args', base
        assert get(base + '/greeting.txt') == 'hi-built', base
    get('http://ui:5556/')
    get('http://localhost:5556/')`)

// StackRunsServicesOfItsOwn: services of the project's own (with-service)
// run in the Stack, one from an image and one built from a Dockerfile with
// the repository as its context; a worker reaches both by name and at
// localhost, the Stack forwards their ports (and a worker's), and the
// built one also runs alone. The Stack's env for every service does not reach them.
//
// +cache="never"
func (m *Tests) StackRunsServicesOfItsOwn(ctx context.Context) error {
	cc, err := emptyProject(ctx, "extras")
	if err != nil {
		return err
	}
	src := m.Example.
		WithFile("extra/Dockerfile", m.Fixtures.File("extra.Dockerfile")).
		WithNewFile("extra/hello.txt", "hello from the build context\n")
	cc = cc.
		WithService("broker", dagger.CommandcenterWithServiceOpts{
			Image: redisCliImage, Command: "redis-server --port 4222 --dir /data --appendonly yes --protected-mode no", Port: 4222, Volume: "/data",
		}).
		WithService("built", dagger.CommandcenterWithServiceOpts{
			Dockerfile: "extra/Dockerfile", Context: ".", BuildArgs: []string{"MESSAGE=from-build-args"}, Port: 5555, HealthPath: "/hello.txt",
		}).
		WithEnv("GREETING", "hi-built", dagger.CommandcenterWithEnvOpts{Service: "built"}).
		WithEnv("EVERY_SERVICE", "1").
		WithWorker("ui", "python3 -m http.server 5556", dagger.CommandcenterWithWorkerOpts{Port: 5556}).
		WithWorker("prober", extrasProbe)
	stack := cc.Stack(src)
	code, body, err := httpDo(ctx, stack, "stack", "GET", "http://stack:5555/hello.txt", "")
	if err != nil {
		return err
	}
	defer stack.Stop(ctx)
	if code != 200 || strings.TrimSpace(body) != "hello from the build context" {
		return fmt.Errorf("GET http://stack:5555/hello.txt through the Stack: %d %q, want the built service's file", code, body)
	}
	if code, _, err := httpDo(ctx, stack, "stack", "GET", "http://stack:5556/", ""); err != nil || code != 200 {
		return fmt.Errorf("GET http://stack:5556/ through the Stack (the worker ui's port): %d %v, want 200", code, err)
	}
	if err := waitProbe(ctx, cc, "prober", "extras"); err != nil {
		return err
	}
	if _, err := stack.Stop(ctx); err != nil {
		return err
	}
	alone := cc.Service(src, "built")
	code, body, err = httpDo(ctx, alone, "built", "GET", "http://built:5555/every.txt", "")
	if err != nil {
		return err
	}
	defer alone.Stop(ctx)
	if code != 200 || strings.TrimSpace(body) != "unset" {
		return fmt.Errorf("GET /every.txt of the service alone: %d %q, want \"unset\": an env for every service reached a service of with-service", code, body)
	}
	return nil
}

// ComposePlanMapsAComposeFile: compose-plan reads a compose file written
// for docker compose from the project's source (with a variable given for
// its interpolation) and prints each service's mapping, the call that runs
// it and the keys not honoured; a file with a bad line fails naming the
// file and the line.
//
// +cache="never"
func (m *Tests) ComposePlanMapsAComposeFile(ctx context.Context) error {
	src := m.Example.WithFile("docker-compose.yml", m.Fixtures.File("compose/docker-compose.yml"))
	plan, err := project("compose-plan").ComposePlan(ctx, src, dagger.CommandcenterComposePlanOpts{Env: []string{"DB_USER=hub"}})
	if err != nil {
		return err
	}
	var missing []string
	for _, want := range []string{
		"db             -> the project's Postgres 17 with vector",
		"cache          -> the project's Redis 8",
		"backend        -> the backend, built by the module from backend",
		"worker         -> a worker of the backend's image: celery -A app.worker worker",
		"nats           -> a service of the project's own: nats:2",
		"with-postgres --version=17 --extensions=vector --user=hub --database=app --password=env:POSTGRES_PASSWORD",
		"with-worker --name=worker --command='celery -A app.worker worker'",
		"with-service --name=nats --image=nats:2 --args=-js",
		"stack --src=. up --ports 18000:8000,13000:3000",
		"service backend: volumes ",
		"service nats: network_mode host: not honoured",
	} {
		if !strings.Contains(plan, want) {
			missing = append(missing, want)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("the plan does not say %q:\n%s", missing, plan)
	}
	bad := src.WithNewFile("docker-compose.yml", "services:\n  backend:\n    image: x\n   bad: [\n")
	_, err = project("compose-plan").ComposePlan(ctx, bad)
	if err == nil || !strings.Contains(err.Error(), "docker-compose.yml") || !strings.Contains(err.Error(), "line 3") {
		return fmt.Errorf("a file with a bad line: %v, want an error naming docker-compose.yml and line 3", err)
	}
	return nil
}

// StackFromAComposeFile: from-compose sets the project from a compose file
// (its literal database password among them), and the Stack it gives runs:
// the backend reports Postgres and Redis healthy, and psql logs in with the
// file's password.
//
// +cache="never"
func (m *Tests) StackFromAComposeFile(ctx context.Context) error {
	cc, err := emptyProject(ctx, "from-compose")
	if err != nil {
		return err
	}
	src := m.Example.WithFile("stack.yml", m.Fixtures.File("compose/stack.yml"))
	stack := cc.FromCompose(src, dagger.CommandcenterFromComposeOpts{File: []string{"stack.yml"}, Env: []string{"DB_PASSWORD=from-the-compose-env"}}).Stack(src)
	if err := checkHealth(ctx, stack, "stack", "http://stack:8000/health"); err != nil {
		return err
	}
	defer stack.Stop(ctx)
	return expectOutput(ctx, psql(stack, dag.SetSecret("from-compose-password", "from-the-compose-env"), 5432, "SELECT 'logged in'"), 0, "logged in")
}

// hostViteConfig is a Vite configuration written for a developer's
// machine, as CommandCenter's is: no host (Vite listens on loopback only)
// and /api proxied to the backend at localhost:8000.
const hostViteConfig = `import { defineConfig } from 'vite'

export default defineConfig({
  server: {
    port: 3000,
    proxy: {
      '/api': { target: 'http://localhost:8000', changeOrigin: true },
    },
  },
})
`

// FrontendWrittenForTheHostRunsUnchanged: in the Stack, a frontend whose
// dev server listens on loopback only and proxies /api to localhost:8000
// serves its page on the Stack's port, and /api reaches the backend, with
// no change to the project.
//
// +cache="never"
func (m *Tests) FrontendWrittenForTheHostRunsUnchanged(ctx context.Context) error {
	cc, err := emptyProject(ctx, "host-written")
	if err != nil {
		return err
	}
	stack := cc.Stack(m.Example.WithNewFile("frontend/vite.config.js", hostViteConfig))
	code, body, err := httpDo(ctx, stack, "stack", "GET", "http://stack:3000/", "")
	if err != nil {
		return err
	}
	defer stack.Stop(ctx)
	if code != 200 || !strings.Contains(body, "<title>CommandCenter</title>") {
		return fmt.Errorf("GET /: %d %q, want 200 and the page", code, body)
	}
	return checkHealth(ctx, stack, "stack", "http://stack:3000/api/health")
}

// userProbe checks, in a worker of the backend's image, that the backend's
// processes run as the module's user (1000:1000, "app" to programs that
// look it up), with a home of their own, their source folder theirs, and a
// persistent folder that a root run wrote before made theirs.
var userProbe = probe("app user", `
    import getpass, os
    assert (os.getuid(), os.getgid()) == (1000, 1000), ('runs as', os.getuid(), os.getgid())
    assert getpass.getuser() == 'app', getpass.getuser()
    open(os.path.join(os.environ['HOME'], 'mine'), 'w').close()
    open('/app/written-by-the-app', 'w').close()
    with open('/app/uploads/kept') as f:
        assert f.read() == 'from root\n', 'the folder lost what root wrote'
    with open('/app/uploads/kept', 'a') as f:
        f.write('from the app\n')`)

// AppServicesRunAsAUserOfTheirOwn: the backend, its workers and the
// frontend run as the module's user, not root: a backend run as root
// (with-backend --user=root) writes into a persistent folder, then in the
// Stack of the same project a worker (the backend's image and user) finds
// itself user 1000 named app, writes its home, its source folder and the
// file root wrote; the frontend's dev server, as user 1000 too, serves the
// page (Vite writes its cache in node_modules).
//
// +cache="never"
func (m *Tests) AppServicesRunAsAUserOfTheirOwn(ctx context.Context) error {
	cc, err := emptyProject(ctx, "app-user")
	if err != nil {
		return err
	}
	cc = cc.WithVolume("/app/uploads")
	// Not a Stack: the members of two Stacks of one project in one
	// session share their host names.
	asRoot := cc.WithBackend(dagger.CommandcenterWithBackendOpts{
		User:    "root",
		Command: `test "$(id -u)" = 0 && printf 'from root\n' > /app/uploads/kept && exec python3 -m http.server $PORT`,
	}).Backend(m.Example)
	code, _, err := httpDo(ctx, asRoot, "backend", "GET", "http://backend:8000/", "")
	if _, stopErr := asRoot.Stop(ctx); err == nil {
		err = stopErr
	}
	if err == nil && code != 200 {
		err = fmt.Errorf("GET / answered %d, want 200", code)
	}
	if err == nil {
		// Its Postgres and Redis end once it is gone (the engine detaches
		// them after a grace period), and with them the project's lock.
		err = waitStopped(ctx, cc)
	}
	if err != nil {
		return fmt.Errorf("the backend run as root (with-backend --user=root): %w", err)
	}
	cc = cc.WithWorker("prober", userProbe)
	stack := cc.Stack(m.Example)
	if err := checkHealth(ctx, stack, "stack", "http://stack:3000/api/health"); err != nil {
		return err
	}
	defer stack.Stop(ctx)
	if err := waitProbe(ctx, cc, "prober", "app user"); err != nil {
		return err
	}
	logs, err := cc.Logs(ctx, dagger.CommandcenterLogsOpts{Service: []string{"frontend"}})
	if err != nil {
		return err
	}
	if strings.Contains(logs, "EACCES") {
		return fmt.Errorf("the frontend, as user 1000, could not write a file of its own:\n%s", logs)
	}
	return nil
}

// waitStopped waits until no service of project cc runs: the supervisor of
// each holds a lock in the project's state while it runs, which status
// reads. It gives up after 2 minutes.
func waitStopped(ctx context.Context, cc *dagger.Commandcenter) error {
	deadline := time.Now().Add(2 * time.Minute)
	for poll := 1; ; poll++ {
		out, err := cc.Status(ctx, dagger.CommandcenterStatusOpts{Format: "json"})
		if err != nil {
			return err
		}
		var st struct {
			Running bool `json:"running"`
		}
		if err := json.Unmarshal([]byte(out), &st); err != nil {
			return fmt.Errorf("status --format=json: %w: %s", err, out)
		}
		if !st.Running {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the project's services still run 2 minutes after its Stack stopped:\n%s", out)
		}
		time.Sleep(pollPause(poll))
	}
}

// RedisKeepsToItsMemory: with with-redis --memory, Redis refuses writes
// once its data holds more than the limit (maxmemory, no key evicted).
//
// +cache="never"
func (m *Tests) RedisKeepsToItsMemory(ctx context.Context) error {
	cc, err := emptyProject(ctx, "redis-memory")
	if err != nil {
		return err
	}
	pw := secret("redis-memory")
	svc := cc.WithRedis(dagger.CommandcenterWithRedisOpts{Password: pw, Memory: "8m"}).Redis()
	// A write under the limit is taken, even one that takes Redis past it.
	if err := expectOutput(ctx, redisCli(svc, pw, 6379, "setrange", "big", "16777216", "x"), 0, "16777217"); err != nil {
		return fmt.Errorf("a write under the limit: %w", err)
	}
	if err := expectOutput(ctx, redisCli(svc, pw, 6379, "set", "more", "1"), 0, "OOM command not allowed"); err != nil {
		return fmt.Errorf("a write over the limit of 8m: %w", err)
	}
	return nil
}

// ProcessOverItsMemoryIsEnded: with with-backend --memory, a worker (the
// backend's image and limit) that holds more memory than the limit is
// ended as a crash, saying how much it held and its limit, and started
// again (it then holds little: it leaves a mark in its container's /tmp),
// while the backend under it serves on.
//
// +cache="never"
func (m *Tests) ProcessOverItsMemoryIsEnded(ctx context.Context) error {
	cc, err := emptyProject(ctx, "memory")
	if err != nil {
		return err
	}
	cc = cc.WithBackend(dagger.CommandcenterWithBackendOpts{Memory: "256m"}).
		WithWorker("hog", `python3 -c "
import os, time
first = not os.path.exists('/tmp/hogged')
open('/tmp/hogged', 'w').close()
x = b'a' * (512 << 20) if first else b''
print('holding 512 MiB' if first else 'started again, holding little', flush=True)
time.sleep(3600)"`)
	stack := cc.Stack(m.Example)
	if err := checkHealth(ctx, stack, "stack", "http://stack:3000/api/health"); err != nil {
		return err
	}
	defer stack.Stop(ctx)
	logs, ok, err := waitLog(ctx, cc, "hog", "", "of memory, over its limit of 256 MiB): ending it as a crash", "started again, holding little")
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("the worker holding 512 MiB was not ended for its limit of 256 MiB and started again within 6 minutes:\n%s", logs)
	}
	return checkHealth(ctx, stack, "stack", "http://stack:3000/api/health")
}

// SecondStackOfAProjectIsItsOwn: a project's Stack started again in the
// same session with other settings, right after the first stopped (whose
// members the engine stops only after a grace period), reaches its own
// members, not the first one's: a worker's port answers with the second
// Stack's setting, and the frontend's /api reaches a backend that is well.
//
// +cache="never"
func (m *Tests) SecondStackOfAProjectIsItsOwn(ctx context.Context) error {
	cc, err := emptyProject(ctx, "second-stack")
	if err != nil {
		return err
	}
	for _, mark := range []string{"first", "second"} {
		stack := cc.
			WithEnv("MARK", mark).
			WithWorker("marker", `mkdir -p /tmp/mark && echo "$MARK" > /tmp/mark/mark.txt && cd /tmp/mark && exec python3 -m http.server 5557`,
				dagger.CommandcenterWithWorkerOpts{Port: 5557}).
			Stack(m.Example)
		code, body, err := httpDo(ctx, stack, "stack", "GET", "http://stack:5557/mark.txt", "")
		if err == nil && (code != 200 || strings.TrimSpace(body) != mark) {
			err = fmt.Errorf("GET /mark.txt of the worker through the Stack: %d %q, want %q", code, body, mark)
		}
		if err == nil {
			err = checkHealth(ctx, stack, "stack", "http://stack:3000/api/health")
		}
		if _, stopErr := stack.Stop(ctx); err == nil {
			err = stopErr
		}
		if err != nil {
			return fmt.Errorf("the %s Stack: %w", mark, err)
		}
	}
	return nil
}
