package compose

import (
	"fmt"
	"path"
	"strconv"
	"strings"
)

// Args are the module's calls that set what the plan says, in the order
// `dagger call` takes them, before the Stack (stack --src=. up --ports
// ...). Each item is one argument.
func (p Plan) Args() []string {
	var args []string
	add := func(fn string, opts ...string) {
		args = append(append(args, fn), opts...)
	}
	if pg := p.Postgres; pg != nil {
		opts := []string{opt("version", pg.Version)}
		if len(pg.Extensions) > 0 {
			opts = append(opts, opt("extensions", strings.Join(pg.Extensions, ",")))
		}
		if pg.User != "" {
			opts = append(opts, opt("user", pg.User))
		}
		if pg.Database != "" {
			opts = append(opts, opt("database", pg.Database))
		}
		if pg.HasPasswordLiteral {
			opts = append(opts, opt("password", "env:POSTGRES_PASSWORD"))
		}
		opts = append(opts, memoryOpt(pg.Memory)...)
		add("with-postgres", opts...)
	}
	if rd := p.Redis; rd != nil {
		add("with-redis", append([]string{opt("version", rd.Version)}, memoryOpt(rd.Memory)...)...)
	}
	if be := p.Backend; be != nil {
		add("with-backend", be.opts()...)
	}
	for _, w := range p.Workers {
		opts := []string{opt("name", w.Service), opt("command", w.Command)}
		if w.Port != 0 {
			opts = append(opts, opt("port", strconv.Itoa(w.Port)))
		}
		add("with-worker", opts...)
	}
	if fe := p.Frontend; fe != nil {
		add("with-frontend", fe.opts()...)
	}
	for _, e := range p.Extras {
		opts := []string{opt("name", e.Service)}
		if e.Image != "" {
			opts = append(opts, opt("image", e.Image))
		} else {
			opts = append(opts, opt("context", e.Context), opt("dockerfile", e.Dockerfile))
			if len(e.BuildArgs) > 0 {
				opts = append(opts, opt("build-args", strings.Join(e.BuildArgs, ",")))
			}
		}
		if len(e.Args) > 0 {
			opts = append(opts, opt("args", csv(e.Args)))
		}
		if e.Port != 0 {
			opts = append(opts, opt("port", strconv.Itoa(e.Port)))
		}
		if e.Volume != "" {
			opts = append(opts, opt("volume", e.Volume))
		}
		add("with-service", opts...)
	}
	for _, f := range p.Folders {
		add("with-volume", opt("path", f))
	}
	for _, h := range p.HostNames {
		add("with-host-name", opt("name", h.Name), opt("service", h.Service))
	}
	for _, f := range p.EnvFiles {
		add("with-env-file", opt("file", "file:"+f.Path), opt("service", f.Service))
	}
	for _, e := range p.Env {
		add("with-env", opt("name", e.Name), opt("value", e.Value), opt("service", e.Service))
	}
	return args
}

// opt is one option of a call.
func opt(name, value string) string { return "--" + name + "=" + value }

// opts are the backend's or frontend's options.
func (a App) opts() []string {
	opts := []string{opt("dir", a.Dir)}
	if a.Port != 0 {
		opts = append(opts, opt("port", strconv.Itoa(a.Port)))
	}
	if a.Command != "" {
		opts = append(opts, opt("command", a.Command))
	}
	if len(a.Packages) > 0 {
		opts = append(opts, opt("packages", strings.Join(a.Packages, ",")))
	}
	if len(a.WatchIgnore) > 0 {
		opts = append(opts, opt("watch-ignore", csv(a.WatchIgnore)))
	}
	if a.FromDockerfile {
		opts = append(opts, opt("context", a.Context), opt("dockerfile", a.Dockerfile))
		if len(a.BuildArgs) > 0 {
			opts = append(opts, opt("build-args", strings.Join(a.BuildArgs, ",")))
		}
		if a.Target != "" {
			opts = append(opts, opt("target", a.Target))
		}
	}
	return append(opts, memoryOpt(a.Memory)...)
}

// built says how the backend or frontend is built.
func (a App) built() string {
	dockerfile := path.Join(a.Context, a.Dockerfile)
	if a.FromDockerfile {
		return fmt.Sprintf("built from its Dockerfile %s (context %s)", dockerfile, a.Context)
	}
	return fmt.Sprintf("built by the module from %s (its Dockerfile %s, context %s: --dockerfiles builds from it instead)", a.Dir, dockerfile, a.Context)
}

// UpPorts is the `up --ports` value of the published ports.
func (p Plan) UpPorts() string {
	var ports []string
	for _, port := range p.Ports {
		ports = append(ports, fmt.Sprintf("%d:%d", port.Host, port.Container))
	}
	return strings.Join(ports, ",")
}

// String is the plan for a person: each service and what it becomes, the
// command that runs it, and what is not honoured.
func (p Plan) String() string {
	var b strings.Builder
	line := func(service, becomes string) { fmt.Fprintf(&b, "  %-14s -> %s\n", service, becomes) }
	b.WriteString("services:\n")
	if pg := p.Postgres; pg != nil {
		what := "the project's Postgres " + pg.Version
		if len(pg.Extensions) > 0 {
			what += " with " + strings.Join(pg.Extensions, ", ")
		}
		if pg.HasPasswordLiteral {
			what += " (the file's POSTGRES_PASSWORD: export POSTGRES_PASSWORD with that value, or leave --password out for the project's generated one)"
		}
		line(pg.Service, what)
	}
	if rd := p.Redis; rd != nil {
		line(rd.Service, "the project's Redis "+rd.Version+", with the project's password")
	}
	if be := p.Backend; be != nil {
		line(be.Service, "the backend, "+be.built())
	}
	for _, w := range p.Workers {
		line(w.Service, "a worker of the backend's image: "+w.Command)
	}
	if fe := p.Frontend; fe != nil {
		line(fe.Service, "the frontend, "+fe.built())
	}
	for _, e := range p.Extras {
		from := e.Image
		if from == "" {
			from = "a build of " + e.Dockerfile + " in " + e.Context
		}
		line(e.Service, "a service of the project's own: "+from)
	}
	b.WriteString("\nrun it:\n  dagger call " + strings.Join(quoteAll(p.Args()), " ") + " stack --src=. up")
	if ports := p.UpPorts(); ports != "" {
		b.WriteString(" --ports " + ports)
	}
	b.WriteString("\n")
	if len(p.Info) > 0 {
		b.WriteString("\nnotes:\n  " + strings.Join(p.Info, "\n  ") + "\n")
	}
	if len(p.Notes) > 0 {
		b.WriteString("\nnot honoured:\n  " + strings.Join(p.Notes, "\n  ") + "\n")
	}
	return b.String()
}

// quoteAll quotes arguments for a POSIX shell where they need it.
func quoteAll(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		// An option's value is quoted after its name: --command='celery -A app'.
		if name, value, ok := strings.Cut(a, "="); ok && strings.HasPrefix(name, "--") && !strings.ContainsAny(name, shellSpecial) && value != "" {
			out[i] = name + "=" + shellQuote(value)
		} else {
			out[i] = shellQuote(a)
		}
	}
	return out
}

// csv joins a list option's items as the dagger CLI reads them: with
// commas, an item that has a comma or a quote in double quotes.
func csv(items []string) string {
	out := make([]string, len(items))
	for i, it := range items {
		if strings.ContainsAny(it, ",\"\n") {
			it = `"` + strings.ReplaceAll(it, `"`, `""`) + `"`
		}
		out[i] = it
	}
	return strings.Join(out, ",")
}

// memoryOpt is --memory for a limit in bytes, none for 0.
func memoryOpt(bytes int64) []string {
	if bytes == 0 {
		return nil
	}
	return []string{opt("memory", strconv.FormatInt(bytes, 10))}
}

// shellSpecial are the characters a POSIX shell reads as more than a
// word's letters.
const shellSpecial = " \t\n'\"$`\\;&|<>()*?{}[]#~"

// shellQuote is s as one word of a POSIX shell: as it is where nothing in
// it is special, else in single quotes.
func shellQuote(s string) string {
	if s != "" && !strings.ContainsAny(s, shellSpecial) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
