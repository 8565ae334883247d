package main

import (
	"context"
	"fmt"
	"strings"

	"dagger/commandcenter/internal/compose"
	"dagger/commandcenter/internal/dagger"
)

// composeSource reads the project's source for the compose planner.
type composeSource struct {
	ctx context.Context
	src *dagger.Directory
}

func (s composeSource) Read(p string) ([]byte, error) {
	text, err := s.src.File(p).Contents(s.ctx)
	return []byte(text), err
}

func (s composeSource) Exists(p string) bool {
	ok, err := s.src.Exists(s.ctx, p)
	return err == nil && ok
}

// ComposePlan reads the project's compose files, as docker compose does
// (interpolation from --env and the source's .env, extends, profiles, the
// merge of several files, the specification's validation), and prints what
// each service becomes in the module, the `dagger call` that runs the
// stack, and each key the module does not honour, one line each. It starts
// nothing.
func (m *Commandcenter) ComposePlan(
	ctx context.Context,
	// The project's source folder, with the compose files.
	// +ignore=[".git", "**/node_modules", "**/.venv", "**/__pycache__", "**/.pytest_cache", "**/.mypy_cache", "**/dist", "**/.next"]
	src *dagger.Directory,
	// Compose files in --src, merged in order (default docker-compose.yml),
	// as docker compose's -f.
	// +optional
	file []string,
	// Variables for the files' ${VAR} (KEY=VALUE), over the source's .env.
	// +optional
	env []string,
	// Profiles to enable, as docker compose's --profile.
	// +optional
	profile []string,
	// Fail on every key the module does not honour, instead of naming it.
	// +optional
	strict bool,
) (string, error) {
	vars := map[string]string{}
	for _, kv := range env {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return "", fmt.Errorf("compose-plan --env %q is not KEY=VALUE", kv)
		}
		vars[k] = v
	}
	p, err := compose.Load(ctx, composeSource{ctx, src}, compose.Options{Files: file, Env: vars, Profiles: profile, Strict: strict})
	if err != nil {
		return "", err
	}
	return p.String(), nil
}
