// Package check checks the module's inputs before anything starts. Each check
// returns an error that names the problem and the option that fixes it. It is
// plain Go, tested without an engine.
package check

import (
	"encoding/json"
	"fmt"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

var projectPattern = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,46}[a-z0-9])?$`)

// ProjectName accepts names that are safe in a cache volume name.
func ProjectName(project string) error {
	if project == "" {
		return fmt.Errorf("project name is empty: set --project to a name such as \"myapp\"")
	}
	if !projectPattern.MatchString(project) {
		return fmt.Errorf("project name %q is not allowed: set --project to 1-48 lowercase letters, digits and dashes, starting and ending with a letter or digit", project)
	}
	return nil
}

// Port accepts a TCP port a service can listen on.
func Port(port int, option string) error {
	if port < 1 || port > 65535 {
		return fmt.Errorf("port %d is out of range: set %s to a port from 1 to 65535", port, option)
	}
	return nil
}

// PortUse is one port a service of the stack listens on, and the option that sets it.
type PortUse struct {
	Port   int
	Option string
}

// Ports accepts ports that are all in range and all different.
func Ports(uses ...PortUse) error {
	byPort := map[int][]string{}
	for _, u := range uses {
		if err := Port(u.Port, u.Option); err != nil {
			return err
		}
		byPort[u.Port] = append(byPort[u.Port], u.Option)
	}
	var clashes []string
	for port, options := range byPort {
		if len(options) > 1 {
			clashes = append(clashes, fmt.Sprintf("%s are all %d", strings.Join(options, " and "), port))
		}
	}
	if len(clashes) > 0 {
		sort.Strings(clashes)
		return fmt.Errorf("two services are given the same port (%s): give each one its own port", strings.Join(clashes, "; "))
	}
	return nil
}

// Subdir accepts a folder name relative to the project's source.
func Subdir(dir, option string) error {
	if dir == "" || strings.HasPrefix(dir, "/") || strings.Contains("/"+dir+"/", "/../") {
		return fmt.Errorf("folder %q is not a folder inside --src: set %s to a relative path such as \"backend\"", dir, option)
	}
	return nil
}

// ImageRef returns image:tag for a version of an image family, or an error
// that lists the versions there are and names the option to change.
func ImageRef(image string, tags map[string]string, version, option string) (string, error) {
	tag, ok := tags[version]
	if !ok {
		return "", fmt.Errorf("%s version %q is not one this module runs: set %s to one of %s",
			image, version, option, strings.Join(SortedKeys(tags), ", "))
	}
	return image + ":" + tag, nil
}

// SortedKeys returns the keys of m in order.
func SortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// PackageJSON accepts a package.json that parses and, when script is set,
// has that script.
func PackageJSON(manifest, script string) error {
	var pkg struct {
		Scripts map[string]string `json:"scripts"`
	}
	if err := json.Unmarshal([]byte(manifest), &pkg); err != nil {
		return fmt.Errorf("not valid JSON (%v): fix the file", err)
	}
	if script != "" {
		if _, ok := pkg.Scripts[script]; !ok {
			return fmt.Errorf("no %q script: add one to \"scripts\", or give the frontend a command of its own (with-frontend --command)", script)
		}
	}
	return nil
}

var identPattern = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// Ident accepts a Postgres user or database name that needs no quoting.
func Ident(name, what, option string) error {
	if !identPattern.MatchString(name) {
		return fmt.Errorf("postgres %s %q is not allowed: set %s to lowercase letters, digits and underscores (at most 63)", what, name, option)
	}
	return nil
}

var appPattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.]*:[A-Za-z_][A-Za-z0-9_.()]*$`)

// App accepts an ASGI application reference, MODULE:ATTRIBUTE.
func App(app string) error {
	if !appPattern.MatchString(app) {
		return fmt.Errorf("app %q is not an ASGI app reference: set with-backend --app to MODULE:ATTRIBUTE, such as \"app.main:app\"", app)
	}
	return nil
}

var envNamePattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// EnvName accepts an environment variable's name.
func EnvName(name, option string) error {
	if !envNamePattern.MatchString(name) {
		return fmt.Errorf("%q is not an environment variable name: set %s to letters, digits and underscores, not starting with a digit", name, option)
	}
	return nil
}

var serviceNamePattern = regexp.MustCompile(`^[a-z][a-z0-9-]{0,19}$`)

// ServiceName accepts a worker's name: it names the worker's container in
// the Stack and in logs.
func ServiceName(name, option string) error {
	if !serviceNamePattern.MatchString(name) {
		return fmt.Errorf("%q is not a service name: set %s to 1-20 lowercase letters, digits and dashes, starting with a letter", name, option)
	}
	return nil
}

// AbsPath accepts an absolute path inside a container that is neither the
// container's root nor inside reserved, a folder of the module's own.
func AbsPath(p, option, reserved string) error {
	clean := path.Clean(p)
	switch {
	case !strings.HasPrefix(p, "/"):
		return fmt.Errorf("path %q is not absolute: set %s to a path such as /app/storage", p, option)
	case clean == "/" || clean != p && clean+"/" != p:
		return fmt.Errorf("path %q is not a plain folder path: set %s to a path such as /app/storage (no .., no //)", p, option)
	case clean == reserved || strings.HasPrefix(clean, reserved+"/"):
		return fmt.Errorf("path %q is in %s, the module's own folder: set %s to another path", p, reserved, option)
	}
	return nil
}

// Memory reads a memory limit as compose's mem_limit writes one: a number
// of bytes, or with a unit, b, k, m or g (powers of 1024; KiB, MiB, GiB and
// kb, mb, gb say the same), such as 512m or 1.5g. It must be at least 4 MiB.
func Memory(s, option string) (int64, error) {
	bad := fmt.Errorf("%s %q: give a size such as 512m, 2g or 1.5GiB (bytes, k, m or g), at least 4m", option, s)
	t := strings.ToLower(strings.TrimSpace(s))
	t = strings.TrimSuffix(strings.TrimSuffix(t, "ib"), "b")
	mult := float64(1)
	if n := len(t); n > 0 {
		switch t[n-1] {
		case 'k':
			mult, t = 1<<10, t[:n-1]
		case 'm':
			mult, t = 1<<20, t[:n-1]
		case 'g':
			mult, t = 1<<30, t[:n-1]
		}
	}
	v, err := strconv.ParseFloat(t, 64)
	if err != nil || v*mult < 4<<20 || v*mult > 1<<50 {
		return 0, bad
	}
	return int64(v * mult), nil
}

// IgnorePatterns accepts .dockerignore patterns of files inside a folder.
func IgnorePatterns(patterns []string, option string) error {
	for _, p := range patterns {
		clean := strings.TrimPrefix(strings.TrimPrefix(p, "!"), "/")
		if strings.TrimSpace(p) == "" || clean == ".." || strings.HasPrefix(clean, "../") {
			return fmt.Errorf("%s %q is not a pattern of files in the folder: give one such as tests/ or *.log", option, p)
		}
	}
	return nil
}
