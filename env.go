package main

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"dagger/commandcenter/internal/check"
	"dagger/commandcenter/internal/dagger"
	"dagger/commandcenter/internal/dotenv"
)

// EnvSetting is environment the project's own services get (the backend,
// its workers and the frontend): one variable, plain or secret, or a dotenv
// file of them, plain or secret.
type EnvSetting struct {
	Name       string
	Value      string
	Secret     *dagger.Secret
	File       *dagger.File
	SecretFile *dagger.Secret
	// Service it is for: "backend" (the backend and its workers),
	// "frontend", a worker's name, or "" for all of them.
	Service string
}

// WithEnv gives the project's services an environment variable: the
// backend, its workers and the frontend, or the one service named.
func (m *Commandcenter) WithEnv(
	// Name of the variable.
	name string,
	// Its value.
	value string,
	// The service that gets it: backend (the backend and its workers),
	// frontend, or a worker's name; without it, every one of them.
	// +optional
	service string,
) (*Commandcenter, error) {
	if err := check.EnvName(name, "with-env --name"); err != nil {
		return nil, err
	}
	m.Env = append(m.Env, EnvSetting{Name: name, Value: value, Service: service})
	return m, nil
}

// WithSecretEnv gives the project's services an environment variable whose
// value is a secret: it never shows in the engine's output or caches.
func (m *Commandcenter) WithSecretEnv(
	// Name of the variable.
	name string,
	// Its value (env:VAR, file:PATH, ...).
	value *dagger.Secret,
	// The service that gets it: backend (the backend and its workers),
	// frontend, or a worker's name; without it, every one of them.
	// +optional
	service string,
) (*Commandcenter, error) {
	if err := check.EnvName(name, "with-secret-env --name"); err != nil {
		return nil, err
	}
	m.Env = append(m.Env, EnvSetting{Name: name, Secret: value, Service: service})
	return m, nil
}

// WithEnvFile gives the project's services the variables of a dotenv file,
// as docker compose's env_file does: KEY=VALUE lines, comments, quoted
// values. Values are taken as written (${VAR} is not expanded).
func (m *Commandcenter) WithEnvFile(
	// The file.
	file *dagger.File,
	// The service that gets them: backend (the backend and its workers),
	// frontend, or a worker's name; without it, every one of them.
	// +optional
	service string,
) *Commandcenter {
	m.Env = append(m.Env, EnvSetting{File: file, Service: service})
	return m
}

// WithSecretEnvFile gives the project's services the variables of a dotenv
// file given as a secret (--file=file:.env): each value is a secret of its
// own, never shown in the engine's output, and errors in the file name the
// line, never its text.
func (m *Commandcenter) WithSecretEnvFile(
	// The file, as a secret.
	file *dagger.Secret,
	// The service that gets them: backend (the backend and its workers),
	// frontend, or a worker's name; without it, every one of them.
	// +optional
	service string,
) *Commandcenter {
	m.Env = append(m.Env, EnvSetting{SecretFile: file, Service: service})
	return m
}

// checkEnv refuses a setting for a service the project does not have.
func (m *Commandcenter) checkEnv() error {
	known := map[string]bool{"": true, "backend": true, "frontend": true}
	names := []string{"backend", "frontend"}
	for _, w := range m.Workers {
		known[w.Name] = true
		names = append(names, w.Name)
	}
	for _, x := range m.Extras {
		known[x.Name] = true
		names = append(names, x.Name)
	}
	for _, e := range m.Env {
		if !known[e.Service] {
			return fmt.Errorf("environment for service %q: the project has no such service (it has %s): fix --service, or add the worker or service first (with-worker, with-service)",
				e.Service, strings.Join(names, ", "))
		}
	}
	return nil
}

// envVar is one environment variable of a container, plain or secret.
type envVar struct {
	name   string
	value  string
	secret *dagger.Secret
	// expand is true for a value that names the project's passwords
	// (envurls.go): the supervisor sets it, not the container.
	expand bool
}

// secretNames are the names of the variables of vars that are secrets.
func secretNames(vars []envVar) []string {
	var names []string
	for _, v := range vars {
		if v.secret != nil && !slices.Contains(names, v.name) {
			names = append(names, v.name)
		}
	}
	return names
}

func withEnv(ctr *dagger.Container, vars []envVar) *dagger.Container {
	for _, v := range vars {
		switch {
		case v.expand:
			continue
		case v.secret != nil:
			ctr = ctr.WithSecretVariable(v.name, v.secret)
		default:
			ctr = ctr.WithEnvVariable(v.name, v.value)
		}
	}
	return ctr
}

// scopedVar is a variable of the project's env settings, and the service it
// is for.
type scopedVar struct {
	envVar
	service string
}

// environment is the project's env settings read: dotenv files parsed.
type environment []scopedVar

// environment reads the env settings, in the order they were given, so
// that a later setting of a name wins.
func (m *Commandcenter) environment(ctx context.Context) (environment, error) {
	var env environment
	for i, e := range m.Env {
		add := func(vars ...envVar) {
			for _, v := range vars {
				env = append(env, scopedVar{envVar: v, service: e.Service})
			}
		}
		switch {
		case e.File != nil:
			text, err := e.File.Contents(ctx)
			if err != nil {
				return nil, fmt.Errorf("with-env-file: %w", err)
			}
			vars, err := dotenv.Parse(text)
			if err != nil {
				name, _ := e.File.Name(ctx)
				return nil, fmt.Errorf("with-env-file %s: %w: fix the file", name, err)
			}
			for _, v := range vars {
				add(envVar{name: v.Name, value: v.Value})
			}
		case e.SecretFile != nil:
			text, err := e.SecretFile.Plaintext(ctx)
			if err != nil {
				return nil, secretError(ctx, e.SecretFile, "with-secret-env-file --file", err)
			}
			vars, err := dotenv.Parse(text)
			if err != nil {
				return nil, fmt.Errorf("with-secret-env-file (setting %d of the env settings): %w: fix the file", i+1, err)
			}
			for _, v := range vars {
				add(envVar{name: v.Name, secret: newSecret("env", v.Value)})
			}
		default:
			if e.Secret != nil {
				// Read now: a secret that cannot be read would otherwise fail
				// the service's start with the engine's words only.
				if _, err := e.Secret.Plaintext(ctx); err != nil {
					return nil, secretError(ctx, e.Secret, "with-secret-env --name="+e.Name+" --value", err)
				}
			}
			add(envVar{name: e.Name, value: e.Value, secret: e.Secret})
		}
	}
	for i, v := range m.withPasswords(env.vars()) {
		env[i].envVar = v
	}
	return env, nil
}

// vars are the variables of env.
func (env environment) vars() []envVar {
	vars := make([]envVar, len(env))
	for i, v := range env {
		vars[i] = v.envVar
	}
	return vars
}

// forService is the part of the environment for one service; a worker also
// gets what is for the backend.
func (env environment) forService(name string, worker bool) []envVar {
	var vars []envVar
	for _, v := range env {
		if v.service == "" || v.service == name || worker && v.service == "backend" {
			vars = append(vars, v.envVar)
		}
	}
	return vars
}

// forExtra is the part of the environment given to service name of
// with-service by its name: nothing meant for every service reaches it.
func (env environment) forExtra(name string) []envVar {
	var vars []envVar
	for _, v := range env {
		if v.service == name {
			vars = append(vars, v.envVar)
		}
	}
	return vars
}

// secretError says that the secret given to option cannot be read, and
// why, naming where it was to come from (env:VAR, file:PATH).
func secretError(ctx context.Context, s *dagger.Secret, option string, err error) error {
	uri, _ := s.URI(ctx)
	switch {
	case strings.HasPrefix(uri, "env://"):
		name := strings.TrimPrefix(uri, "env://")
		return fmt.Errorf("%s=env:%s: the variable %s is not set where dagger runs: export it (export %s=...), or give the value another way (file:PATH)", option, name, name, name)
	case strings.HasPrefix(uri, "file://"):
		return fmt.Errorf("%s=file:%s: the file cannot be read (%v): fix the path", option, strings.TrimPrefix(uri, "file://"), err)
	case uri != "":
		return fmt.Errorf("%s (%s) cannot be read: %w", option, uri, err)
	}
	return fmt.Errorf("%s cannot be read: %w", option, err)
}
