package supervisor

import (
	"fmt"
	"log"
	"net"
	"strconv"
	"strings"
	"time"

	"dagger/commandcenter/internal/contract"
)

// serveLocal makes each of routes' peers answer at localhost:PORT in this
// container, for programs written for a developer's machine, where the
// backend, Postgres and Redis all run on localhost (a dev server that
// proxies /api to localhost:8000, a worker that reaches localhost:6379). It
// listens on 127.0.0.1 and, where the container has IPv6, on ::1 (Node
// resolves localhost to either), and says once for each port where it
// goes. A port some other process of the container already has is left to
// it, saying so: the redirection is a convenience, never a failure.
//
// It returns the listeners, open until the run ends.
func serveLocal(routes []contract.Route, wait time.Duration, logger *log.Logger) []net.Listener {
	var open []net.Listener
	for _, r := range routes {
		var on []string
		for _, ip := range []string{"127.0.0.1", "::1"} {
			l, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(r.Port)))
			if err != nil {
				if ip == "127.0.0.1" {
					logger.Printf("localhost:%d stays with the process of this container that has it (%v), not %s", r.Port, err, r.Target)
					break
				}
				continue // no IPv6 here
			}
			f := &forwarder{target: r.Target, wait: wait, log: logger}
			go f.serve(l)
			open = append(open, l)
			on = append(on, ip)
		}
		if len(on) > 0 {
			logger.Printf("localhost:%d -> %s (on %s), for programs that call it on their own machine", r.Port, r.Target, strings.Join(on, " and "))
		}
	}
	return open
}

// checkLocal checks the --localhost routes against the run's own ports.
func checkLocal(o options) string {
	seen := map[int]bool{}
	for _, r := range o.Local {
		switch {
		case seen[r.Port]:
			return fmt.Sprintf("--localhost %s: port %d is forwarded twice", r, r.Port)
		case r.Port == o.ExpectPort:
			return fmt.Sprintf("--localhost %s: port %d is the command's own (--expect-port); forward only other services' ports", r, r.Port)
		}
		seen[r.Port] = true
	}
	return ""
}
