package spec

import _ "embed"

// BackendLauncher is the Python program that starts the Stack's backend: it
// waits for the services the backend reaches by hostname, runs the prestart
// command, and serves (see launch.py).
//
//go:embed launch.py
var BackendLauncher string
