package supervisor

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"dagger/commandcenter/internal/contract"
	"dagger/commandcenter/internal/minihttp"
)

// The subcommands that read or ask a running project through its state
// volume (contract.Query): status, logs, request, and control, the
// service that answers all of them over HTTP, with a token, for the host's
// commandcenter command (follow a log, watch a stack).

// exitNotRunning is the exit status of a query of a project where nothing
// runs.
const exitNotRunning = 3

// statusReport is status's JSON.
type statusReport struct {
	Project  string                   `json:"project"`
	Running  bool                     `json:"running"`
	Healthy  bool                     `json:"healthy"`
	Services []contract.ServiceStatus `json:"services"`
}

func report(project string, all []contract.ServiceStatus) statusReport {
	r := statusReport{Project: project, Running: len(running(all)) > 0, Services: all}
	r.Healthy = r.Running
	for _, s := range all {
		if contract.Running(s.State) && !s.Healthy() {
			r.Healthy = false
		}
	}
	if r.Services == nil {
		r.Services = []contract.ServiceStatus{}
	}
	return r
}

// parseQuery reads a subcommand's options.
func parseQuery(command string, args []string, stderr io.Writer) (contract.Query, bool) {
	var q contract.Query
	fs := q.FlagSet(name + " " + command)
	if err := fs.Parse(args); err != nil {
		fmt.Fprintln(stderr, err)
		fs.SetOutput(stderr)
		fs.PrintDefaults()
		return q, false
	}
	if q.State == "" {
		fmt.Fprintf(stderr, "%s %s: give --state, the folder of the project's state volume\n", name, command)
		return q, false
	}
	return q, true
}

// runStatus is the status subcommand.
func runStatus(args []string, stdout, stderr io.Writer) int {
	q, ok := parseQuery(contract.StatusCommand, args, stderr)
	if !ok {
		return 2
	}
	all, err := readStatus(q.State)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	if q.JSON {
		b, _ := json.MarshalIndent(report(q.Project, all), "", "  ")
		fmt.Fprintln(stdout, string(b))
	} else {
		fmt.Fprint(stdout, statusText(q.Project, all, time.Now()))
	}
	if len(running(all)) == 0 {
		return exitNotRunning
	}
	return 0
}

// sinceTime reads --since: a duration ago, or a time.
func sinceTime(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		return now.Add(-d), nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("--since %q: give a duration (10m, 1h) or a time (2026-12-02T10:00:00Z)", s)
}

// logQuery checks a logs query: the services it names, and since.
func logQuery(q contract.Query) ([]string, time.Time, error) {
	since, err := sinceTime(q.Since, time.Now())
	if err != nil {
		return nil, since, err
	}
	known := logServices(q.State)
	services := q.Services
	if len(services) == 0 {
		services = known
	}
	for _, s := range services {
		if !slices.Contains(known, s) {
			if len(known) == 0 {
				return nil, since, fmt.Errorf("project %q has no logs yet: nothing of it has run", q.Project)
			}
			return nil, since, fmt.Errorf("project %q has no service %q with a log (it has %s)", q.Project, s, strings.Join(known, ", "))
		}
	}
	return services, since, nil
}

// runLogs is the logs subcommand.
func runLogs(args []string, stdout, stderr io.Writer) int {
	q, ok := parseQuery(contract.LogsCommand, args, stderr)
	if !ok {
		return 2
	}
	services, since, err := logQuery(q)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	lines, err := readLogs(q.State, services, since, q.Tail, q.Previous)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	writeLines(stdout, lines, q.JSON)
	return 0
}

func writeLines(w io.Writer, lines []logLine, asJSON bool) {
	if asJSON {
		if lines == nil {
			lines = []logLine{}
		}
		b, _ := json.Marshal(lines)
		fmt.Fprintln(w, string(b))
		return
	}
	for _, l := range lines {
		fmt.Fprintln(w, l.String())
	}
}

// carryOut asks the running project for q's action, once it knows that
// something runs that can carry it out; a stop then waits for the end of
// every service.
func carryOut(q contract.Query) (string, int, error) {
	all, err := readStatus(q.State)
	if err != nil {
		return "", 1, err
	}
	live := running(all)
	if len(live) == 0 {
		return "", exitNotRunning, fmt.Errorf("project %q: nothing runs, so there is nothing to %s", q.Project, q.Action)
	}
	switch q.Action {
	case "restart":
		if len(q.Services) != 1 {
			return "", 2, errors.New("restart: give one --service")
		}
		var names []string
		for _, s := range live {
			names = append(names, s.Name)
		}
		if !slices.Contains(names, q.Services[0]) {
			return "", 2, fmt.Errorf("project %q runs no service %q (it runs %s)", q.Project, q.Services[0], strings.Join(names, ", "))
		}
		res, withdraw, err := ask(q.State, request{Action: "restart", Service: q.Services[0]}, q.Timeout)
		withdraw()
		if err != nil {
			return "", 1, err
		}
		if !res.OK {
			return "", 1, fmt.Errorf("restart of %s: %s", q.Services[0], res.Error)
		}
		return fmt.Sprintf("restarted %s of project %q\n", q.Services[0], q.Project), 0, nil
	case "stop":
		// Withdrawn once every run has ended, or the wait has.
		_, withdraw, err := ask(q.State, request{Action: "stop"}, 30*time.Second)
		defer withdraw()
		if err != nil {
			return "", 1, err
		}
		deadline := time.Now().Add(q.Timeout)
		for {
			all, err := readStatus(q.State)
			if err == nil && len(running(all)) == 0 {
				var parts []string
				for _, s := range all {
					parts = append(parts, s.Name)
				}
				return fmt.Sprintf("stopped project %q: %s\n", q.Project, strings.Join(parts, ", ")), 0, nil
			}
			if time.Now().After(deadline) {
				var names []string
				for _, s := range running(all) {
					names = append(names, s.Name)
				}
				return "", 1, fmt.Errorf("project %q was asked to stop, and %s still run after %s", q.Project, strings.Join(names, ", "), q.Timeout)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	return "", 2, fmt.Errorf("--action %q: give restart or stop", q.Action)
}

// runRequest is the request subcommand.
func runRequest(args []string, stdout, stderr io.Writer) int {
	q, ok := parseQuery(contract.RequestCommand, args, stderr)
	if !ok {
		return 2
	}
	out, code, err := carryOut(q)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return code
	}
	fmt.Fprint(stdout, out)
	return 0
}

// runControl is the control service: status, logs (and their follow),
// restart and stop over HTTP, each request with the token of
// contract.ControlTokenEnv.
//
//	GET  /status             statusReport
//	GET  /logs?service=S&tail=N&since=D&follow=1   lines of text
//	POST /restart?service=S  POST /stop
//	GET  /events             a statusReport (JSON) a line at each change;
//	                         the last one, once what ran has ended, has
//	                         running false
func runControl(args []string, stderr io.Writer) int {
	logger := log.New(stderr, name+" control: ", 0)
	q, ok := parseQuery(contract.ControlCommand, args, stderr)
	if !ok {
		return 2
	}
	token := os.Getenv(contract.ControlTokenEnv)
	if len(token) < 16 {
		logger.Printf("give the control token in %s (16 characters or more)", contract.ControlTokenEnv)
		return 2
	}
	l, err := net.Listen("tcp", ":"+strconv.Itoa(contract.ControlServicePort))
	if err != nil {
		logger.Print(err)
		return 1
	}
	srv := &minihttp.Server{Handler: controlHandler(q, token)}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-sigs
		_ = srv.Close()
	}()
	logger.Printf("project %q: serving its status, logs, restarts and stop on port %d", q.Project, contract.ControlServicePort)
	if err := srv.Serve(l); err != nil && !errors.Is(err, minihttp.ErrServerClosed) {
		logger.Print(err)
		return 1
	}
	return 0
}

func controlHandler(base contract.Query, token string) minihttp.Handler {
	routes := map[string]minihttp.Handler{
		"GET /status": func(w *minihttp.ResponseWriter, r *minihttp.Request) {
			all, err := readStatus(base.State)
			if err != nil {
				minihttp.Error(w, err.Error(), 500)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(report(base.Project, all))
		},
		"GET /logs": func(w *minihttp.ResponseWriter, r *minihttp.Request) {
			q := base
			q.Services = r.Query["service"]
			q.Since = r.Query.Get("since")
			q.Tail, _ = strconv.Atoi(r.Query.Get("tail"))
			services, since, err := logQuery(q)
			if err != nil {
				minihttp.Error(w, err.Error(), 404)
				return
			}
			f := newFollower(q.State, services)
			lines, err := readLogs(q.State, services, since, q.Tail, false)
			if err != nil {
				minihttp.Error(w, err.Error(), 500)
				return
			}
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			writeLines(w, lines, false)
			if r.Query.Get("follow") == "" {
				return
			}
			w.Flush()
			tick := time.NewTicker(100 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-r.Context().Done():
					return
				case <-tick.C:
				}
				if lines := f.next(); len(lines) > 0 {
					writeLines(w, lines, false)
					w.Flush()
				}
			}
		},
		"POST /restart": func(w *minihttp.ResponseWriter, r *minihttp.Request) {
			q := base
			q.Action, q.Services, q.Timeout = "restart", r.Query["service"], contract.DefaultRequestTimeout
			answerRequest(w, q)
		},
		"POST /stop": func(w *minihttp.ResponseWriter, r *minihttp.Request) {
			q := base
			q.Action, q.Timeout = "stop", contract.DefaultRequestTimeout
			answerRequest(w, q)
		},
		"GET /events": func(w *minihttp.ResponseWriter, r *minihttp.Request) {
			w.Header().Set("Content-Type", "application/x-ndjson")
			w.Flush()
			last, ran := "", false
			tick := time.NewTicker(200 * time.Millisecond)
			defer tick.Stop()
			for {
				all, err := readStatus(base.State)
				if err == nil {
					rep := report(base.Project, all)
					b, _ := json.Marshal(rep)
					if string(b) != last {
						last = string(b)
						fmt.Fprintln(w, last)
						w.Flush()
					}
					if rep.Running {
						ran = true
					} else if ran {
						return
					}
				}
				select {
				case <-r.Context().Done():
					return
				case <-tick.C:
				}
			}
		},
	}
	return func(w *minihttp.ResponseWriter, r *minihttp.Request) {
		if !hasToken(r, token) {
			w.Header().Set("WWW-Authenticate", "Bearer")
			minihttp.Error(w, "this control service takes requests with its token only (Authorization: Bearer TOKEN)", 401)
			return
		}
		h, ok := routes[r.Method+" "+r.Path]
		if !ok {
			minihttp.Error(w, fmt.Sprintf("%s %s: not found: GET /status, GET /logs, POST /restart, POST /stop and GET /events are", r.Method, r.Path), 404)
			return
		}
		h(w, r)
	}
}

func answerRequest(w *minihttp.ResponseWriter, q contract.Query) {
	out, code, err := carryOut(q)
	switch {
	case err == nil:
		io.WriteString(w, out)
	case code == exitNotRunning:
		minihttp.Error(w, err.Error(), 409)
	case code == 2:
		minihttp.Error(w, err.Error(), 400)
	default:
		minihttp.Error(w, err.Error(), 500)
	}
}
