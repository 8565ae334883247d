// Package contract is what the module and its supervisor agree on: the
// options of a supervisor run as one struct, the command line that carries
// them, and the names and ports both sides use.
//
// The module fills a Run and renders it with Args; the supervisor parses
// its command line into a Run with FlagSet. Both go through the same flag
// definitions (FlagSet), so an option renamed on one side is renamed on the
// other, and a unit test (parse of Args) holds them together.
package contract

import (
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Names and ports both sides use.
const (
	// SupervisorPath is where the supervisor goes in a container.
	SupervisorPath = "/usr/local/bin/commandcenter-supervisor"
	// StackTokenEnv holds the Stack's token in the front's and members'
	// containers: the front takes reports only with it.
	StackTokenEnv = "COMMANDCENTER_STACK_TOKEN"
	// SyncTokenEnv holds the live-reload sync port's token.
	SyncTokenEnv = "COMMANDCENTER_SYNC_TOKEN"
	// RedisPasswordEnv holds the password a redis:// wait target
	// authenticates with.
	RedisPasswordEnv = "COMMANDCENTER_REDIS_PASSWORD"
	// ControlPort is where the Stack's front takes its members' reports;
	// it is never forwarded.
	ControlPort = 65432
	// SyncPort is where services take the live-reload watcher's files.
	SyncPort = 65433
	// DatabaseCreatedLine is what the project's Postgres says (in its log)
	// when it creates the database, its volume being empty
	// (entrypoints/postgres.sh): the host command warns when a project
	// that had data says it.
	DatabaseCreatedLine = "the project's database volume is empty: creating the database"
)

// Run is one run of the supervisor: the command it runs and everything it
// does around it. The zero value of each field is "not used" (durations:
// the default of FlagSet).
type Run struct {
	// Name of the service: in reports, the log and messages.
	Name string
	// Command and its arguments; empty in a front that only forwards.
	Command []string

	// ExpectPort is the port the command must listen on where other
	// containers reach it.
	ExpectPort int
	// ReadyPort is a port the supervisor opens once the command's service
	// is ready (it listens on ExpectPort, or its Health check first
	// passes), for the engine's health check to wait on: a server whose
	// own port opens before it answers (Postgres replaying its WAL, Redis
	// loading its data) is then started only once it answers.
	ReadyPort int
	// WaitFor are services to wait for before the command starts:
	// postgres://HOST:PORT, redis://HOST:PORT or HOST:PORT.
	WaitFor []WaitTarget
	// Prestart is a shell command run once they are ready.
	Prestart string
	// User is UID:GID the command and the prestart command run as; empty
	// runs them as the supervisor's user (root). The supervisor, the
	// processes next to the command (Also) and the live-reload installs
	// stay root. The user gets an entry in /etc/passwd and a home when the
	// image has none, and the persistent folders (Folders) become its own.
	User string
	// Also are processes run next to the command in its container.
	Also []Process

	// Routes forward ports of this container to other hosts (the front).
	Routes []Route
	// Local forward ports of this container's loopback (127.0.0.1 and ::1)
	// to other hosts: a program written for a developer's machine that
	// calls a peer at localhost:PORT (a dev server's proxy to
	// localhost:8000) reaches it.
	Local []Route
	// Resolve are host names of peers the command may look up as it
	// starts (nginx resolves its upstreams then): it starts once each of
	// them resolves, as compose's network names every service from the
	// start.
	Resolve []string
	// Control is the port the front takes its members' reports on.
	Control int
	// Report is the front's HOST:PORT a member reports its end to.
	Report string

	// Sync is how the service takes the live-reload watcher's files.
	Sync Sync

	// Project names the project the run belongs to; State is the folder
	// of its state volume (its locks, and what runs: see state.go), and
	// Secrets the folder of its secrets volume (its generated passwords,
	// and the token of its Stack's reports).
	Project, State, Secrets string
	// LogAs names the command's log and status (default Name): the
	// Stack's front is "stack" in its messages, and its command Postgres.
	LogAs string
	// Quiet runs keep no log or status (a wipe, a snapshot): they only
	// hold the locks.
	Quiet bool
	// Locks are the kinds of the project's data volumes this run holds
	// (postgres-17, redis): it takes the lock of each in State before
	// anything starts, and fails at once, saying who holds it, when
	// another run does. The kernel releases them when the run ends, how
	// ever it ends.
	Locks []string
	// Folders are the kinds of the project's persistent folders this run
	// mounts: recorded in Secrets, for wipe and snapshot.
	Folders []string
	// Env are variables set for the command, the prestart command and the
	// processes next to it. Their values may name the project's passwords
	// (see Expand), which the run reads from Secrets (made the first time)
	// unless the module was given one (GivenPasswordEnv).
	Env []EnvVar
	// Mask names variables whose values never show in the output the
	// supervisor passes on (the passwords of Env are masked too).
	Mask []string

	// Restart says what happens when the command ends by itself once its
	// service was ready: RestartNo (the zero value: the run ends),
	// RestartOnFailure (started again when its exit status is not 0) or
	// RestartAlways, at most RestartMax times, with a growing wait.
	Restart    string
	RestartMax int
	// Health are the checks of the run's processes while they run, by
	// process name (the command's is Name). HealthRetries failures in a
	// row make the process unhealthy, and end it as a crash.
	Health         []HealthCheck
	HealthInterval time.Duration
	HealthRetries  int
	// Memory is the most memory, in bytes, the command's processes may hold
	// together (their anonymous resident memory, RssAnon); over it, the
	// command is ended as a crash, as an unhealthy one. 0: no limit.
	Memory int64

	// Timing: zero keeps the default of FlagSet.
	Wait, Linger, StopGrace, StartTimeout, Grace, WaitTimeout time.Duration
}

// Sync says how a service takes the live-reload watcher's files on its
// sync port (Port), or, in the Stack's front, passes them on (Routes).
type Sync struct {
	Port int
	// Root is the folder the files go to; Dir the service's folder in
	// the project's source.
	Root, Dir string
	// Ignore are .dockerignore patterns of files never sent.
	Ignore []string
	// Deps are files (relative to Dir) whose change runs DepsRun and
	// restarts the command.
	Deps    []string
	DepsRun string
	// Run is a shell command run after each change (a production build);
	// Restart restarts the command after each.
	Run     string
	Restart bool
	// Reload says that the command starts its server again itself on
	// SIGHUP (the launcher's Reloader, entrypoints/launch.py), keeping what
	// it imported: a change of code sends it SIGHUP in place of a restart.
	// A change of Deps still restarts it.
	Reload bool
	// Routes pass the files for service NAME on to HOST:PORT (the front).
	Routes []NamedTarget
}

// EnvVar is NAME=VALUE.
type EnvVar struct {
	Name, Value string
}

func (e EnvVar) String() string { return e.Name + "=" + e.Value }

// EnvNamePattern is what a variable's name looks like.
var EnvNamePattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// ParseEnvVar reads NAME=VALUE.
func ParseEnvVar(s string) (EnvVar, error) {
	name, value, ok := strings.Cut(s, "=")
	if !ok || !EnvNamePattern.MatchString(name) {
		return EnvVar{}, fmt.Errorf("--env %q: want NAME=VALUE, such as PGHOST=postgres", s)
	}
	return EnvVar{Name: name, Value: value}, nil
}

// Passwords the project has, as Env's values name them: {{postgres}} is
// the Postgres password as it is, {{postgres|url}} the same escaped for
// the user part of a URL; likewise {{redis}}.
var Passwords = []string{"postgres", "redis"}

// Placeholder is how an Env value names password name, escaped for a URL
// or not.
func Placeholder(name string, url bool) string {
	if url {
		return "{{" + name + "|url}}"
	}
	return "{{" + name + "}}"
}

// GivenPasswordEnv holds a password given to the module (with-postgres
// --password) in the containers, as a secret: it wins over the project's
// generated one.
func GivenPasswordEnv(name string) string {
	return "COMMANDCENTER_GIVEN_" + strings.ToUpper(name) + "_PASSWORD"
}

// Expand replaces the placeholders of value with the passwords of pw
// (name to password); it says which password a placeholder names that pw
// lacks.
func Expand(value string, pw map[string]string) (string, error) {
	var out strings.Builder
	for {
		i := strings.Index(value, "{{")
		if i < 0 {
			out.WriteString(value)
			return out.String(), nil
		}
		j := strings.Index(value[i:], "}}")
		if j < 0 {
			out.WriteString(value)
			return out.String(), nil
		}
		name, escape := value[i+2:i+j], false
		if n, ok := strings.CutSuffix(name, "|url"); ok {
			name, escape = n, true
		}
		p, known := pw[name]
		if !known {
			return "", fmt.Errorf("%q names the password %q, which the run does not have", value, name)
		}
		if escape {
			p = EscapePassword(p)
		}
		out.WriteString(value[:i])
		out.WriteString(p)
		value = value[i+j+2:]
	}
}

// EscapePassword is p escaped for the password part of a URL.
func EscapePassword(p string) string {
	return strings.TrimPrefix(url.UserPassword("x", p).String(), "x:")
}

// Needs says which passwords the values name.
func Needs(env []EnvVar) []string {
	var names []string
	for _, e := range env {
		for _, name := range Passwords {
			if (strings.Contains(e.Value, Placeholder(name, false)) || strings.Contains(e.Value, Placeholder(name, true))) && !slices.Contains(names, name) {
				names = append(names, name)
			}
		}
	}
	return names
}

// Restart policies.
const (
	RestartNo        = "no"
	RestartOnFailure = "on-failure"
	RestartAlways    = "always"
)

// ParseUser reads a user as UID:GID, numbers below 2^31 with UID not 0
// (root is the supervisor's own: no --user).
func ParseUser(s string) (string, error) {
	if _, _, err := SplitUser(s); err != nil {
		return "", err
	}
	return s, nil
}

// SplitUser is the UID and GID of a user given as UID:GID.
func SplitUser(s string) (uid, gid uint32, err error) {
	u, g, ok := strings.Cut(s, ":")
	uv, err1 := strconv.ParseUint(u, 10, 31)
	gv, err2 := strconv.ParseUint(g, 10, 31)
	if !ok || err1 != nil || err2 != nil || uv == 0 {
		return 0, 0, fmt.Errorf("user %q: want UID:GID, numbers, such as 1000:1000 (root runs without --user)", s)
	}
	return uint32(uv), uint32(gv), nil
}

// ParseRestart reads a restart policy.
func ParseRestart(s string) (string, error) {
	switch s {
	case "", RestartNo, RestartOnFailure, RestartAlways:
		return s, nil
	}
	return "", fmt.Errorf("restart policy %q: give no, on-failure or always", s)
}

// HealthCheck is how a process is checked while it runs: Target is
// postgres://HOST:PORT (takes logins), redis://HOST:PORT (answers PING
// after AUTH), http://HOST:PORT/PATH (answers below 500; a 404 makes it a
// check of the port) or HOST:PORT (takes a connection).
type HealthCheck struct {
	Name, Target string
}

func (h HealthCheck) String() string { return h.Name + "=" + h.Target }

// ParseHealthCheck reads NAME=TARGET.
func ParseHealthCheck(s string) (HealthCheck, error) {
	name, target, ok := strings.Cut(s, "=")
	bad := fmt.Errorf("--health %q: want NAME=TARGET, such as backend=http://127.0.0.1:8000/health or postgres=postgres://127.0.0.1:5432", s)
	if !ok || !NamePattern.MatchString(name) {
		return HealthCheck{}, bad
	}
	if rest, isHTTP := strings.CutPrefix(target, "http://"); isHTTP {
		host, _, _ := strings.Cut(rest, "/")
		if CheckHostPort(host) != nil {
			return HealthCheck{}, bad
		}
	} else if _, err := ParseWaitTarget(target); err != nil {
		return HealthCheck{}, bad
	}
	return HealthCheck{Name: name, Target: target}, nil
}

// Route forwards connections to Port to Target (HOST:PORT).
type Route struct {
	Port   int
	Target string
}

func (r Route) String() string { return strconv.Itoa(r.Port) + "=" + r.Target }

// ParseRoute reads LISTEN=HOST:PORT.
func ParseRoute(s string) (Route, error) {
	listen, target, ok := strings.Cut(s, "=")
	port, err := strconv.Atoi(listen)
	if !ok || err != nil || port < 1 || port > 65535 {
		return Route{}, fmt.Errorf("route %q: want LISTEN=HOST:PORT with LISTEN a port (1-65535), such as 6379=redis:6379", s)
	}
	if err := CheckHostPort(target); err != nil {
		return Route{}, fmt.Errorf("route %q: target %q is not HOST:PORT, such as redis:6379", s, target)
	}
	return Route{Port: port, Target: target}, nil
}

// CheckHostPort checks HOST:PORT.
func CheckHostPort(s string) error {
	host, port, err := net.SplitHostPort(s)
	if n, perr := strconv.Atoi(port); err != nil || host == "" || perr != nil || n < 1 || n > 65535 {
		return fmt.Errorf("%q is not HOST:PORT", s)
	}
	return nil
}

// Process is a process run next to the command, with sh.
type Process struct {
	Name, Command string
}

func (p Process) String() string { return p.Name + "=" + p.Command }

// NamePattern is what a service's or process's name looks like.
var NamePattern = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]{0,31}$`)

// ParseProcess reads NAME=COMMAND.
func ParseProcess(s string) (Process, error) {
	name, command, ok := strings.Cut(s, "=")
	if !ok || !NamePattern.MatchString(name) || strings.TrimSpace(command) == "" {
		return Process{}, fmt.Errorf("--also %q: want NAME=COMMAND, such as redis=\"redis-server --port 6379\"", s)
	}
	return Process{Name: name, Command: command}, nil
}

// parseHostName reads a host name.
func parseHostName(s string) (string, error) {
	if s == "" || strings.ContainsAny(s, " :/=") {
		return "", fmt.Errorf("--resolve %q: want a host name, such as backend-0a", s)
	}
	return s, nil
}

// NamedTarget is NAME=HOST:PORT.
type NamedTarget struct {
	Name, Target string
}

func (n NamedTarget) String() string { return n.Name + "=" + n.Target }

// ParseNamedTarget reads NAME=HOST:PORT.
func ParseNamedTarget(s string) (NamedTarget, error) {
	name, target, ok := strings.Cut(s, "=")
	if !ok || !NamePattern.MatchString(name) || CheckHostPort(target) != nil {
		return NamedTarget{}, fmt.Errorf("--sync-route %q: want NAME=HOST:PORT, such as backend=backend:65433", s)
	}
	return NamedTarget{Name: name, Target: target}, nil
}

// WaitTarget is a service to wait for: Kind is postgres (ready when it
// takes logins), redis (when PING answers after AUTH) or tcp (when it
// takes a connection).
type WaitTarget struct {
	Kind, Addr string
}

func (w WaitTarget) String() string {
	if w.Kind == "tcp" {
		return w.Addr
	}
	return w.Kind + "://" + w.Addr
}

// ParseWaitTarget reads postgres://HOST:PORT, redis://HOST:PORT or HOST:PORT.
func ParseWaitTarget(s string) (WaitTarget, error) {
	kind, addr, ok := strings.Cut(s, "://")
	if !ok {
		kind, addr = "tcp", s
	}
	if (kind != "tcp" && kind != "postgres" && kind != "redis") || CheckHostPort(addr) != nil {
		return WaitTarget{}, fmt.Errorf("--wait-for %q: want postgres://HOST:PORT, redis://HOST:PORT or HOST:PORT", s)
	}
	return WaitTarget{Kind: kind, Addr: addr}, nil
}

// Args renders r as the supervisor's command line: its path, the options
// that differ from their defaults (in FlagSet's order), "--" and the
// command.
func (r Run) Args() []string {
	args := []string{SupervisorPath}
	// The flags are bound to the fields of scratch; once they are defined
	// (with their defaults), scratch takes r's values, which they then show.
	var scratch Run
	fs := scratch.FlagSet("")
	scratch = r.WithDefaults()
	args = append(args, render(fs)...)
	if len(r.Command) > 0 {
		args = append(append(args, "--"), r.Command...)
	}
	return args
}

// Defaults of the options whose zero value is not "not used".
const (
	DefaultWait         = time.Minute
	DefaultLinger       = 2 * time.Second
	DefaultStopGrace    = time.Minute
	DefaultStartTimeout = 5 * time.Minute
	DefaultGrace        = 10 * time.Second
	DefaultWaitTimeout  = 5 * time.Minute
	DefaultSyncDir      = "."
	// A process is checked every DefaultHealthInterval, and unhealthy after
	// DefaultHealthRetries failures in a row, as compose's healthcheck does by
	// default.
	DefaultHealthInterval = 30 * time.Second
	DefaultHealthRetries  = 3
	DefaultRestartMax     = 5
)

// WithDefaults is r with the options it leaves at zero at their defaults:
// the run the supervisor carries out.
func (r Run) WithDefaults() Run {
	for _, d := range []struct {
		v   *time.Duration
		def time.Duration
	}{
		{&r.Wait, DefaultWait}, {&r.Linger, DefaultLinger}, {&r.StopGrace, DefaultStopGrace},
		{&r.StartTimeout, DefaultStartTimeout}, {&r.Grace, DefaultGrace}, {&r.WaitTimeout, DefaultWaitTimeout},
		{&r.HealthInterval, DefaultHealthInterval},
	} {
		if *d.v == 0 {
			*d.v = d.def
		}
	}
	if r.Sync.Dir == "" {
		r.Sync.Dir = DefaultSyncDir
	}
	if r.Restart == "" {
		r.Restart = RestartNo
	}
	if r.RestartMax == 0 {
		r.RestartMax = DefaultRestartMax
	}
	if r.HealthRetries == 0 {
		r.HealthRetries = DefaultHealthRetries
	}
	return r
}

// render writes the options of fs that differ from their defaults, in
// fs's order; a list's options once for each item.
func render(fs *flag.FlagSet) []string {
	var args []string
	fs.VisitAll(func(f *flag.Flag) {
		switch v := f.Value.(type) {
		case lister:
			for _, item := range v.items() {
				args = append(args, "--"+f.Name, item)
			}
		default:
			if s := f.Value.String(); s != f.DefValue {
				args = append(args, "--"+f.Name+"="+s)
			}
		}
	})
	return args
}

// FlagSet defines the supervisor's options, each bound to its field of r
// and set to its default: the supervisor parses into a zero Run with it,
// and Args renders a Run with it. Parse errors are returned, not printed;
// name names the set in them.
func (r *Run) FlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	fs.Var(listOf(&r.Routes, ParseRoute), "route", "LISTEN=HOST:PORT: forward connections to port LISTEN to HOST:PORT (repeat for more ports)")
	fs.Var(listOf(&r.Local, ParseRoute), "localhost", "PORT=HOST:PORT: forward connections to localhost:PORT in this container (127.0.0.1 and ::1) to HOST:PORT, for programs that call a peer on their own machine (repeat for more ports)")
	fs.Var(listOf(&r.Resolve, parseHostName), "resolve", "HOST: start the command once HOST resolves, within --wait-timeout (a peer's name; repeat for more)")
	fs.DurationVar(&r.Wait, "wait", DefaultWait, "how long a connection waits for its target to answer before it is closed, and a report for the front")
	fs.IntVar(&r.Control, "control", 0, "port to take other services' reports on: a report stops the command")
	fs.StringVar(&r.Report, "report", "", "HOST:PORT of a front's control port, told the command's exit status when it ends")
	fs.DurationVar(&r.Linger, "linger", DefaultLinger, "how long a report leaves the command running: the engine passes the ended service's last output on to its client meanwhile, before the command's end ends the client's call")
	fs.DurationVar(&r.StopGrace, "stop-grace", DefaultStopGrace, "how long a stopped command (by a report, an --also process's end, --expect-port) may take to end after SIGTERM before it is killed")
	fs.StringVar(&r.Name, "name", "", "name of this service: in its report (with --report), in the log when a report stops it")
	fs.IntVar(&r.ExpectPort, "expect-port", 0, "port the command must listen on, reachable from other containers; it is stopped with a message when it does not")
	fs.IntVar(&r.ReadyPort, "ready-port", 0, "port to open once the command's service is ready (it listens on --expect-port, or its --health check first passes), for the engine's health check; a command not ready within --start-timeout is stopped")
	fs.DurationVar(&r.StartTimeout, "start-timeout", DefaultStartTimeout, "how long a command may take to listen on --expect-port or be ready for --ready-port, and a route's target to answer first")
	fs.DurationVar(&r.Grace, "grace", DefaultGrace, "how long the command may listen on other ports only before --expect-port stops it")
	fs.Var(listOf(&r.WaitFor, ParseWaitTarget), "wait-for", "postgres://HOST:PORT, redis://HOST:PORT or HOST:PORT to wait for before the command starts (repeat for more)")
	fs.DurationVar(&r.WaitTimeout, "wait-timeout", DefaultWaitTimeout, "how long to wait for the --wait-for targets")
	fs.Var(listOf(&r.Also, ParseProcess), "also", "NAME=COMMAND: a process to run next to the command, with sh (repeat for more); when one ends, the command is stopped, and the other way round")
	fs.StringVar(&r.Prestart, "prestart", "", "shell command run once the --wait-for targets are ready, before the command; its failure is the command's")
	fs.Var(funcValue{&r.User, ParseUser, ""}, "user", "UID:GID the command and the prestart command run as (default: the supervisor's own); its home and the --folder volumes are made its own")
	fs.IntVar(&r.Sync.Port, "sync", 0, "port to take the live-reload watcher's files on (with the token in "+SyncTokenEnv+")")
	fs.StringVar(&r.Sync.Root, "sync-root", "", "folder this service's files go to (with --sync)")
	fs.StringVar(&r.Sync.Dir, "sync-dir", DefaultSyncDir, "this service's folder in the project's source, for the watcher")
	fs.Var(listOf(&r.Sync.Ignore, plain), "sync-ignore", "pattern of files the watcher never sends (.dockerignore syntax; repeat for more)")
	fs.Var(listOf(&r.Sync.Deps, plain), "sync-deps", "file (relative to the folder) whose change runs --sync-deps-run and restarts the command (repeat for more)")
	fs.BoolVar(&r.Sync.Restart, "sync-restart", false, "restart the command after each change (otherwise only after --sync-deps-run)")
	fs.BoolVar(&r.Sync.Reload, "sync-reload", false, "with --sync-restart: send the command SIGHUP after a change, in place of a restart (it starts its server again itself); a --sync-deps file's change still restarts it")
	fs.StringVar(&r.Sync.Run, "sync-run", "", "shell command run in the folder after each change (a production build)")
	fs.StringVar(&r.Sync.DepsRun, "sync-deps-run", "", "shell command run in the folder after a --sync-deps file changed (the dependency install)")
	fs.StringVar(&r.Project, "project", "", "the project's name, in messages and what the run records")
	fs.StringVar(&r.State, "state", "", "folder of the project's state volume: locks, and what runs")
	fs.StringVar(&r.Secrets, "secrets", "", "folder of the project's secrets volume: its generated passwords and its Stack token")
	fs.StringVar(&r.LogAs, "log-as", "", "name of the command's log and status (default --name)")
	fs.BoolVar(&r.Quiet, "quiet", false, "keep no log or status of this run (it only holds the locks)")
	fs.Var(listOf(&r.Locks, ParseKind), "lock", "kind of a project data volume this run holds (repeat for more): its lock is taken before anything starts, or the run fails at once")
	fs.Var(listOf(&r.Folders, ParseKind), "folder", "kind of a persistent folder the run mounts, recorded for wipe and snapshot (repeat for more)")
	fs.Var(listOf(&r.Env, ParseEnvVar), "env", "NAME=VALUE set for the command; {{postgres}}, {{redis}} (and {{NAME|url}}) in VALUE are the project's passwords (repeat for more)")
	fs.Var(listOf(&r.Mask, ParseEnvName), "mask", "name of a variable whose value never shows in the output (repeat for more)")
	r.Restart = RestartNo
	fs.Var(funcValue{&r.Restart, ParseRestart, RestartNo}, "restart", "what happens when the command ends by itself once its service was ready: no (the run ends), on-failure (started again after an exit status other than 0) or always")
	fs.IntVar(&r.RestartMax, "restart-max", DefaultRestartMax, "how many times --restart starts the command again before the run ends")
	fs.Var(listOf(&r.Health, ParseHealthCheck), "health", "NAME=TARGET: check process NAME while it runs (postgres://, redis://, http://HOST:PORT/PATH or HOST:PORT; repeat for more)")
	fs.DurationVar(&r.HealthInterval, "health-interval", DefaultHealthInterval, "how often the --health checks run")
	fs.IntVar(&r.HealthRetries, "health-retries", DefaultHealthRetries, "failed checks in a row that make a process unhealthy, ended as a crash")
	fs.Int64Var(&r.Memory, "memory", 0, "bytes of memory the command's processes may hold together (anonymous resident memory); over it, the command is ended as a crash (0: no limit)")
	fs.Var(listOf(&r.Sync.Routes, ParseNamedTarget), "sync-route", "NAME=HOST:PORT: pass the files for service NAME on to its sync port (in the Stack's front; repeat for more)")
	return fs
}

// Parse reads the supervisor's command line (without the program's name)
// into a Run: the options, then the command after them.
func Parse(args []string) (Run, *flag.FlagSet, error) {
	var r Run
	fs := r.FlagSet("commandcenter-supervisor")
	err := fs.Parse(args)
	r.Command = fs.Args()
	return r, fs, err
}

func plain(s string) (string, error) { return s, nil }

// funcValue is a string option checked by parse.
type funcValue struct {
	into  *string
	parse func(string) (string, error)
	def   string
}

func (f funcValue) String() string {
	if f.into == nil || *f.into == "" {
		return f.def
	}
	return *f.into
}

func (f funcValue) Set(s string) error {
	v, err := f.parse(s)
	if err == nil {
		*f.into = v
	}
	return err
}

// KindPattern is what the kind of a project's volume looks like: postgres-17,
// redis, files-app.storage.
var KindPattern = regexp.MustCompile(`^[a-z][a-z0-9._-]{0,99}$`)

// ParseKind reads the kind of a project's volume.
func ParseKind(s string) (string, error) {
	if !KindPattern.MatchString(s) {
		return "", fmt.Errorf("%q is not the kind of a project's volume, such as postgres-17", s)
	}
	return s, nil
}

// ParseEnvName reads a variable's name.
func ParseEnvName(s string) (string, error) {
	if !EnvNamePattern.MatchString(s) {
		return "", fmt.Errorf("%q is not a variable's name", s)
	}
	return s, nil
}

// lister is a flag given once for each item of a list.
type lister interface{ items() []string }

// listOf is a repeated flag that parses each value into an item of *into.
func listOf[T any](into *[]T, parse func(string) (T, error)) flag.Value {
	return &anyList[T]{into: into, parse: parse}
}

type anyList[T any] struct {
	into  *[]T
	parse func(string) (T, error)
}

func (l *anyList[T]) Set(s string) error {
	v, err := l.parse(s)
	if err != nil {
		return err
	}
	*l.into = append(*l.into, v)
	return nil
}

func (l *anyList[T]) items() []string {
	var out []string
	for _, v := range *l.into {
		out = append(out, fmt.Sprint(v))
	}
	return out
}

func (l *anyList[T]) String() string {
	if l == nil || l.into == nil {
		return ""
	}
	return strings.Join(l.items(), ",")
}

// StaticCommand is the supervisor's subcommand that serves a frontend's
// production build.
const StaticCommand = "serve-static"

// Static is a run of serve-static: the files of Dir, Proxies' prefixes sent
// on (default /api to $BACKEND_URL), index.html for other paths without a
// file. Host and Port default to $HOST and $PORT.
type Static struct {
	Dir, Host, Port string
	Proxies         []Proxy
}

// Proxy sends requests under Prefix to Target (http://HOST:PORT).
type Proxy struct {
	Prefix string
	Target *url.URL
}

func (p Proxy) String() string { return p.Prefix + "=" + p.Target.String() }

// ParseProxy reads /PREFIX=URL.
func ParseProxy(s string) (Proxy, error) {
	prefix, target, ok := strings.Cut(s, "=")
	u, err := url.Parse(target)
	if !ok || !strings.HasPrefix(prefix, "/") || err != nil || u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return Proxy{}, fmt.Errorf("proxy %q: want /PREFIX=http://HOST:PORT, such as /api=http://backend:8000", s)
	}
	return Proxy{Prefix: prefix, Target: u}, nil
}

// FlagSet defines serve-static's options, bound to the fields of s.
func (s *Static) FlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	fs.StringVar(&s.Dir, "dir", "", "folder of the build to serve (with index.html)")
	fs.StringVar(&s.Host, "host", "", "address to listen on (default $HOST, else 0.0.0.0)")
	fs.StringVar(&s.Port, "port", "", "port to listen on (default $PORT)")
	fs.Var(listOf(&s.Proxies, ParseProxy), "proxy", "/PREFIX=URL: send requests under PREFIX to URL (repeat for more); default /api=$BACKEND_URL")
	return fs
}

// Args renders s as the supervisor's command line.
func (s Static) Args() []string {
	var scratch Static
	fs := scratch.FlagSet("")
	scratch = s
	return append([]string{SupervisorPath, StaticCommand}, render(fs)...)
}

// SourceIgnore is what the module's functions leave out of a project's
// source folder when they upload it (their +ignore pragmas, which a test
// keeps equal to this list), and what the live-reload watcher never sends.
var SourceIgnore = []string{".git", "**/node_modules", "**/.venv", "**/__pycache__", "**/.pytest_cache", "**/.mypy_cache", "**/dist", "**/.next"}

// Subcommands of the supervisor that read or ask a running project, through
// its state volume (Query): the module's status, logs, restart and stop run
// them in a container that mounts it, and the control service serves them.
const (
	StatusCommand  = "status"
	LogsCommand    = "logs"
	RequestCommand = "request"
	ControlCommand = "control"
)

// ControlServicePort is where the control service listens.
const ControlServicePort = 65434

// ControlTokenEnv holds the control service's token: it takes requests
// with it only.
const ControlTokenEnv = "COMMANDCENTER_CONTROL_TOKEN"

// Query is a run of one of those subcommands.
type Query struct {
	// State is the folder of the project's state volume; Project its name.
	State, Project string
	// JSON: status and logs answer JSON for programs.
	JSON bool
	// Services: the logs of these (all without), or the service to restart.
	Services []string
	// Tail: the last lines only; Since: lines written since then (a
	// duration ago, or an RFC 3339 time); Previous: the previous run's.
	Tail     int
	Since    string
	Previous bool
	// Action of a request: restart or stop; Timeout how long it waits.
	Action  string
	Timeout time.Duration
}

// DefaultRequestTimeout is how long a request waits for its result: a
// restart waits for the process to end (at most its stop grace) and start.
const DefaultRequestTimeout = 2 * time.Minute

// FlagSet defines the options of the state subcommands.
func (q *Query) FlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	fs.StringVar(&q.State, "state", "", "folder of the project's state volume")
	fs.StringVar(&q.Project, "project", "", "the project's name, in messages")
	fs.BoolVar(&q.JSON, "json", false, "answer JSON")
	fs.Var(listOf(&q.Services, plainName), "service", "service (repeat for more)")
	fs.IntVar(&q.Tail, "tail", 0, "the last lines only (0: all)")
	fs.StringVar(&q.Since, "since", "", "lines written since: a duration ago (10m) or a time (RFC 3339)")
	fs.BoolVar(&q.Previous, "previous", false, "the previous run's log")
	fs.StringVar(&q.Action, "action", "", "restart or stop")
	fs.DurationVar(&q.Timeout, "timeout", DefaultRequestTimeout, "how long a request waits for its result")
	return fs
}

// Args renders q as the command line of subcommand command.
func (q Query) Args(command string) []string {
	var scratch Query
	fs := scratch.FlagSet("")
	scratch = q
	if scratch.Timeout == 0 {
		scratch.Timeout = DefaultRequestTimeout
	}
	return append([]string{SupervisorPath, command}, render(fs)...)
}

func plainName(s string) (string, error) {
	if !NamePattern.MatchString(s) {
		return "", fmt.Errorf("%q is not a service's name", s)
	}
	return s, nil
}
