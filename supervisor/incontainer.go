//go:build incontainer

package main

import (
	"fmt"
	"io"
)

// The supervisor that runs in the services' containers is built with the
// incontainer tag (the module's supervisor()): it leaves out the host
// command, the watcher and serve-static, and with them net/http, which
// would double its compile. The module builds those for where they run:
// the host command and the watcher for the developer's machine (cli),
// serve-static in a production frontend's container (staticServer()).

const (
	hostName  = "commandcenter"
	watchName = "commandcenter-watch"
)

func runHost(args []string, stdout, stderr io.Writer) int {
	return notInThisBuild(stderr, "the host command")
}

func runWatch(args []string, stderr io.Writer) int { return notInThisBuild(stderr, "the watcher") }

func serveStatic(args []string, stderr io.Writer) int {
	return notInThisBuild(stderr, "serve-static")
}

func notInThisBuild(stderr io.Writer, what string) int {
	fmt.Fprintf(stderr, "%s: this is the supervisor built for a service's container, without %s: use the module's build of it (dagger call cli, or with-frontend --production)\n", name, what)
	return 2
}
