//go:build composeloader

// Command commandcenter-compose-plan is the module's compose planner: it
// reads a project's compose files with the compose specification's library
// (internal/compose) and writes the plan as JSON. The module runs it in a
// container, with the project's source as the working folder, for
// compose-plan and from-compose (see compose.go at the module's root), so
// that the library is compiled only for projects that use it, not into
// the module.
//
//	commandcenter-compose-plan OPTIONS.json RESULT.json
//
// OPTIONS.json is a compose.Options. It writes a compose.Result to
// RESULT.json, not to its output, which Dagger's progress shows: the plan
// holds a literal database password of the files. A file that does not
// load, or keys not honoured with --strict, make it say why on stderr and
// exit 2.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path"

	"dagger/commandcenter/internal/compose"
)

// folder is the project's source, the working folder: paths are relative
// to it, and none reaches outside it, as none does in a Dagger directory.
type folder struct{ fs.FS }

// inside is p as a path of the folder, and whether it is one.
func inside(p string) (string, bool) {
	clean := path.Clean(p)
	return clean, fs.ValidPath(clean)
}

func (f folder) Read(p string) ([]byte, error) {
	clean, ok := inside(p)
	if !ok {
		return nil, fmt.Errorf("%s is not a path inside --src", p)
	}
	return fs.ReadFile(f.FS, clean)
}

func (f folder) Exists(p string) bool {
	clean, ok := inside(p)
	if !ok {
		return false
	}
	_, err := fs.Stat(f.FS, clean)
	return err == nil
}

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: commandcenter-compose-plan OPTIONS.json RESULT.json")
		os.Exit(2)
	}
	if err := run(os.Args[1], os.Args[2]); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
}

func run(options, result string) error {
	data, err := os.ReadFile(options)
	if err != nil {
		return err
	}
	var o compose.Options
	if err := json.Unmarshal(data, &o); err != nil {
		return fmt.Errorf("%s: %w", options, err)
	}
	p, err := compose.Load(context.Background(), folder{os.DirFS(".")}, o)
	if err != nil {
		return err
	}
	out, err := json.Marshal(compose.Result{Plan: p, Text: p.String()})
	if err != nil {
		return err
	}
	return os.WriteFile(result, out, 0o600)
}
