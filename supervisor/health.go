package supervisor

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"strconv"
	"strings"
	"time"

	"dagger/commandcenter/internal/contract"
	"dagger/commandcenter/internal/minihttp"
)

// Health checks while a run goes on (--health NAME=TARGET): each process
// is checked every interval, its result recorded in its status; retries
// failures in a row make it unhealthy, and the command's is then ended as a
// crash (its restart policy decides what comes next). A check only starts
// counting once the process's service is ready: a server that still starts
// is not unhealthy.

// check runs one health check of target: postgres://, redis:// and
// HOST:PORT as the waits check them (wait.go), http://HOST:PORT/PATH by a
// GET that must answer below 500 (a 404 makes it a check of the port from
// then on: an app without that path).
type check struct {
	target  string
	noPath  bool
	timeout time.Duration
}

func newCheck(target string) *check {
	return &check{target: target, timeout: 5 * time.Second}
}

func (c *check) run() (bool, string) {
	if rest, ok := strings.CutPrefix(c.target, "http://"); ok {
		host, _, _ := strings.Cut(rest, "/")
		if c.noPath {
			return dialCheck(host, c.timeout)
		}
		res, err := minihttp.Do(context.Background(), "GET", c.target, minihttp.Header{"user-agent": name}, nil, c.timeout)
		if err != nil {
			return false, err.Error()
		}
		res.Body.Close()
		switch {
		case res.StatusCode == 404:
			c.noPath = true
			return dialCheck(host, c.timeout)
		case res.StatusCode >= 500:
			return false, fmt.Sprintf("GET %s answered %s", c.target, res.Status)
		}
		return true, fmt.Sprintf("GET %s answered %d", c.target, res.StatusCode)
	}
	w, err := contract.ParseWaitTarget(c.target)
	if err != nil {
		return false, err.Error()
	}
	ready, err := probe(w)
	if ready {
		return true, w.Kind + " answers"
	}
	if err == nil {
		return false, "no answer"
	}
	return false, err.Error()
}

func dialCheck(addr string, timeout time.Duration) (bool, string) {
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return false, err.Error()
	}
	c.Close()
	return true, addr + " takes connections"
}

// healthLoop checks the process name every interval from the time ready
// closes, until done closes (every startInterval until a check first
// passes, which calls firstPass); results go to rec, and the process's
// becoming unhealthy to unhealthy.
func healthLoop(name, target string, interval, startEvery time.Duration, retries int, ready, done <-chan struct{}, rec *recorder, unhealthy chan<- string, firstPass func()) {
	select {
	case <-ready:
	case <-done:
		return
	}
	c := newCheck(target)
	failures, passed := 0, false
	for {
		ok, detail := c.run()
		if ok {
			if !passed && firstPass != nil {
				firstPass()
			}
			failures, passed = 0, true
		} else {
			failures++
		}
		rec.checked(name, ok, passed, detail, failures, retries)
		// A process is unhealthy once a check passed and then retries
		// failed in a row: one that has never passed still starts.
		if passed && failures == retries && unhealthy != nil {
			select {
			case unhealthy <- fmt.Sprintf("%d health checks in a row failed: %s", failures, detail):
			default:
			}
		}
		wait := interval
		if !passed {
			wait = startEvery
		}
		select {
		case <-time.After(wait):
		case <-done:
			return
		}
	}
}

// startInterval is how often a process is checked until a check first
// passes; readyInterval, a command whose first pass opens the ready port,
// which the engine's check of the service's start waits on: a warm
// Postgres answers some 0.3 s after its start, and each probe is a
// connection that Postgres ends at its password prompt.
const (
	startInterval = 250 * time.Millisecond
	readyInterval = 50 * time.Millisecond
)

// openWhenReady listens on port once ready closes, and takes each
// connection only to close it: the engine's health check of the service
// waits on that port (--ready-port) instead of the server's own, which
// Postgres opens while it still replays its WAL, and Redis while it loads
// its data, both answering every client with an error meanwhile. A command
// whose service is not ready within timeout is stopped, saying what it was
// waited for to do (readiness: "answers its health check (...)"), rather
// than leaving the engine, and `up`, waiting for good.
//
// A long wait says so each minute: a first start runs the database's init
// scripts before it answers, and a dump of some gigabytes takes minutes.
func openWhenReady(port int, ready, done <-chan struct{}, timeout time.Duration, what, readiness string, stops chan<- string, logger *log.Logger) {
	start := time.Now()
	late := time.NewTimer(timeout)
	defer late.Stop()
	minute := time.NewTicker(time.Minute)
	defer minute.Stop()
wait:
	for {
		select {
		case <-ready:
			break wait
		case <-done:
			return
		case <-minute.C:
			logger.Printf("%s is not ready after %s: the engine waits until it %s, for at most %s (--start-timeout)",
				what, time.Since(start).Round(time.Second), readiness, timeout)
		case <-late.C:
			stop(stops, fmt.Sprintf("%s was not ready within %s (--start-timeout): the engine waits until it %s", what, timeout, readiness))
			return
		}
	}
	l, err := net.Listen("tcp", ":"+strconv.Itoa(port))
	if err != nil {
		stop(stops, fmt.Sprintf("cannot open the ready port %d, which the engine waits on: %v (give --ready-port a free port)", port, err))
		return
	}
	go func() {
		<-done
		l.Close()
	}()
	for {
		c, err := l.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			logger.Printf("the ready port %d: %v", port, err)
			time.Sleep(100 * time.Millisecond)
			continue
		}
		c.Close()
	}
}
