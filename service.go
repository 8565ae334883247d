package main

import (
	"slices"
	"strings"
	"time"

	"dagger/commandcenter/internal/contract"
	"dagger/commandcenter/internal/dagger"
)

// A service is what one process of the project needs to run, as plain
// values: its container, set up with everything the process needs (image,
// dependencies, source, env, secrets, volumes); its command; the port it
// listens on (none for a worker); and what the module's supervisor does
// around it (contract.Run): what it waits for, the project's data it holds,
// the variables it gets with the project's passwords in them, its health
// checks.
//
// A service knows nothing of how it runs: alone, as the functions Postgres,
// Redis, Backend, Worker and Frontend run it (run below), or as a member of
// a Stack (stack.go). Whoever runs it binds the services it reaches, under
// the host names its peers say.
type service struct {
	// name of the process, in logs and messages: "postgres", "backend", a worker's name.
	name string
	ctr  *dagger.Container
	args []string
	// port it listens on; 0 for a process that listens nowhere (a worker).
	port int
	// own is true when the command is the project's own (a server, a
	// worker): its supervisor checks it listens where it should, and its
	// restart policy is the project's.
	own bool
	// waits are services the supervisor waits for before the command
	// starts, and prestart a shell command it runs then: for images built
	// from a Dockerfile (the module's own backend image waits with its
	// launcher instead).
	waits    []contract.WaitTarget
	prestart string
	// also are processes run next to the command in its container (the
	// Stack's front runs Redis next to Postgres).
	also []contract.Process
	// sync, with live reload on, says how it takes the watcher's files
	// (live.go).
	sync *contract.Sync
	// locks are the kinds of the project's data volumes it holds; folders
	// the persistent folders it mounts.
	locks, folders []string
	// env are variables the supervisor sets, with the project's passwords
	// in them; mask names variables of the container that are secrets.
	env  []contract.EnvVar
	mask []string
	// health are its checks while it runs.
	health []contract.HealthCheck
	// ready, for a server that opens its port before it answers (Postgres,
	// Redis), is the port its supervisor opens once its health check first
	// passes, when it runs alone (see run): one for each such service, as
	// `up` without --ports forwards every port a service exposes to the
	// same port of the host, and `postgres up` and `redis up` then run at
	// once.
	ready int
	// local are other services it reaches at localhost too, as a program
	// written for a developer's machine calls them.
	local []contract.Route
	// user is UID:GID its command runs as; empty: root (or an image's own
	// USER).
	user string
	// memory is the most its command's processes may hold, in bytes (0:
	// no limit).
	memory int64
}

// peers are the host names under which a service reaches the project's
// other services.
type peers struct {
	postgres, redis, backend string
}

// boundPeers are the names of the services a service binds when it runs
// alone, as Dagger service bindings.
var boundPeers = peers{postgres: "postgres", redis: "redis", backend: "backend"}

// supervision is the supervisor's run of s: its command and everything
// around it, for the project of m (none when m is nil: the throwaway
// services of a test run).
func (m *Commandcenter) supervision(s service) contract.Run {
	r := contract.Run{
		Name: s.name, Command: s.args, WaitFor: s.waits, Prestart: s.prestart, Also: s.also, User: s.user, Memory: s.memory,
		Locks: s.locks, Folders: s.folders, Env: s.env, Health: s.health, Local: s.local,
		Mask: append(slices.Clone(s.mask), contract.StackTokenEnv, contract.SyncTokenEnv),
	}
	if s.own && s.port != 0 {
		r.ExpectPort = s.port
	}
	if s.own {
		r.Restart, r.RestartMax = m.RestartPolicy, m.RestartMax
	}
	if s.sync != nil {
		r.Sync = *s.sync
	}
	if m.Project != "" {
		r.Project, r.State, r.Secrets = m.Project, keepPath(stateKind), keepPath(secretsKind)
	}
	return r
}

// prepared is s's container set up for its supervisor: the supervisor
// itself, the project's state and secrets volumes, the passwords given to
// the module.
func (m *Commandcenter) prepared(s service, supervisor *dagger.File) *dagger.Container {
	ctr := m.withGivenPasswords(s.ctr.WithFile(contract.SupervisorPath, supervisor))
	if m.Project != "" {
		ctr = m.withVolumes(ctr, stateKind, secretsKind)
	}
	return ctr
}

// run runs s alone: the engine starts it when a client needs it and waits
// for its port to answer first. Its command runs under the module's
// supervisor (supervisor.go), which stops one that does not listen where it
// should with a message that says so, instead of a wait.
//
// A server with a health check of its own (Postgres, Redis) opens its port
// before it answers: Postgres while it replays its WAL after a kill (every
// session's end kills its services), Redis while it loads its data. The
// engine's health check then waits on the supervisor's ready port instead,
// which opens once the server's check passes, so that a client the engine
// starts next (a test suite, a migration) finds it answering.
func (m *Commandcenter) run(s service, supervisor *dagger.File) *dagger.Service {
	ctr := m.prepared(s, supervisor)
	run := m.supervision(s)
	if s.port != 0 {
		ctr = ctr.WithExposedPort(s.port, dagger.ContainerWithExposedPortOpts{Description: s.name, ExperimentalSkipHealthcheck: s.ready != 0})
		if s.ready != 0 {
			run.ReadyPort, run.StartTimeout = s.ready, readyTimeout
			ctr = ctr.WithExposedPort(s.ready, dagger.ContainerWithExposedPortOpts{Description: s.name + " is ready"})
		}
	}
	return ctr.AsService(dagger.ContainerAsServiceOpts{Args: run.Args()})
}

// readyTimeout is how long a lone Postgres or Redis may take to answer
// before its supervisor stops it: a first start runs the init scripts
// (a dump to restore), a start after a kill replays the WAL, and Redis
// loads all of its data, each as long as the data is big.
const readyTimeout = 30 * time.Minute

// shell runs a command line with sh. A simple command replaces the shell,
// so that it gets the signals a service is stopped with.
func shell(command string) []string {
	if !strings.ContainsAny(command, ";&|\n()`") {
		command = "exec " + command
	}
	return []string{"sh", "-c", command}
}
