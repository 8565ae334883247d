package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"dagger/tests/internal/dagger"
)

// PostgresTakesANewPassword: a database created with the project's
// generated password is given a new password at the next start (the new one
// logs in, the old one is refused), and the generated one again after that.
//
// +cache="never"
func (m *Tests) PostgresTakesANewPassword(ctx context.Context) error {
	cc, err := emptyProject(ctx, "pg-rotate")
	if err != nil {
		return err
	}
	generated := cc.PostgresPassword()
	given := secret("pg-rotate-given")
	steps := []struct {
		what        string
		svc         *dagger.Service
		good, wrong *dagger.Secret
	}{
		{"created with the generated password", cc.Postgres(), generated, given},
		{"started with a given password", cc.WithPostgres(dagger.CommandcenterWithPostgresOpts{Password: given}).Postgres(), given, generated},
		// Another call (with-env changes nothing of Postgres's), so that the
		// session starts a server anew rather than reusing the first one.
		{"started with the generated one again", cc.WithEnv("ROTATION", "back").Postgres(), generated, given},
	}
	for _, s := range steps {
		if _, err := s.svc.Start(ctx); err != nil {
			return fmt.Errorf("%s: %w", s.what, err)
		}
		if err := expectOutput(ctx, psql(s.svc, s.good, 5432, "select 'logged in'"), 0, "logged in"); err != nil {
			return fmt.Errorf("%s: the password it was started with: %w", s.what, err)
		}
		if err := expectOutput(ctx, psql(s.svc, s.wrong, 5432, "select 1"), 2, "password authentication failed"); err != nil {
			return fmt.Errorf("%s: the other password: %w", s.what, err)
		}
		if _, err := s.svc.Stop(ctx); err != nil {
			return fmt.Errorf("%s: stop: %w", s.what, err)
		}
	}
	return nil
}

// PostgresAnswersOnceItHasStarted: a Postgres killed with WAL to replay
// (as every session's end kills its services) listens at once when it
// starts again, and answers every client "the database system is not yet
// accepting connections" until it has replayed it. The engine starts the
// service's clients only once it answers, so the first query of a client
// started right after it works.
//
// +cache="never"
func (m *Tests) PostgresAnswersOnceItHasStarted(ctx context.Context) error {
	cc, err := emptyProject(ctx, "pg-replay")
	if err != nil {
		return err
	}
	pw := secret("pg-replay")
	svc := cc.WithPostgres(dagger.CommandcenterWithPostgresOpts{Password: pw}).Postgres()
	// No checkpoint until the kill: all of the table is left to replay.
	fill := psqlRun(svc, pw, 5432,
		"-c", "alter system set max_wal_size = '8GB'", "-c", "alter system set checkpoint_timeout = '1d'",
		"-c", "select pg_reload_conf()", "-c", "checkpoint",
		"-c", "create table filler as select g, repeat('x', 200) as pad from generate_series(1, 1000000) g")
	// The first start creates the database, the second gives it the
	// password (in single-user mode, which would replay the WAL before the
	// server listens); from the third on, the server replays it itself.
	for range 2 {
		if _, err := svc.Start(ctx); err != nil {
			return err
		}
		if _, err := svc.Stop(ctx); err != nil {
			return err
		}
	}
	if _, err := svc.Start(ctx); err != nil {
		return err
	}
	if err := expectOutput(ctx, fill, 0, "SELECT 1000000"); err != nil {
		return fmt.Errorf("filling the table: %w", err)
	}
	if _, err := svc.Stop(ctx, dagger.ServiceStopOpts{Kill: true}); err != nil {
		return err
	}
	if _, err := svc.Start(ctx); err != nil {
		return fmt.Errorf("the start after the kill: %w", err)
	}
	if err := expectOutput(ctx, psql(svc, pw, 5432, "select count(*) from filler"), 0, "1000000"); err != nil {
		return fmt.Errorf("the first query after the start: %w", err)
	}
	_, err = svc.Stop(ctx)
	return err
}

// WipeOfARunningProjectSaysItIsInUse: a wipe while the project's Postgres
// runs fails instead of waiting for it, naming the project, and deletes
// nothing (a deadline of 10 minutes only ends a wait that would last for
// ever); once the server is stopped, the wipe works.
//
// +cache="never"
func (m *Tests) WipeOfARunningProjectSaysItIsInUse(ctx context.Context) error {
	cc, err := emptyProject(ctx, "in-use")
	if err != nil {
		return err
	}
	pw := secret("in-use")
	svc := cc.WithPostgres(dagger.CommandcenterWithPostgresOpts{Password: pw}).Postgres()
	if err := expectOutput(ctx, psql(svc, pw, 5432, "create table kept (n int); insert into kept values (7)"), 0, ""); err != nil {
		return err
	}
	if _, err := svc.Start(ctx); err != nil {
		return err
	}
	// Without the check, the wipe would wait for the server for ever.
	if err := refusedInUse(ctx, "the wipe", "test-in-use", "postgres", func(ctx context.Context) error {
		_, err := cc.Wipe(ctx, "test-in-use")
		return err
	}); err != nil {
		return err
	}
	if err := expectOutput(ctx, psql(svc, pw, 5432, "select n from kept"), 0, "7"); err != nil {
		return fmt.Errorf("after the refused wipe: %w", err)
	}
	if _, err := svc.Stop(ctx); err != nil {
		return err
	}
	if _, err := cc.Wipe(ctx, "test-in-use"); err != nil {
		return fmt.Errorf("the wipe after the server stopped: %w", err)
	}
	return nil
}

// StackOfAProjectWhoseRedisRunsSaysItIsInUse: the Stack runs Redis itself,
// so while a lone Redis of the project runs, the Stack's start fails within
// a minute, naming the Redis volume, instead of waiting for it; and the
// Postgres volume it had already checked is free again afterwards (a wipe
// finds nothing in use).
//
// +cache="never"
func (m *Tests) StackOfAProjectWhoseRedisRunsSaysItIsInUse(ctx context.Context) error {
	cc, err := emptyProject(ctx, "redis-in-use")
	if err != nil {
		return err
	}
	pw := secret("redis-in-use")
	rd := cc.WithRedis(dagger.CommandcenterWithRedisOpts{Password: pw}).Redis()
	if _, err := rd.Start(ctx); err != nil {
		return err
	}
	if err := refusedInUse(ctx, "the Stack", "test-redis-in-use", "redis", func(ctx context.Context) error {
		_, err := cc.Stack(m.Example).Start(ctx)
		return err
	}); err != nil {
		return err
	}
	if err := expectOutput(ctx, redisCli(rd, pw, 6379, "ping"), 0, "PONG"); err != nil {
		return fmt.Errorf("the lone Redis after the refused Stack: %w", err)
	}
	if _, err := rd.Stop(ctx); err != nil {
		return err
	}
	if _, err := cc.Wipe(ctx, "test-redis-in-use"); err != nil {
		return fmt.Errorf("the wipe after the lone Redis stopped: %w", err)
	}
	return nil
}

// refusedInUse runs what, which must fail saying that project is in use
// and naming its data of kind: the project's lock is taken without
// waiting, so it fails instead of waiting for the volume (the test gives it
// ten minutes, which a wait would take up).
func refusedInUse(ctx context.Context, what, project, kind string, run func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	err := run(ctx)
	if err == nil {
		return fmt.Errorf("%s succeeded while a service of project %s held its %s volume", what, project, kind)
	}
	said := withOutput(err).Error()
	data := "its " + kind
	if !strings.Contains(said, fmt.Sprintf("project %q is in use", project)) || !strings.Contains(said, data) ||
		!strings.Contains(said, "Stop that first") {
		return fmt.Errorf("%s failed without saying that %s data of project %s is in use: %s", what, data, project, said)
	}
	return nil
}

// StackIgnoresReportsWithoutItsToken: a container on the engine's network
// that sends the Stack's front a report ("backend ended") without the
// Stack's token does not stop it.
//
// +cache="never"
func (m *Tests) StackIgnoresReportsWithoutItsToken(ctx context.Context) error {
	cc, pgPW, _, err := exampleProject(ctx, "stack-token")
	if err != nil {
		return err
	}
	stack := cc.Stack(m.Example)
	if _, err := stack.Start(ctx); err != nil {
		return err
	}
	defer stack.Stop(ctx)
	forged := `
import socket
for report in [b"backend 3\n", b"0123456789abcdef0123456789abcdef backend 3\n", b"x backend 3 stop\n"]:
    c = socket.create_connection(("stack", 65432), timeout=10)
    c.sendall(report)
    c.close()
print("sent")
`
	if _, err := fresh(dag.Container().From(httpImage)).
		WithServiceBinding("stack", stack).
		WithExec([]string{"python3", "-c", forged}).
		Sync(ctx); err != nil {
		return fmt.Errorf("send the reports: %w", err)
	}
	// The front (whose log is postgres's) logs each report it ignores; one
	// that counted stops the Stack ("backend ended (exit status 3)")
	// instead. Wait for one or the other for each of the three reports.
	const ignored, counted = "ignored a report from", "backend ended (exit status 3"
	logs, ok, err := pollLog(ctx, cc, "postgres", func(logs string) bool {
		return strings.Contains(logs, counted) || strings.Count(logs, ignored) == 3
	})
	switch {
	case err != nil:
		return err
	case strings.Contains(logs, counted):
		return fmt.Errorf("a report without the Stack's token stopped it:\n%s", logs)
	case !ok:
		return fmt.Errorf("the Stack's log does not say that it ignored 3 reports within 6 minutes (%d times %q):\n%s",
			strings.Count(logs, ignored), ignored, logs)
	}
	return expectOutput(ctx, psql(stack, pgPW, 5432, "select 'still serving'"), 0, "still serving")
}

// ServerOnTheWrongPortFailsClearly: a frontend whose dev server listens on
// a port of its own fails to start (alone, and in a Stack) with a message
// that names the port it took, instead of a wait. In the Stack, the stop
// comes while Postgres still creates its database (an init script that
// takes 25 s): the front ends by itself, not killed at --stop-grace. The
// supervisor reads the kernel's listening sockets: the message says how
// long the server listened elsewhere (its grace, 10 s), whatever the load.
//
// +cache="never"
func (m *Tests) ServerOnTheWrongPortFailsClearly(ctx context.Context) error {
	fresh, err := emptyProject(ctx, "wrong-port-stack")
	if err != nil {
		return err
	}
	slowInit := dag.Directory().WithNewFile("slow.sql", "SELECT pg_sleep(25);\n")
	cases := []struct {
		name string
		svc  *dagger.Service
		want string
	}{
		{"alone, on port 5173", project("wrong-port").
			WithFrontend(dagger.CommandcenterWithFrontendOpts{Command: nodeServer("0.0.0.0", 5173)}).
			Frontend(m.Example), "but not on port 3000"},
		{"in a stack, on port 5174, while Postgres creates its database", fresh.
			WithPostgres(dagger.CommandcenterWithPostgresOpts{Password: secret("wrong-port-pg"), InitScripts: slowInit}).
			WithFrontend(dagger.CommandcenterWithFrontendOpts{Command: nodeServer("0.0.0.0", 5174)}).
			Stack(m.Example), "but not on port 3000"},
	}
	checks := map[string]func() error{}
	for _, c := range cases {
		checks[c.name] = func() error {
			_, err := c.svc.Start(ctx)
			if err == nil {
				c.svc.Stop(ctx)
				return errors.New("it started")
			}
			said := withOutput(err).Error()
			if !strings.Contains(said, c.want) || !strings.Contains(said, "after it listened there for 10s") {
				return fmt.Errorf("the error does not say %q after 10s of listening there: %s", c.want, said)
			}
			if strings.Contains(said, "of SIGTERM: killed") {
				return fmt.Errorf("it did not end on SIGTERM, and was killed: %s", said)
			}
			return nil
		}
	}
	return errors.Join(runAll(checks)...)
}

// nodeServer is a command that serves HTTP on host:port with Node,
// whatever HOST and PORT say.
func nodeServer(host string, port int) string {
	return fmt.Sprintf(`node -e "require('http').createServer((q, s) => s.end('hi from %s')).listen(%d, '%s')"`, host, port, host)
}

// ServerOnLoopbackIsServedAnyway: a dev server that listens on loopback
// only, as Vite and Next do by default, is served on its port in the Stack
// anyway (the supervisor passes the container's port on to it), and its
// log says so.
//
// +cache="never"
func (m *Tests) ServerOnLoopbackIsServedAnyway(ctx context.Context) error {
	cc, err := emptyProject(ctx, "loopback")
	if err != nil {
		return err
	}
	stack := cc.
		WithPostgres(dagger.CommandcenterWithPostgresOpts{Password: secret("loopback-pg")}).
		WithFrontend(dagger.CommandcenterWithFrontendOpts{Command: nodeServer("127.0.0.1", 3000)}).
		Stack(m.Example)
	code, body, err := httpDo(ctx, stack, "stack", "GET", "http://stack:3000/", "")
	if err != nil {
		return err
	}
	defer stack.Stop(ctx)
	if code != 200 || !strings.Contains(body, "hi from 127.0.0.1") {
		return fmt.Errorf("GET / through the Stack's port 3000: %d %q, want the loopback server's answer", code, body)
	}
	logs, err := cc.Logs(ctx, dagger.CommandcenterLogsOpts{Service: []string{"frontend"}})
	if err != nil {
		return err
	}
	if want := "listens on 127.0.0.1:3000 only (loopback): serving port 3000"; !strings.Contains(logs, want) {
		return fmt.Errorf("the frontend's log does not say %q:\n%s", want, logs)
	}
	return nil
}

// PostgresRunsAVectorQuery: with the extensions made available, CREATE
// EXTENSION vector works and a nearest-neighbour query answers; hypopg,
// which no image carries, is installed from the image's apt sources.
//
// +cache="never"
func (m *Tests) PostgresRunsAVectorQuery(ctx context.Context) error {
	pw := secret("pg-vector")
	cc, err := emptyProject(ctx, "pg-vector")
	if err != nil {
		return err
	}
	svc := cc.WithPostgres(dagger.CommandcenterWithPostgresOpts{Password: pw, Extensions: []string{"vector", "hypopg"}}).Postgres()
	if err := expectOutput(ctx, psql(svc, pw, 5432, `CREATE EXTENSION IF NOT EXISTS vector;
CREATE TABLE items (name text, embedding vector(3));
INSERT INTO items VALUES ('near', '[1,2,3]'), ('far', '[9,9,9]');
SELECT 'nearest: ' || name FROM items ORDER BY embedding <-> '[1,2,4]' LIMIT 1`), 0, "nearest: near"); err != nil {
		return fmt.Errorf("vector: %w", err)
	}
	if err := expectOutput(ctx, psql(svc, pw, 5432, `CREATE EXTENSION IF NOT EXISTS hypopg;
SELECT 'hypothetical indexes: ' || count(*) FROM hypopg_list_indexes`), 0, "hypothetical indexes: 0"); err != nil {
		return fmt.Errorf("hypopg: %w", err)
	}
	return nil
}

// PostgresRunsInAnImageOfYourOwn: a container of the caller's own runs the
// project's Postgres, and one of another major version than --version is
// refused, saying which.
//
// +cache="never"
func (m *Tests) PostgresRunsInAnImageOfYourOwn(ctx context.Context) error {
	pw := secret("pg-own")
	cc, err := emptyProject(ctx, "pg-own")
	if err != nil {
		return err
	}
	// An image built in the caller's pipeline, with a file that shows it is the one running.
	own := dag.Container().From(psqlImage).
		WithNewFile("/usr/share/postgresql/marker.txt", "the caller's own image")
	svc := cc.WithPostgres(dagger.CommandcenterWithPostgresOpts{Password: pw, Container: own}).Postgres()
	if err := expectOutput(ctx, psql(svc, pw, 5432, "select pg_read_file('/usr/share/postgresql/marker.txt')"), 0, "the caller's own image"); err != nil {
		return fmt.Errorf("the caller's container: %w", err)
	}
	_, err = cc.WithPostgres(dagger.CommandcenterWithPostgresOpts{Version: "16", Container: own}).Postgres().Endpoint(ctx)
	if err == nil || !strings.Contains(err.Error(), "runs PostgreSQL 17, and --version is 16: set --version=17") {
		return fmt.Errorf("a container of another version than --version: %v, want an error that names both", err)
	}
	return nil
}

// ProjectKeyKeepsItApart: a project started with --key is reached only with
// its key. A call without it, or with another key, sees nothing running,
// cannot stop it and reads none of its logs, while the project runs on; a
// key too short to keep anything apart is refused.
//
// +cache="never"
func (m *Tests) ProjectKeyKeepsItApart(ctx context.Context) error {
	const name = "test-keyed"
	key := dag.SetSecret("keyed-key", fmt.Sprintf("key-%d", time.Now().UnixNano()))
	keyed := dag.Commandcenter(dagger.CommandcenterOpts{Project: name, Key: key})
	pw := secret("keyed-redis")
	since := time.Now().UTC().Format(time.RFC3339)
	svc, err := keyed.WithRedis(dagger.CommandcenterWithRedisOpts{Password: pw}).Redis().Start(ctx)
	if err != nil {
		return err
	}
	defer svc.Stop(ctx)
	if err := expectOutput(ctx, redisCli(svc, pw, 6379, "ping"), 0, "PONG"); err != nil {
		return err
	}
	running := func(cc *dagger.Commandcenter) (bool, error) {
		out, err := cc.Status(ctx, dagger.CommandcenterStatusOpts{Format: "json"})
		if err != nil {
			return false, err
		}
		var st struct {
			Running bool `json:"running"`
		}
		if err := json.Unmarshal([]byte(out), &st); err != nil {
			return false, fmt.Errorf("status --format=json is not JSON: %w: %s", err, out)
		}
		return st.Running, nil
	}
	if r, err := running(keyed); err != nil || !r {
		return fmt.Errorf("status with the project's key: running %v (%v), want running", r, err)
	}
	others := map[string]*dagger.Commandcenter{
		"without the key":  dag.Commandcenter(dagger.CommandcenterOpts{Project: name}),
		"with another key": dag.Commandcenter(dagger.CommandcenterOpts{Project: name, Key: dag.SetSecret("other-key", "another-key-of-16-or-more")}),
	}
	for who, cc := range others {
		if r, err := running(cc); err != nil || r {
			return fmt.Errorf("status %s: running %v (%v), want nothing running", who, r, err)
		}
		if logs, err := cc.Logs(ctx, dagger.CommandcenterLogsOpts{Service: []string{"redis"}, Since: since}); err == nil && strings.TrimSpace(logs) != "" {
			return fmt.Errorf("logs %s show the project's Redis:\n%s", who, logs)
		}
		if out, err := cc.Down(ctx); err == nil {
			return fmt.Errorf("down %s: %q, want a refusal (nothing of the project runs)", who, out)
		}
	}
	if err := expectOutput(ctx, redisCli(svc, pw, 6379, "ping"), 0, "PONG"); err != nil {
		return fmt.Errorf("the project's Redis after the others' down: %w", err)
	}
	_, err = dag.Commandcenter(dagger.CommandcenterOpts{Project: name, Key: dag.SetSecret("short-key", "short")}).Status(ctx)
	if err == nil || !strings.Contains(err.Error(), "--key: the key has 5 characters") {
		return fmt.Errorf("a key of 5 characters: %v, want an error that says it is too short", err)
	}
	return nil
}
