package contract

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// full is a run with every option set away from its default.
func full() Run {
	return Run{
		Name:           "backend",
		Command:        []string{"python", "/launch.py", "--port", "8000", "--", "x y"},
		ExpectPort:     8000,
		ReadyPort:      65435,
		WaitFor:        []WaitTarget{{Kind: "postgres", Addr: "stack-0a:5432"}, {Kind: "redis", Addr: "stack-0a:6379"}, {Kind: "tcp", Addr: "nats:4222"}},
		Prestart:       "alembic upgrade head && echo 'done'",
		User:           "1000:1000",
		Memory:         1 << 30,
		Also:           []Process{{Name: "redis", Command: `exec redis-server --requirepass "$REDIS_PASSWORD"`}},
		Routes:         []Route{{Port: 8000, Target: "backend-0a:8000"}, {Port: 3000, Target: "frontend-0a:3000"}},
		Local:          []Route{{Port: 5432, Target: "stack-0a:5432"}},
		Resolve:        []string{"backend-0a", "nats-0a"},
		Control:        ControlPort,
		Report:         "stack-0a:65432",
		Project:        "shop",
		LogAs:          "api",
		Quiet:          true,
		State:          "/.commandcenter/state",
		Secrets:        "/.commandcenter/secrets",
		Locks:          []string{"postgres-17", "redis"},
		Folders:        []string{"files-app.storage"},
		Env:            []EnvVar{{Name: "DATABASE_URL", Value: "postgresql://u:{{postgres|url}}@stack-0a:5432/db"}, {Name: "EMPTY", Value: ""}, {Name: "EQ", Value: "a=b"}},
		Mask:           []string{"SECRET_KEY"},
		Restart:        RestartOnFailure,
		RestartMax:     3,
		Health:         []HealthCheck{{Name: "backend", Target: "http://127.0.0.1:8000/health"}, {Name: "redis", Target: "redis://127.0.0.1:6379"}},
		HealthInterval: 2 * time.Second,
		HealthRetries:  2,
		Sync:           Sync{Port: SyncPort, Root: "/app", Dir: "backend", Ignore: []string{"*.pyc", "build"}, Deps: []string{"requirements.txt"}, DepsRun: "pip install -r requirements.txt", Run: "npm run build", Restart: true, Reload: true, Routes: []NamedTarget{{Name: "backend", Target: "backend-0a:65433"}}},
		Wait:           3 * time.Second,
		Linger:         time.Second,
		StopGrace:      7 * time.Second,
		StartTimeout:   time.Minute,
		Grace:          4 * time.Second,
		WaitTimeout:    2 * time.Minute,
	}
}

// The module renders a run, the supervisor parses it: what it reads is what
// the module meant, for every option.
func TestParseReadsWhatArgsRenders(t *testing.T) {
	for name, want := range map[string]Run{
		"every option":       full(),
		"a front":            {Name: "stack", Control: ControlPort, Routes: []Route{{Port: 6379, Target: "redis:6379"}}, Command: []string{"postgres"}},
		"nothing but a name": {Name: "postgres", Command: []string{"sh", "-c", "exec postgres"}},
	} {
		args := want.Args()
		if args[0] != SupervisorPath {
			t.Fatalf("%s: Args()[0] = %q, want %q", name, args[0], SupervisorPath)
		}
		got, _, err := Parse(args[1:])
		if err != nil {
			t.Fatalf("%s: Parse(%q): %v", name, args, err)
		}
		// Options left at zero read back as their defaults.
		want = want.WithDefaults()
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: Parse(Args()) =\n%+v\nwant\n%+v\nargs: %q", name, got, want, args)
		}
	}
}

// Defaults are not written out: a run with nothing set is the program alone.
func TestArgsLeaveOutDefaults(t *testing.T) {
	if got := (Run{}).Args(); !slices.Equal(got, []string{SupervisorPath}) {
		t.Errorf("Run{}.Args() = %q, want the path alone", got)
	}
	args := (Run{Name: "backend", Command: []string{"true"}}).Args()
	if want := []string{SupervisorPath, "--name=backend", "--", "true"}; !slices.Equal(args, want) {
		t.Errorf("Args() = %q, want %q", args, want)
	}
}

// Every field of Run is carried by an option: a field added without one
// would never reach the supervisor.
func TestEveryFieldIsAnOption(t *testing.T) {
	args := strings.Join(full().Args(), " ")
	var missing []string
	var walk func(v reflect.Value, path string)
	walk = func(v reflect.Value, path string) {
		for i := range v.NumField() {
			f := v.Type().Field(i)
			fv := v.Field(i)
			if f.Type.Kind() == reflect.Struct && f.Type != reflect.TypeOf(time.Duration(0)) {
				walk(fv, path+f.Name+".")
				continue
			}
			if fv.IsZero() {
				missing = append(missing, path+f.Name+" (zero in full())")
			}
		}
	}
	walk(reflect.ValueOf(full()), "")
	if len(missing) > 0 {
		t.Fatalf("full() leaves fields unset, so the round trip does not check them: %v", missing)
	}
	if !strings.Contains(args, "-- python") {
		t.Errorf("the command is not after --: %s", args)
	}
}

func TestParseRoute(t *testing.T) {
	r, err := ParseRoute("6379=redis-0a1b:6379")
	if err != nil || r.Port != 6379 || r.Target != "redis-0a1b:6379" {
		t.Fatalf("ParseRoute = %+v, %v", r, err)
	}
	for _, bad := range []string{"6379", "=redis:6379", "0=redis:6379", "70000=redis:6379", "6379=redis", "6379=:6379", "6379=redis:http", "6379=redis:0"} {
		if _, err := ParseRoute(bad); err == nil || !strings.Contains(err.Error(), "such as") {
			t.Errorf("ParseRoute(%q) = %v, want an error with an example", bad, err)
		}
	}
}

func TestParseWaitTarget(t *testing.T) {
	for in, want := range map[string]WaitTarget{
		"postgres://db:5432": {Kind: "postgres", Addr: "db:5432"},
		"redis://cache:6379": {Kind: "redis", Addr: "cache:6379"},
		"nats:4222":          {Kind: "tcp", Addr: "nats:4222"},
	} {
		got, err := ParseWaitTarget(in)
		if err != nil || got != want {
			t.Errorf("ParseWaitTarget(%q) = %+v, %v; want %+v", in, got, err, want)
		}
		if got.String() != in {
			t.Errorf("%+v.String() = %q, want %q", got, got.String(), in)
		}
	}
	for _, bad := range []string{"mysql://db:3306", "postgres://db", "db", ""} {
		if _, err := ParseWaitTarget(bad); err == nil {
			t.Errorf("ParseWaitTarget(%q) took it", bad)
		}
	}
}

func TestParseProcessAndNamedTarget(t *testing.T) {
	if p, err := ParseProcess("redis=exec redis-server --port 6379"); err != nil || p.Name != "redis" || p.Command != "exec redis-server --port 6379" {
		t.Errorf("ParseProcess = %+v, %v", p, err)
	}
	for _, bad := range []string{"redis", "=x", "1x=y", "redis=  "} {
		if _, err := ParseProcess(bad); err == nil {
			t.Errorf("ParseProcess(%q) took it", bad)
		}
	}
	if n, err := ParseNamedTarget("backend=backend-0a:65433"); err != nil || n.Name != "backend" || n.Target != "backend-0a:65433" {
		t.Errorf("ParseNamedTarget = %+v, %v", n, err)
	}
	for _, bad := range []string{"backend", "backend=x", "=x:1"} {
		if _, err := ParseNamedTarget(bad); err == nil {
			t.Errorf("ParseNamedTarget(%q) took it", bad)
		}
	}
}

// A value the supervisor cannot read fails the parse, naming the option.
func TestParseRefusesBadValues(t *testing.T) {
	for _, args := range [][]string{
		{"--route", "6379"},
		{"--wait-for", "mysql://db:3306"},
		{"--also", "redis"},
		{"--sync-route", "x"},
		{"--restart", "sometimes"},
		{"--health", "backend=ftp://x:1"},
		{"--health", "backend"},
		{"--expect-port", "eight"},
		{"--no-such-option"},
	} {
		if _, _, err := Parse(args); err == nil {
			t.Errorf("Parse(%q) took it", args)
		}
	}
}

func TestStaticRoundTrip(t *testing.T) {
	api, err := ParseProxy("/api=http://backend-0a:8000")
	if err != nil {
		t.Fatal(err)
	}
	want := Static{Dir: "/app/dist", Host: "0.0.0.0", Port: "3000", Proxies: []Proxy{api}}
	args := want.Args()
	if args[0] != SupervisorPath || args[1] != StaticCommand {
		t.Fatalf("Args() = %q, want the static server's %s", args, StaticCommand)
	}
	var got Static
	if err := got.FlagSet("").Parse(args[2:]); err != nil {
		t.Fatal(err)
	}
	if got.Dir != want.Dir || got.Host != want.Host || got.Port != want.Port || len(got.Proxies) != 1 || got.Proxies[0].String() != api.String() {
		t.Errorf("parsed %+v, want %+v (args %q)", got, want, args)
	}
	for _, bad := range []string{"api=http://b:1", "/api=ftp://b:1", "/api=http://", "/api"} {
		if _, err := ParseProxy(bad); err == nil {
			t.Errorf("ParseProxy(%q) took it", bad)
		}
	}
}

func TestExpand(t *testing.T) {
	pw := map[string]string{"postgres": "p@ss/w:rd", "redis": "r"}
	for in, want := range map[string]string{
		"{{postgres}}":                      "p@ss/w:rd",
		"postgresql://u:{{postgres|url}}@h": "postgresql://u:p%40ss%2Fw%3Ard@h",
		"redis://default:{{redis}}@h/0":     "redis://default:r@h/0",
		"no placeholder {{":                 "no placeholder {{",
		"{{redis}}{{redis}}":                "rr",
	} {
		got, err := Expand(in, pw)
		if err != nil || got != want {
			t.Errorf("Expand(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := Expand("{{mysql}}", pw); err == nil {
		t.Error("Expand of an unknown password took it")
	}
	if got := Needs([]EnvVar{{Name: "A", Value: "{{redis|url}}"}, {Name: "B", Value: "{{postgres}}"}, {Name: "C", Value: "{{redis}}"}}); !slices.Equal(got, []string{"postgres", "redis"}) && !slices.Equal(got, []string{"redis", "postgres"}) {
		t.Errorf("Needs = %q", got)
	}
}

func TestQueryRoundTrip(t *testing.T) {
	want := Query{State: "/s", Project: "shop", JSON: true, Services: []string{"backend", "worker"}, Tail: 20, Since: "10m", Previous: true, Action: "restart", Timeout: time.Minute}
	args := want.Args(LogsCommand)
	if args[1] != LogsCommand {
		t.Fatalf("Args = %q", args)
	}
	var got Query
	if err := got.FlagSet("").Parse(args[2:]); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("parsed %+v, want %+v", got, want)
	}
}
