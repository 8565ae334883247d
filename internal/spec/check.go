// Package spec checks the module's inputs and builds its generated files:
// plain Go that runs and is tested without an engine.
package spec

import (
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
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

// A requirement: a name, optional extras, optional version specifiers, an
// optional environment marker; or NAME @ URL.
var requirementPattern = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?` +
	`(\s*\[\s*[A-Za-z0-9._-]+(\s*,\s*[A-Za-z0-9._-]+)*\s*\])?` +
	`(\s*(\s*@\s*\S+|(===|==|!=|<=|>=|~=|<|>)\s*[A-Za-z0-9.*+!_-]+(\s*,\s*(===|==|!=|<=|>=|~=|<|>)\s*[A-Za-z0-9.*+!_-]+)*))?` +
	`\s*(;.*)?$`)

// Requirements accepts a pip requirements file whose every line is a
// requirement, an option (-r, --index-url, ...), a comment or blank.
func Requirements(text string) error {
	for i, line := range strings.Split(text, "\n") {
		if at := strings.Index(line, " #"); at >= 0 {
			line = line[:at]
		}
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, "-") {
			continue
		}
		if !requirementPattern.MatchString(line) {
			return fmt.Errorf("line %d, %q, is not a requirement: write NAME, NAME==VERSION or NAME>=VERSION (one a line)", i+1, line)
		}
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
func SortedKeys(m map[string]string) []string {
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
			return fmt.Errorf("no %q script: add one to \"scripts\", or set --frontend-command to the command that serves the frontend", script)
		}
	}
	return nil
}
