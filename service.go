package main

import (
	"strconv"
	"strings"

	"dagger/commandcenter/internal/dagger"
)

// A service is what one process of the project needs to run, as plain
// values: its container, set up with everything the process needs (image,
// dependencies, source, env, secrets, volumes); its command; and the port it
// listens on (none for a worker). What it waits for before it starts is part
// of the command (the launcher waits for Postgres and Redis).
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
	// worker): its supervisor checks it listens where it should.
	own bool
	// waits are services the supervisor waits for before the command
	// starts (postgres://HOST:PORT, redis://HOST:PORT), and prestart a shell
	// command it runs then: for images built from a Dockerfile (the
	// module's own backend image waits with its launcher instead).
	waits    []string
	prestart string
	// also are NAME=COMMAND processes run next to the command in its
	// container (the Stack's front runs Redis next to Postgres).
	also []string
	// sync, with live reload on, says how it takes the watcher's files
	// (live.go).
	sync *syncSpec
}

// supervised says whether s runs under the supervisor alone: a command of
// the project's own with a port to check, or with something to wait for.
func (s service) supervised() bool {
	return s.own && (s.port != 0 || len(s.waits) > 0 || s.prestart != "") || s.sync != nil
}

// supervisorFlags are the supervisor's flags for s, before "--" and its
// command.
func (s service) supervisorFlags() []string {
	flags := []string{"--name", s.name}
	if s.own && s.port != 0 {
		flags = append(flags, "--expect-port", strconv.Itoa(s.port))
	}
	for _, w := range s.waits {
		flags = append(flags, "--wait-for", w)
	}
	if s.prestart != "" {
		flags = append(flags, "--prestart", s.prestart)
	}
	if s.sync != nil {
		flags = append(flags, s.sync.flags()...)
	}
	return flags
}

// peers are the host names under which a service reaches the project's
// other services.
type peers struct {
	postgres, redis, backend string
}

// boundPeers are the names of the services a service binds when it runs
// alone, as Dagger service bindings.
var boundPeers = peers{postgres: "postgres", redis: "redis", backend: "backend"}

// run runs s alone: the engine starts it when a client needs it and waits
// for its port to answer first. The project's own commands run under the
// module's supervisor (supervisor.go), which stops one that does not listen
// where it should with a message that says so, instead of a wait.
func (s service) run(supervisor *dagger.File) *dagger.Service {
	ctr, args := s.ctr, s.args
	if s.port != 0 {
		ctr = ctr.WithExposedPort(s.port, dagger.ContainerWithExposedPortOpts{Description: s.name})
	}
	if s.supervised() {
		ctr = ctr.WithFile(supervisorPath, supervisor)
		args = append(append(append([]string{supervisorPath}, s.supervisorFlags()...), "--"), args...)
	}
	return ctr.AsService(dagger.ContainerAsServiceOpts{Args: args})
}

// shell runs a command line with sh. A simple command replaces the shell,
// so that it gets the signals a service is stopped with.
func shell(command string) []string {
	if !strings.ContainsAny(command, ";&|\n()`") {
		command = "exec " + command
	}
	return []string{"sh", "-c", command}
}

// entrypoint is one of the programs of the module's entrypoints folder that
// run in the services' containers (launch.py, postgres.sh, project.sh):
// real files of the module's source, tested in their own language, which
// reach a container as files, so that the engine's logs name them rather
// than print them.
func entrypoint(name string) *dagger.File {
	return dag.CurrentModule().Source().File("entrypoints/" + name)
}
