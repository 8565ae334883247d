package main

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"dagger/tests/internal/dagger"
)

// BadInputFailsBeforeStarting: each bad input fails when the service is
// asked for, with a message naming the problem and the option or file that
// fixes it.
//
// +cache="never"
func (m *Tests) BadInputFailsBeforeStarting(ctx context.Context) error {
	ex := m.Example
	cc, err := emptyProject(ctx, "bad-input")
	if err != nil {
		return err
	}
	cases := []struct {
		name  string
		svc   func() *dagger.Service
		want  []string
		start bool // the problem shows only when the service starts
	}{
		{"unknown postgres version", func() *dagger.Service {
			return cc.WithPostgres(dagger.CommandcenterWithPostgresOpts{Version: "9"}).Postgres()
		}, []string{`version "9"`, "with-postgres --version", "15, 16, 17"}, false},
		{"unknown redis version", func() *dagger.Service {
			return cc.WithRedis(dagger.CommandcenterWithRedisOpts{Version: "5"}).Redis()
		}, []string{`version "5"`, "with-redis --version"}, false},
		{"missing backend folder", func() *dagger.Service {
			return cc.Backend(ex.WithoutDirectory("backend"))
		}, []string{`no folder "backend"`, "with-backend --dir"}, false},
		{"no requirements.txt nor pyproject.toml", func() *dagger.Service {
			return cc.Backend(ex.WithoutFile("backend/requirements.txt"))
		}, []string{"no requirements.txt and no pyproject.toml", "with-backend --dir"}, false},
		{"a requirement pip cannot read", func() *dagger.Service {
			return cc.Backend(ex.WithNewFile("backend/requirements.txt", "fastapi\nthis is not a requirement\n"))
		}, []string{"`pip install -r requirements.txt` failed", "this is not a requirement", "fix backend's requirements"}, false},
		{"-r of a file that is not there", func() *dagger.Service {
			return cc.Backend(ex.WithNewFile("backend/requirements.txt", "fastapi\n-r requirements/missing.txt\n"))
		}, []string{"backend/requirements.txt names requirements/missing.txt (line 2)", "--src"}, false},
		{"-e of a library outside src", func() *dagger.Service {
			return cc.Backend(ex.WithNewFile("backend/requirements.txt", "-e ../../libs/elsewhere\n"))
		}, []string{"line 1 names ../../libs/elsewhere, outside --src"}, false},
		{"pyproject.toml with dynamic dependencies", func() *dagger.Service {
			return cc.Backend(ex.WithoutFile("backend/requirements.txt").
				WithNewFile("backend/pyproject.toml", "[project]\nname = \"x\"\ndynamic = [\"dependencies\"]\n"))
		}, []string{"backend/pyproject.toml", "dynamic"}, false},
		{"a system package Debian does not have", func() *dagger.Service {
			return cc.WithBackend(dagger.CommandcenterWithBackendOpts{Packages: []string{"libsodium23", "commandcenter-no-such-package"}}).Backend(ex)
		}, []string{"with-backend --packages", `no package "commandcenter-no-such-package"`}, false},
		{"a system package name that is not one", func() *dagger.Service {
			return cc.WithBackend(dagger.CommandcenterWithBackendOpts{Packages: []string{"gcc g++"}}).Backend(ex)
		}, []string{`with-backend --packages "gcc g++" is not a Debian package name`, "one name per item"}, false},
		{"a user given by name", func() *dagger.Service {
			return cc.WithBackend(dagger.CommandcenterWithBackendOpts{User: "app"}).Backend(ex)
		}, []string{`with-backend --user "app"`, "root, a UID or UID:GID"}, false},
		{"a user for a Dockerfile build", func() *dagger.Service {
			return cc.WithFrontend(dagger.CommandcenterWithFrontendOpts{Dockerfile: "Dockerfile", User: "1000"}).Frontend(ex)
		}, []string{"with-frontend --user", "runs as its Dockerfile's USER"}, false},
		{"a memory limit that is not a size", func() *dagger.Service {
			return cc.WithPostgres(dagger.CommandcenterWithPostgresOpts{Memory: "2 gigs"}).Postgres()
		}, []string{`with-postgres --memory "2 gigs"`, "512m, 2g"}, false},
		{"no dev script", func() *dagger.Service {
			return cc.Frontend(ex.WithNewFile("frontend/package.json", `{"name": "x", "scripts": {"build": "vite build"}}`))
		}, []string{`no "dev" script`, "with-frontend --command"}, false},
		{"duplicate ports", func() *dagger.Service {
			return cc.WithBackend(dagger.CommandcenterWithBackendOpts{Port: 3000}).Stack(ex)
		}, []string{"same port", "with-backend --port and with-frontend --port are all 3000"}, false},
		{"port out of range", func() *dagger.Service {
			return cc.WithBackend(dagger.CommandcenterWithBackendOpts{Port: 70000}).Backend(ex)
		}, []string{"out of range", "with-backend --port"}, false},
		{"bad app reference", func() *dagger.Service {
			return cc.WithBackend(dagger.CommandcenterWithBackendOpts{App: "main"}).Backend(ex)
		}, []string{"with-backend --app", "MODULE:ATTRIBUTE"}, false},
		{"frontend folder outside src", func() *dagger.Service {
			return cc.WithFrontend(dagger.CommandcenterWithFrontendOpts{Dir: "../elsewhere"}).Frontend(ex)
		}, []string{"with-frontend --dir"}, false},
		{"env file line that is not KEY=VALUE", func() *dagger.Service {
			file := dag.Directory().WithNewFile("app.env", "GOOD=1\nthis line has no equals sign\n").File("app.env")
			return cc.WithEnvFile(file).Backend(ex)
		}, []string{"with-env-file app.env", "line 2 is not KEY=VALUE"}, false},
		{"secret env file line that is not KEY=VALUE", func() *dagger.Service {
			file := dag.SetSecret("bad-env-file", "SECRET_KEY=abc\nsupersecretvalue\n")
			return cc.WithSecretEnvFile(file).Backend(ex)
		}, []string{"with-secret-env-file", "line 2 is not KEY=VALUE"}, false},
		{"env for a service the project does not have", func() *dagger.Service {
			return cc.WithEnv("DEBUG", "1", dagger.CommandcenterWithEnvOpts{Service: "celery"}).Backend(ex)
		}, []string{`service "celery"`, "no such service", "with-worker"}, false},
		{"a host name for a service the project does not have", func() *dagger.Service {
			return cc.WithHostName("db", "database").Backend(ex)
		}, []string{`with-host-name db: the project has no service "database"`, "fix --service"}, false},
		{"a host name that names another service", func() *dagger.Service {
			return cc.WithHostName("backend", "postgres").Backend(ex)
		}, []string{`with-host-name backend: "backend" is the name of a service of the project already`}, false},
		{"a watch-ignore pattern out of the folder", func() *dagger.Service {
			return cc.WithBackend(dagger.CommandcenterWithBackendOpts{WatchIgnore: []string{"../secrets"}}).Backend(ex)
		}, []string{`with-backend --watch-ignore "../secrets"`, "tests/ or *.log"}, false},
		{"worker with no command", func() *dagger.Service {
			return cc.WithWorker("celery", " ").Worker(ex, "celery")
		}, []string{"with-worker celery: the command is empty"}, false},
		{"worker that is not there", func() *dagger.Service {
			return cc.WithWorker("celery", "celery worker").Worker(ex, "beat")
		}, []string{`worker "beat"`, "celery"}, false},
		{"volume path that is not absolute", func() *dagger.Service {
			return cc.WithVolume("app/storage").Backend(ex)
		}, []string{`path "app/storage" is not absolute`, "with-volume --path"}, false},
		{"frontend whose install fails", func() *dagger.Service {
			return cc.Frontend(ex.WithNewFile("frontend/package-lock.json", `{"name": "broken", "lockfileVersion": 3, "packages": {"": {"dependencies": {"no-such-package-commandcenter": "9.9.9"}}}}`))
		}, []string{"`npm ci --no-audit --no-fund` failed", "are in sync", "fix frontend/package.json or its lock file"}, false},
		{"an env file with a NUL byte", func() *dagger.Service {
			return cc.WithEnvFile(dag.Directory().WithNewFile("app.env", "A=1\nB=x\x00y\n").File("app.env")).Backend(ex)
		}, []string{"with-env-file app.env", "line 2 has a control character"}, false},
		{"a secret env from a variable that is not set", func() *dagger.Service {
			return cc.WithSecretEnv("RELEASE_TOKEN", dag.Secret("env://COMMANDCENTER_TESTS_NOT_SET")).Backend(ex)
		}, []string{"with-secret-env --name=RELEASE_TOKEN --value=env:COMMANDCENTER_TESTS_NOT_SET", "is not set where dagger runs"}, false},
		{"an unknown restart policy", func() *dagger.Service {
			return dag.Commandcenter(dagger.CommandcenterOpts{Project: "test-bad-input", Restart: "sometimes"}).Postgres()
		}, []string{"--restart=sometimes", "on-failure, always or no"}, false},
		{"a health path that is not a path", func() *dagger.Service {
			return cc.WithBackend(dagger.CommandcenterWithBackendOpts{HealthPath: "health"}).Backend(ex)
		}, []string{`health path "health"`, "with-backend --health-path"}, false},
		// Last: the services it starts hold the project's volumes for a while.
		{"backend that crashes at start", func() *dagger.Service {
			return cc.WithBackend(dagger.CommandcenterWithBackendOpts{
				Prestart: "echo 'migration failed: no such table' >&2; exit 3",
			}).Backend(ex)
		}, []string{"exit code: 3"}, true},
	}
	// The cases that fail before starting run at once; the one that starts
	// runs after them.
	problems := make([][]string, len(cases))
	var wg sync.WaitGroup
	for i, c := range cases {
		if c.start {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := c.svc().Endpoint(ctx)
			problems[i] = badInputProblems(c.name, err, c.want)
		}()
	}
	wg.Wait()
	for i, c := range cases {
		if c.start {
			_, err := c.svc().Start(ctx)
			problems[i] = badInputProblems(c.name, err, c.want)
		}
	}
	var failures []string
	for _, p := range problems {
		failures = append(failures, p...)
	}
	// A project name that is not allowed is refused by the constructor.
	_, err = dag.Commandcenter(dagger.CommandcenterOpts{Project: "Not Valid"}).Postgres().Endpoint(ctx)
	if err == nil || !strings.Contains(err.Error(), "--project") {
		failures = append(failures, fmt.Sprintf("bad project name: %v, want an error naming --project", err))
	}
	if len(failures) > 0 {
		return fmt.Errorf("%d of %d bad inputs: %s", len(failures), len(cases)+1, strings.Join(failures, "; "))
	}
	return nil
}

// badInputProblems is what is wrong with err, the error of the bad input
// name: none, an error that does not say each of want, or one that shows a
// secret file's text.
func badInputProblems(name string, err error, want []string) []string {
	if err == nil {
		return []string{name + ": no error"}
	}
	var problems []string
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			problems = append(problems, fmt.Sprintf("%s: error does not say %q: %v", name, w, err))
		}
	}
	if strings.Contains(err.Error(), "supersecretvalue") {
		problems = append(problems, fmt.Sprintf("%s: the error shows a secret file's text: %v", name, err))
	}
	return problems
}
