//go:build composeloader

package compose

import (
	"context"
	"fmt"
	"path"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"dagger/commandcenter/internal/dotenv"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
)

// Load reads the compose files from src and plans them.
func Load(ctx context.Context, src Source, o Options) (Plan, error) {
	if len(o.Files) == 0 {
		o.Files = []string{"docker-compose.yml"}
	}
	env := map[string]string{}
	if src.Exists(".env") {
		text, err := src.Read(".env")
		if err != nil {
			return Plan{}, fmt.Errorf(".env: %w", err)
		}
		vars, err := dotenv.Parse(string(text))
		if err != nil {
			return Plan{}, fmt.Errorf(".env: %w", err)
		}
		for _, v := range vars {
			env[v.Name] = v.Value
		}
	}
	for k, v := range o.Env {
		env[k] = v
	}
	var files []types.ConfigFile
	for _, f := range o.Files {
		text, err := src.Read(f)
		if err != nil {
			return Plan{}, fmt.Errorf("compose file %s: %w: give --file a path in --src", f, err)
		}
		files = append(files, types.ConfigFile{Filename: f, Content: text})
	}
	project, err := loader.LoadWithContext(ctx, types.ConfigDetails{WorkingDir: ".", ConfigFiles: files, Environment: env},
		func(lo *loader.Options) {
			lo.SetProjectName("commandcenter", false)
			lo.Profiles = o.Profiles
			// env_file is read from --src, not from this process's folder.
			lo.SkipResolveEnvironment = true
			lo.ResolvePaths = false
		})
	if err != nil {
		return Plan{}, fmt.Errorf("%s: %w", strings.Join(o.Files, ", "), err)
	}
	p, err := plan(project, src, o)
	if err != nil {
		return Plan{}, err
	}
	if o.Strict && len(p.Notes) > 0 {
		return p, fmt.Errorf("--strict: %d keys of %s are not honoured:\n  %s", len(p.Notes), strings.Join(o.Files, ", "), strings.Join(p.Notes, "\n  "))
	}
	return p, nil
}

var (
	postgresImage = regexp.MustCompile(`^(?:docker\.io/)?(?:library/)?postgres:(\d+)`)
	pgvectorImage = regexp.MustCompile(`^(?:docker\.io/)?pgvector/pgvector:pg(\d+)`)
	postgisImage  = regexp.MustCompile(`^(?:docker\.io/)?postgis/postgis:(\d+)`)
	redisImage    = regexp.MustCompile(`^(?:docker\.io/)?(?:library/)?redis:(\d+)`)
	hostName      = regexp.MustCompile(`^[a-z][a-z0-9-]{0,19}$`)
)

func plan(project *types.Project, src Source, o Options) (Plan, error) {
	var p Plan
	names := slices.Sorted(func(yield func(string) bool) {
		for name := range project.Services {
			if !yield(name) {
				return
			}
		}
	})
	// Postgres and Redis first, then the builds, then the rest.
	kinds := map[string]string{}
	for _, name := range names {
		s := project.Services[name]
		switch {
		case s.Build == nil && p.Postgres == nil && isPostgres(s.Image):
			p.Postgres = postgresOf(s)
			kinds[name] = "postgres"
		case s.Build == nil && p.Redis == nil && redisImage.MatchString(s.Image):
			p.Redis = &Redis{Service: name, Version: redisImage.FindStringSubmatch(s.Image)[1]}
			kinds[name] = "redis"
		}
	}
	// The backend: a Python build, the one called backend if there are
	// several; its build's other services are workers. The frontend: a
	// Node build, the one called frontend first.
	pick := func(role, language string) *App {
		for _, named := range []bool{true, false} {
			for _, name := range names {
				s := project.Services[name]
				if kinds[name] != "" || s.Build == nil || (named && name != role) || lang(src, s.Build) != language {
					continue
				}
				kinds[name] = role
				return appOf(s, src)
			}
		}
		return nil
	}
	var backendBuild string
	if p.Backend = pick("backend", "python"); p.Backend != nil {
		backendBuild = buildKey(project.Services[p.Backend.Service].Build)
	}
	p.Frontend = pick("frontend", "node")
	for _, a := range []struct {
		app    *App
		role   string
		served int
	}{{p.Backend, "backend", o.BackendPort}, {p.Frontend, "frontend", o.FrontendPort}} {
		switch {
		case a.app == nil:
		case o.Dockerfiles:
			a.app.FromDockerfile, a.app.Packages = true, nil
		case a.app.Command == "" && a.app.Port != 0 && a.served != 0 && a.app.Port != a.served:
			// The compose file's port is its Dockerfile's server (nginx
			// on 80); the module's own build serves on its port.
			p.Info = append(p.Info, fmt.Sprintf("service %s: port %d is its Dockerfile's server; the module's own build serves on %d, where up forwards its published port (--dockerfiles builds from the Dockerfile)",
				a.app.Service, a.app.Port, a.served))
			a.app.servedOn, a.app.composePort, a.app.Port = a.served, a.app.Port, 0
		}
		if a.app != nil && len(a.app.Packages) > 0 {
			p.Info = append(p.Info, fmt.Sprintf("service %s: its Dockerfile installs %s: the module's build installs the same (with-%s --packages)",
				a.app.Service, strings.Join(a.app.Packages, " "), a.role))
		}
	}
	for _, name := range names {
		s := project.Services[name]
		if kinds[name] != "" {
			continue
		}
		if s.Build != nil && backendBuild != "" && buildKey(s.Build) == backendBuild {
			w := Worker{Service: p.moduleName(name), Command: shellLine(s.Command), Port: firstPort(s)}
			if w.Command == "" {
				p.Notes = append(p.Notes, fmt.Sprintf("service %s: the backend's build with no command of its own: not run (give it a command: to run it as a worker)", name))
				kinds[name] = "skipped"
				continue
			}
			p.Workers = append(p.Workers, w)
			kinds[name] = "worker"
			continue
		}
		e := extraOf(s)
		e.Service = p.moduleName(name)
		p.Extras = append(p.Extras, e)
		kinds[name] = "extra"
	}
	for _, name := range names {
		if kinds[name] == "skipped" {
			continue
		}
		if err := p.service(project.Services[name], kinds[name], src); err != nil {
			return Plan{}, err
		}
	}
	for _, name := range slices.Sorted(func(yield func(string) bool) {
		for n := range project.Secrets {
			if !yield(n) {
				return
			}
		}
	}) {
		p.Notes = append(p.Notes, fmt.Sprintf("secrets: %s: not honoured: compose mounts it as a file; give it as a variable instead (with-secret-env or with-secret-env-file)", name))
	}
	return p, nil
}

// moduleName is a compose service's name as the module takes it (lowercase
// letters, digits and dashes, a letter first, at most 20), said once where
// it differs.
func (p *Plan) moduleName(name string) string {
	n := strings.ToLower(strings.NewReplacer("_", "-", ".", "-").Replace(name))
	n = strings.TrimLeft(n, "0123456789-")
	if len(n) > 20 {
		n = strings.TrimRight(n[:20], "-")
	}
	if n == "" {
		n = "svc"
	}
	if p.names == nil {
		p.names = map[string]string{}
	}
	p.names[name] = n
	if n != name {
		p.Info = append(p.Info, fmt.Sprintf("service %s: named %s in the module (lowercase letters, digits and dashes, at most 20)", name, n))
	}
	return n
}

func isPostgres(image string) bool {
	return postgresImage.MatchString(image) || pgvectorImage.MatchString(image) || postgisImage.MatchString(image)
}

func postgresOf(s types.ServiceConfig) *Postgres {
	pg := &Postgres{Service: s.Name}
	switch {
	case pgvectorImage.MatchString(s.Image):
		pg.Version = pgvectorImage.FindStringSubmatch(s.Image)[1]
		pg.Extensions = []string{"vector"}
	case postgisImage.MatchString(s.Image):
		pg.Version = postgisImage.FindStringSubmatch(s.Image)[1]
		pg.Extensions = []string{"postgis"}
	default:
		pg.Version = postgresImage.FindStringSubmatch(s.Image)[1]
	}
	for k, v := range s.Environment {
		if v == nil {
			continue
		}
		switch k {
		case "POSTGRES_USER":
			pg.User = *v
		case "POSTGRES_DB":
			pg.Database = *v
		case "POSTGRES_PASSWORD":
			pg.Password, pg.HasPasswordLiteral = *v, true
		}
	}
	return pg
}

// lang tells a Python build from a Node build by what its context holds
// (or its Dockerfile's base image).
func lang(src Source, b *types.BuildConfig) string {
	dir := cleanDir(b.Context)
	dockerfileDir := path.Dir(path.Join(dir, dockerfileOf(b)))
	for _, d := range []string{dir, dockerfileDir} {
		for _, f := range []string{"requirements.txt", "pyproject.toml"} {
			if src.Exists(path.Join(d, f)) {
				return "python"
			}
		}
		if src.Exists(path.Join(d, "package.json")) {
			return "node"
		}
	}
	if text, err := src.Read(path.Join(dir, dockerfileOf(b))); err == nil {
		for _, line := range strings.Split(string(text), "\n") {
			f := strings.Fields(strings.ToLower(line))
			if len(f) >= 2 && f[0] == "from" {
				base := f[1]
				if len(f) >= 3 && strings.HasPrefix(f[1], "--platform") {
					base = f[2]
				}
				switch {
				case strings.Contains(base, "python"):
					return "python"
				case strings.Contains(base, "node"):
					return "node"
				}
			}
		}
	}
	return ""
}

func dockerfileOf(b *types.BuildConfig) string {
	if b.Dockerfile == "" {
		return "Dockerfile"
	}
	return b.Dockerfile
}

func cleanDir(d string) string {
	d = path.Clean(strings.TrimPrefix(d, "./"))
	if d == "" {
		return "."
	}
	return d
}

func buildKey(b *types.BuildConfig) string {
	return cleanDir(b.Context) + "|" + dockerfileOf(b) + "|" + b.Target
}

// appOf maps a build service to the backend or frontend: built by the
// module from the folder that holds its manifest, the Dockerfile's
// settings kept beside for a build from it.
func appOf(s types.ServiceConfig, src Source) *App {
	a := &App{Service: s.Name, Command: shellLine(s.Command), Port: firstPort(s)}
	ctxDir := cleanDir(s.Build.Context)
	a.Dir = ctxDir
	if d := path.Dir(path.Join(ctxDir, dockerfileOf(s.Build))); d != ctxDir && (src.Exists(path.Join(d, "requirements.txt")) || src.Exists(path.Join(d, "pyproject.toml")) || src.Exists(path.Join(d, "package.json"))) {
		a.Dir = d
	}
	a.Dockerfile, a.Context, a.Target = dockerfileOf(s.Build), ctxDir, s.Build.Target
	a.BuildArgs = buildArgs(s.Build)
	if text, err := src.Read(path.Join(ctxDir, a.Dockerfile)); err == nil {
		a.Packages = aptPackages(string(text))
	}
	return a
}

func extraOf(s types.ServiceConfig) Extra {
	e := Extra{Service: s.Name, Image: s.Image, Args: s.Command, Port: firstPort(s)}
	if s.Build != nil {
		e.Image = ""
		e.Context, e.Dockerfile = cleanDir(s.Build.Context), dockerfileOf(s.Build)
		e.BuildArgs = buildArgs(s.Build)
	}
	return e
}

func buildArgs(b *types.BuildConfig) []string {
	var args []string
	for k, v := range b.Args {
		if v != nil {
			args = append(args, k+"="+*v)
		}
	}
	sort.Strings(args)
	return args
}

// firstPort is the container port a service serves: its first port or
// expose.
func firstPort(s types.ServiceConfig) int {
	if len(s.Ports) > 0 {
		return int(s.Ports[0].Target)
	}
	if len(s.Expose) > 0 {
		n, _ := strconv.Atoi(strings.Split(s.Expose[0], "/")[0])
		return n
	}
	return 0
}

// shellLine is a command as one shell line.
func shellLine(c types.ShellCommand) string {
	words := make([]string, len(c))
	for i, w := range c {
		words[i] = shellQuote(w)
	}
	return strings.Join(words, " ")
}

// setMemory gives the service of kind its memory limit (compose's
// mem_limit or deploy.resources.limits.memory, in bytes), where the module
// has one: it says why not otherwise.
func (p *Plan) setMemory(kind string, memory int64) string {
	if memory < 4<<20 {
		return "the module's limits are 4m at least"
	}
	switch {
	case kind == "postgres" && p.Postgres != nil:
		p.Postgres.Memory = memory
	case kind == "redis" && p.Redis != nil:
		p.Redis.Memory = memory
	case kind == "backend" && p.Backend != nil:
		p.Backend.Memory = memory
	case kind == "frontend" && p.Frontend != nil:
		p.Frontend.Memory = memory
	case kind == "worker":
		return "a worker has the backend's limit (with-backend --memory)"
	default:
		return "the module sets no memory limit of a service of the project's own"
	}
	return ""
}

// service records what one service brings beyond its kind: env, env
// files, ports, volumes, and the keys that are not honoured.
func (p *Plan) service(s types.ServiceConfig, kind string, src Source) error {
	note := func(key, why string) {
		p.Notes = append(p.Notes, fmt.Sprintf("service %s: %s: not honoured: %s", s.Name, key, why))
	}
	target := s.Name
	if n, ok := p.names[s.Name]; ok {
		target = n
	}
	switch kind {
	case "backend", "frontend", "postgres", "redis":
		target = kind
	}
	names := []string{s.Name}
	for _, n := range slices.Sorted(func(yield func(string) bool) {
		for k := range s.Networks {
			if !yield(k) {
				return
			}
		}
	}) {
		if c := s.Networks[n]; c != nil {
			names = append(names, c.Aliases...)
		}
	}
	for _, n := range names {
		switch {
		case n == target || slices.ContainsFunc(p.HostNames, func(h HostName) bool { return h.Name == n }):
		case !hostName.MatchString(n):
			p.Info = append(p.Info, fmt.Sprintf("service %s: the host name %s is not one the module gives (lowercase letters, digits and dashes, at most 20): its peers reach it as %s", s.Name, n, target))
		default:
			p.HostNames = append(p.HostNames, HostName{Name: n, Service: target})
		}
	}
	for _, name := range slices.Sorted(func(yield func(string) bool) {
		for k := range s.Environment {
			if !yield(k) {
				return
			}
		}
	}) {
		v := s.Environment[name]
		if v == nil {
			continue
		}
		switch {
		case kind == "postgres" && strings.HasPrefix(name, "POSTGRES_"), kind == "redis":
			if kind == "redis" {
				note("environment "+name, "the module runs Redis with the project's password")
			}
			continue
		case kind == "postgres":
			note("environment "+name, "the module's Postgres takes POSTGRES_USER, POSTGRES_DB and POSTGRES_PASSWORD (with-postgres)")
			continue
		}
		p.Env = append(p.Env, Env{Service: target, Name: name, Value: *v})
	}
	for _, f := range s.EnvFiles {
		file := cleanDir(f.Path)
		if !src.Exists(file) {
			if !bool(f.Required) {
				continue
			}
			return fmt.Errorf("service %s: env_file %s: no such file in --src: create it, or mark it required: false", s.Name, f.Path)
		}
		if kind == "postgres" || kind == "redis" {
			note("env_file "+f.Path, "the module's "+kind+" takes its settings from with-"+kind)
			continue
		}
		p.EnvFiles = append(p.EnvFiles, EnvFile{Service: target, Path: file})
	}
	for _, port := range s.Ports {
		host, err := strconv.Atoi(port.Published)
		if port.Published == "" || err != nil {
			p.Info = append(p.Info, fmt.Sprintf("service %s: port %d has no fixed host port: give one with up --ports", s.Name, port.Target))
			continue
		}
		if port.HostIP != "" && port.HostIP != "0.0.0.0" {
			note(fmt.Sprintf("ports %s:%s:%d", port.HostIP, port.Published, port.Target), "up listens on every address of the machine (see Security in the README)")
		}
		container := int(port.Target)
		for _, a := range []*App{p.Backend, p.Frontend} {
			if a != nil && a.Service == s.Name && a.servedOn != 0 && container == a.composePort {
				container = a.servedOn
			}
		}
		p.Ports = append(p.Ports, Port{Service: s.Name, Host: host, Container: container})
	}
	extra := slices.IndexFunc(p.Extras, func(e Extra) bool { return e.Service == target })
	for _, v := range s.Volumes {
		switch {
		case v.Type == types.VolumeTypeVolume && (kind == "postgres" || kind == "redis"):
			p.Info = append(p.Info, fmt.Sprintf("service %s: volume %s: the module keeps %s's data in the project's own volume", s.Name, v.Source, kind))
		case v.Type == types.VolumeTypeVolume && (kind == "backend" || kind == "worker"):
			if !slices.Contains(p.Folders, v.Target) {
				p.Folders = append(p.Folders, v.Target)
			}
		case v.Type == types.VolumeTypeVolume && extra >= 0 && p.Extras[extra].Volume == "":
			p.Extras[extra].Volume = v.Target
		case v.Type == types.VolumeTypeBind:
			note("volumes "+v.Source+":"+v.Target, "a host bind mount; the service's files come from --src (live reload carries edits: commandcenter-watch)")
		default:
			note("volumes "+v.Source+":"+v.Target, "only one kept folder a service, and only named volumes")
		}
	}
	switch {
	case s.NetworkMode != "":
		note("network_mode "+s.NetworkMode, "every service runs on the engine's network, reached by its name")
	}
	if s.Privileged {
		note("privileged", "the module runs no privileged containers")
	}
	if len(s.CapAdd) > 0 {
		note("cap_add", "the module adds no capabilities")
	}
	if len(s.Devices) > 0 {
		note("devices", "no host devices reach the engine's containers")
	}
	if len(s.ExtraHosts) > 0 {
		note("extra_hosts", "the engine mounts /etc/hosts read-only; services reach each other by name")
	}
	memory := int64(s.MemLimit)
	if s.Deploy != nil {
		if l := s.Deploy.Resources.Limits; l != nil {
			if l.MemoryBytes != 0 {
				memory = int64(l.MemoryBytes)
			}
			if l.NanoCPUs != 0 || l.Pids != 0 {
				note("deploy.resources.limits (cpus, pids)", "the module sets no CPU or process limits")
			}
		}
		if s.Deploy.Resources.Reservations != nil {
			note("deploy.resources.reservations", "the engine reserves nothing for a service")
		}
	}
	if s.CPUS != 0 {
		note("cpus", "the module sets no CPU limits")
	}
	if memory != 0 {
		if why := p.setMemory(kind, memory); why != "" {
			note("memory limit", why)
		}
	}
	if s.User != "" {
		note("user "+s.User, "an image built from a Dockerfile runs as its USER (set it there), the module's own builds as 1000:1000 (with-backend --user)")
	}
	if s.Entrypoint != nil && kind != "extra" {
		note("entrypoint", "the module starts the backend, workers and frontend itself (give --command)")
	}
	if s.HealthCheck != nil && !s.HealthCheck.Disable && kind != "postgres" && kind != "redis" {
		p.Info = append(p.Info, fmt.Sprintf("service %s: healthcheck: the module checks its port (or --health-path) instead of the command", s.Name))
	}
	p.watch(s, kind)
	if len(s.Secrets) > 0 {
		note("secrets", "compose mounts them as files; give them as variables (with-secret-env)")
	}
	return nil
}
