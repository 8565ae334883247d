// Package compose reads a project's compose files with the compose
// specification's own library (interpolation, extends within the files,
// profiles, merges of several files, the specification's validation) and
// maps their services to the module's settings: the project's Postgres and
// Redis, its backend and workers, its frontend and services of its own.
// What the module cannot honour is named, one line a key, never dropped.
//
// The reading (Load, with the composeloader build tag) runs in a container
// of its own, the compose planner (the composeplan folder), not in the
// module: the specification's library and what it brings (a YAML parser,
// a JSON-schema validator) would add about 6 seconds to every compile of
// the module, a project's first start included, for projects that mostly
// have no compose file. The module reads the planner's Plan as JSON.
package compose

// Source is the project's source folder, as the planner reads it: a file's
// content (relative to the folder), and whether a file is there.
type Source interface {
	Read(p string) ([]byte, error)
	Exists(p string) bool
}

// Options say which files to read and how.
type Options struct {
	// Files are the compose files, in the order they merge (paths in the
	// source; default docker-compose.yml).
	Files []string
	// Env are variables for interpolation (${VAR:-default}), over the
	// source's .env.
	Env map[string]string
	// Profiles to enable.
	Profiles []string
	// Strict makes every key the module cannot honour an error.
	Strict bool
	// Dockerfiles builds the backend and the frontend from the compose
	// file's Dockerfiles, as compose does, instead of the module's own
	// builds (which serve the dev server and reload live).
	Dockerfiles bool
	// BackendPort and FrontendPort are the ports the module's own builds
	// serve on (when they run their own command).
	BackendPort, FrontendPort int
}

// Plan is what a compose project becomes.
type Plan struct {
	Postgres *Postgres
	Redis    *Redis
	Backend  *App
	Workers  []Worker
	Frontend *App
	Extras   []Extra
	// Env are variables of a service's environment, EnvFiles its env_files.
	Env      []Env
	EnvFiles []EnvFile
	// Folders are named volumes of the backend and workers.
	Folders []string
	// Ports are what `up --ports` forwards: the compose file's published
	// ports of the services.
	Ports []Port
	// HostNames are compose's names of the services, and their network
	// aliases, where the module's names differ (with-host-name).
	HostNames []HostName
	// Notes are the keys the module does not honour, one line each; Info
	// what it does in their place where it is not obvious.
	Notes, Info []string
	// names are the module's names of compose's services, where they differ.
	names map[string]string
}

// Postgres is the compose service that runs the project's database.
type Postgres struct {
	Service, Version   string
	Extensions         []string
	User, Database     string
	Password           string // the file's literal POSTGRES_PASSWORD, if any
	HasPasswordLiteral bool
	Memory             int64 // mem_limit in bytes (0: none)
}

// Redis is the compose service that runs the project's Redis.
type Redis struct {
	Service, Version string
	Memory           int64 // mem_limit in bytes (0: none)
}

// App is the backend or the frontend: built by the module from its folder
// (Dir), or from its Dockerfile (Dockerfile in Context).
type App struct {
	Service                     string
	Dir                         string
	Dockerfile, Context, Target string
	BuildArgs                   []string
	Command                     string
	Port                        int
	Memory                      int64 // mem_limit in bytes (0: none)
	// FromDockerfile: built from Dockerfile (Options.Dockerfiles), not by
	// the module from Dir.
	FromDockerfile bool
	// Packages are the Debian packages its Dockerfile installs, which the
	// module's own build installs too (--packages).
	Packages []string
	// WatchIgnore are develop.watch's ignore patterns, relative to Dir.
	WatchIgnore []string
	// servedOn is the port of the module's own build, where a published
	// port of the compose file's goes (0: the compose file's own).
	servedOn, composePort int
}

// Worker is a service of the backend's build with a command of its own.
type Worker struct {
	Service, Command string
	Port             int
}

// Extra is any other service.
type Extra struct {
	Service, Image      string
	Dockerfile, Context string
	BuildArgs           []string
	// Args are compose's command: the entrypoint's arguments.
	Args   []string
	Port   int
	Volume string
}

// HostName is one more name of a service of the module (Service: postgres,
// redis, backend, frontend or a worker's or an extra's name).
type HostName struct{ Name, Service string }

// Env is one variable of a service's environment.
type Env struct{ Service, Name, Value string }

// EnvFile is one env_file of a service.
type EnvFile struct{ Service, Path string }

// Port is a published port: Host on the machine, Container in the Stack.
type Port struct {
	Service         string
	Host, Container int
}

// Result is what the compose planner (the composeplan folder) writes: the
// plan, and the plan as compose-plan prints it (Plan.String, which reads
// what JSON does not carry).
type Result struct {
	Plan Plan
	Text string
}
