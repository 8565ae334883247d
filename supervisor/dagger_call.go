package supervisor

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"dagger/commandcenter/internal/contract"
)

// daggerCall is a `dagger call ... up --ports ...` command line of the
// module, as the host's commandcenter command reads it: which module, which
// project, which function, which ports.
type daggerCall struct {
	argv []string
	// prefix is what comes before "call" (dagger and its flags: -m MODULE);
	// ctor the module's own flags between "call" and its first function
	// (--project=X, --restart=no).
	prefix, ctor []string
	project      string
	// function is the first function that returns a service (stack,
	// postgres, ...); first is the index of the first function of the
	// chain (a with-* one, or function).
	function string
	first    int
	// ports are the --ports of up, HOST:CONTAINER, and at the index
	// portsAt (its value), -1 without.
	ports   []portMap
	portsAt int
	src     string
}

// portMap is one forwarded port.
type portMap struct{ host, container int }

// functions of the module that return a service `up` runs.
var serviceFunctions = []string{"stack", "postgres", "redis", "backend", "frontend", "worker"}

// isFunction says whether a word of the command line names a function of
// the module.
func isFunction(a string) bool {
	return strings.HasPrefix(a, "with-") || slices.Contains(serviceFunctions, a) || a == "from-compose"
}

const callUsage = "give the command that brings the stack up after --, such as: -- dagger call stack --src=. up --ports 15000:5432,15001:6379,15002:8000,15003:3000"

// parseDaggerCall reads a dagger command line.
func parseDaggerCall(argv []string) (daggerCall, error) {
	c := daggerCall{argv: slices.Clone(argv), project: "commandcenter", first: -1, portsAt: -1}
	call := slices.Index(argv, "call")
	if len(argv) == 0 || call < 0 {
		return c, errors.New(callUsage)
	}
	c.prefix = slices.Clone(argv[:call])
	for i := call + 1; i < len(argv); i++ {
		a := argv[i]
		if c.first < 0 {
			if isFunction(a) {
				c.first = i
			} else {
				c.ctor = append(c.ctor, a)
				continue
			}
		}
		switch {
		case c.function == "" && slices.Contains(serviceFunctions, a):
			c.function = a
		case c.src == "" && strings.HasPrefix(a, "--src="):
			c.src = strings.TrimPrefix(a, "--src=")
		case c.src == "" && a == "--src" && i+1 < len(argv):
			c.src = argv[i+1]
		case strings.HasPrefix(a, "--ports="):
			c.portsAt = i
		case a == "--ports" && i+1 < len(argv):
			c.portsAt = i + 1
		}
	}
	for i := 0; i < len(c.ctor); i++ {
		a := c.ctor[i]
		switch {
		case strings.HasPrefix(a, "--project="):
			c.project = strings.TrimPrefix(a, "--project=")
		case a == "--project" && i+1 < len(c.ctor):
			c.project = c.ctor[i+1]
		}
	}
	if c.first < 0 || c.function == "" || !slices.Contains(argv[c.first:], "up") {
		return c, errors.New(callUsage)
	}
	if c.portsAt >= 0 {
		v := strings.TrimPrefix(argv[c.portsAt], "--ports=")
		for _, p := range strings.Split(v, ",") {
			host, container, ok := strings.Cut(strings.TrimSpace(p), ":")
			h, herr := strconv.Atoi(host)
			ct, cerr := strconv.Atoi(container)
			if !ok || herr != nil || cerr != nil || h < 1 || h > 65535 || ct < 1 || ct > 65535 {
				return c, fmt.Errorf("--ports %q: want HOST:CONTAINER pairs, such as 15000:5432,15001:6379", v)
			}
			c.ports = append(c.ports, portMap{host: h, container: ct})
		}
	}
	return c, nil
}

// module is the dagger command line up to its module's first function:
// dagger, its flags, call and the module's own flags.
func (c daggerCall) module() []string {
	return append(append(append([]string{}, c.prefix...), "call"), c.ctor...)
}

// flagValue is the value of --name in the options of function fn of the
// chain (given as --name=V or --name V), or "".
func (c daggerCall) flagValue(fn, name string) string {
	value := ""
	in := false
	for i := c.first; i < len(c.argv); i++ {
		a := c.argv[i]
		if isFunction(a) {
			in = a == fn
			continue
		}
		if !in {
			continue
		}
		switch {
		case strings.HasPrefix(a, "--"+name+"="):
			value = strings.TrimPrefix(a, "--"+name+"=")
		case a == "--"+name && i+1 < len(c.argv):
			value = c.argv[i+1]
		}
	}
	return value
}

// served are the ports the function's service serves, by port, with the
// service behind each; nil when the command line cannot tell (a compose
// file sets them).
func (c daggerCall) served(live bool) map[int]string {
	if slices.Contains(c.argv, "from-compose") {
		return nil
	}
	port := func(fn string, def int) int {
		if v, err := strconv.Atoi(c.flagValue(fn, "port")); err == nil {
			return v
		}
		return def
	}
	be, fe := port("with-backend", 8000), port("with-frontend", 3000)
	out := map[int]string{}
	switch c.function {
	case "stack":
		out[5432], out[6379], out[be], out[fe] = "postgres", "redis", "backend", "frontend"
	case "postgres":
		out[5432] = "postgres"
	case "redis":
		out[6379] = "redis"
	case "backend":
		out[be] = "backend"
	case "frontend":
		out[fe] = "frontend"
	case "worker":
	default:
		return nil
	}
	if live {
		out[contract.SyncPort] = "live reload"
	}
	return out
}

// checkPorts refuses forwarded ports the service does not serve: `up`
// would open them, and drop every connection.
func (c daggerCall) checkPorts(live bool) error {
	served := c.served(live)
	if served == nil {
		return nil
	}
	var known []int
	for p := range served {
		known = append(known, p)
	}
	slices.Sort(known)
	for _, p := range c.ports {
		if _, ok := served[p.container]; !ok {
			var list []string
			for _, k := range known {
				list = append(list, fmt.Sprintf("%d (%s)", k, served[k]))
			}
			return fmt.Errorf("up --ports %d:%d: %s serves no port %d, so every connection to %d would be dropped; it serves %s: fix --ports",
				p.host, p.container, c.function, p.container, p.host, strings.Join(list, ", "))
		}
	}
	return nil
}
