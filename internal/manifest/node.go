package manifest

import (
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// NodeManager is how a Node project installs its dependencies and runs its
// scripts: npm, pnpm or yarn, as its lock file says.
type NodeManager struct {
	// Name: npm, pnpm or yarn.
	Name string
	// Tool is the package that provides the manager, installed from the npm
	// registry with npm install -g (NAME@VERSION); empty for npm.
	Tool string
	// Lock is the lock file, empty when there is none (npm install).
	Lock string
	// Install installs the dependencies, as written in the lock file.
	Install []string
	// Run runs a package.json script: append the script's name.
	Run []string
	// Cache is the folder the manager keeps downloads in.
	Cache string
	// Env the manager needs.
	Env map[string]string
}

// NodeLocks are the lock files a Node project may have, each of one manager.
var NodeLocks = []string{"package-lock.json", "pnpm-lock.yaml", "yarn.lock"}

// NodeConfigs are the files a manager reads besides package.json and the
// lock file, which the install step needs when the project has them.
var NodeConfigs = []string{".npmrc", ".yarnrc", ".yarnrc.yml", "pnpm-workspace.yaml", ".pnpmfile.cjs"}

var managerField = regexp.MustCompile(`^(npm|pnpm|yarn)@([0-9][0-9A-Za-z.+-]*)$`)

// Node picks the package manager of a project from its package.json and
// its lock files (name to content, for the ones it has).
func Node(packageJSON string, locks map[string]string) (NodeManager, error) {
	var pkg struct {
		PackageManager string `json:"packageManager"`
	}
	if err := json.Unmarshal([]byte(packageJSON), &pkg); err != nil {
		return NodeManager{}, fmt.Errorf("package.json is not valid JSON (%v): fix the file", err)
	}
	var declared, version string
	if pkg.PackageManager != "" {
		spec, _, _ := strings.Cut(pkg.PackageManager, "+") // a hash may follow
		m := managerField.FindStringSubmatch(spec)
		if m == nil {
			return NodeManager{}, fmt.Errorf("package.json's packageManager %q is not npm@VERSION, pnpm@VERSION or yarn@VERSION: fix it", pkg.PackageManager)
		}
		declared, version = m[1], m[2]
	}
	var found []string
	for name := range locks {
		found = append(found, name)
	}
	sort.Strings(found)
	if len(found) > 1 {
		return NodeManager{}, fmt.Errorf("it has %s: keep the lock file of the package manager the project uses", strings.Join(found, " and "))
	}
	lock := ""
	if len(found) == 1 {
		lock = found[0]
	}
	name := map[string]string{"": "npm", "package-lock.json": "npm", "pnpm-lock.yaml": "pnpm", "yarn.lock": "yarn"}[lock]
	if lock == "" && declared != "" {
		name = declared
	}
	if declared != "" && declared != name {
		return NodeManager{}, fmt.Errorf("package.json's packageManager is %s, and the lock file is %s: keep the lock file of the manager the project uses", declared, lock)
	}

	switch name {
	case "pnpm":
		if version == "" {
			version = "9" // the lock file format of pnpm 9 and 10
		}
		return NodeManager{
			Name: "pnpm", Tool: "pnpm@" + version, Lock: lock,
			Install: withLock(lock, []string{"pnpm", "install", "--frozen-lockfile"}, []string{"pnpm", "install"}),
			Run:     []string{"pnpm", "run"},
			Cache:   "/root/.cache/pnpm-store",
			Env:     map[string]string{"npm_config_store_dir": "/root/.cache/pnpm-store"},
		}, nil
	case "yarn":
		berry := strings.Contains(locks["yarn.lock"], "__metadata:") || version != "" && !strings.HasPrefix(version, "1.")
		if !berry {
			if version == "" {
				version = "1"
			}
			return NodeManager{
				Name: "yarn", Tool: "yarn@" + version, Lock: lock,
				Install: withLock(lock, []string{"yarn", "install", "--frozen-lockfile", "--non-interactive"}, []string{"yarn", "install", "--non-interactive"}),
				Run:     []string{"yarn", "run"},
				Cache:   "/root/.cache/yarn",
				Env:     map[string]string{"YARN_CACHE_FOLDER": "/root/.cache/yarn"},
			}, nil
		}
		if version == "" {
			version = "4"
		}
		// Yarn 2 and later, from the npm registry (its own site is not a
		// registry: @yarnpkg/cli-dist is the same program).
		return NodeManager{
			Name: "yarn", Tool: "@yarnpkg/cli-dist@" + version, Lock: lock,
			Install: withLock(lock, []string{"yarn", "install", "--immutable"}, []string{"yarn", "install"}),
			Run:     []string{"yarn", "run"},
			Cache:   "/root/.cache/yarn-berry",
			Env:     map[string]string{"YARN_CACHE_FOLDER": "/root/.cache/yarn-berry", "YARN_ENABLE_GLOBAL_CACHE": "false"},
		}, nil
	default:
		m := NodeManager{
			Name: "npm", Lock: lock,
			Install: withLock(lock, []string{"npm", "ci", "--no-audit", "--no-fund"}, []string{"npm", "install", "--no-audit", "--no-fund"}),
			Run:     []string{"npm", "run"},
			Cache:   "/root/.npm",
			Env:     map[string]string{"NPM_CONFIG_UPDATE_NOTIFIER": "false"},
		}
		if version != "" {
			m.Tool = "npm@" + version
		}
		return m, nil
	}
}

func withLock(lock string, with, without []string) []string {
	if lock != "" {
		return with
	}
	return without
}
