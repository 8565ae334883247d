// Package boot lets the module's binary start as the supervisor
// (package supervisor) in a service's container.
//
// The engine runs the module's binary to serve the module's functions; the
// module also puts that binary in every service's container, as
// contract.SupervisorPath, where it must run the supervisor instead. The
// package the Go SDK generates (internal/dagger) sets up its engine client
// in its init, and panics there without the session the engine gives the
// module (DAGGER_SESSION_PORT and DAGGER_SESSION_TOKEN). This package is
// initialized before it: its only import, os, is one of that package's,
// and its path sorts before it (the Go specification's order of package
// initialization). Run as the supervisor, it gives that init a session
// that is never dialled, and the module's init (supervisor.go) takes it
// away again before the supervisor starts, so that the services' commands
// do not inherit it.
package boot

import "os"

// SupervisorName is the supervisor's program name, the last element of
// contract.SupervisorPath.
const SupervisorName = "commandcenter-supervisor"

// Supervisor is whether this process is the supervisor: started under
// SupervisorName.
var Supervisor bool

// placeholders are the session variables this package set, to unset.
var placeholders []string

func init() {
	// Its base name, by hand: path/filepath would be an import the
	// generated package does not have, which could order it first.
	argv0 := os.Args[0]
	for i := len(argv0) - 1; i >= 0; i-- {
		if argv0[i] == '/' {
			argv0 = argv0[i+1:]
			break
		}
	}
	if argv0 != SupervisorName {
		return
	}
	Supervisor = true
	for k, v := range map[string]string{"DAGGER_SESSION_PORT": "1", "DAGGER_SESSION_TOKEN": "unused"} {
		if _, ok := os.LookupEnv(k); !ok {
			os.Setenv(k, v)
			placeholders = append(placeholders, k)
		}
	}
}

// Unset takes away the session variables init set.
func Unset() {
	for _, k := range placeholders {
		os.Unsetenv(k)
	}
}
