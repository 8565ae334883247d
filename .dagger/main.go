// The commandcenter repository's own CI: lint every Go module, run the
// module's tests and its examples. `dagger -m .dagger call check` runs all of
// it; the host-side tests (hosttest/) run outside, from scripts/test.sh.
package main

import (
	"context"
	"fmt"
	"strings"

	"dagger/ci/internal/dagger"
)

// goImage runs gofmt and go vet; the Go of the module runtime (v0.19.10's).
// Tags: hub.docker.com/_/golang/tags; chosen 2026-11-26.
const goImage = "golang:1.25-trixie"

// Go modules of the repository, and which of them are Dagger modules (their
// generated code must exist before go vet can build them).
var (
	goModules = []string{".", "forward", "tests", "examples/go", ".dagger", "enginekit", "enginekit/distconsts", "hosttest"}
	// Dagger modules, each after the ones it depends on.
	daggerModules = []string{".", "tests", "examples/go", ".dagger"}
)

type Ci struct {
	// The repository.
	Source *dagger.Directory
}

func New(
	// The repository.
	// +defaultPath="/"
	// +ignore=["**/node_modules", "**/.git", "**/__pycache__"]
	source *dagger.Directory,
) *Ci {
	return &Ci{Source: source}
}

// Lint checks that every Go file is gofmt-formatted and runs go vet on every
// Go module of the repository.
func (m *Ci) Lint(ctx context.Context) (string, error) {
	src := m.Source
	// One module at a time, each loaded before the modules that depend on it
	// (daggerModules is in that order): Dagger v0.19's engine can fail to
	// mount its shared Go module cache for two code generators at once after
	// it was restarted ("failed to mount ... invalid argument"), and loading
	// a module loads its dependencies at once.
	for _, path := range daggerModules {
		mod := m.Source.AsModuleSource(dagger.DirectoryAsModuleSourceOpts{SourceRootPath: path})
		if _, err := mod.AsModule().Sync(ctx); err != nil {
			return "", fmt.Errorf("lint: load module %s: %w", path, err)
		}
		gen, err := mod.GeneratedContextDirectory().Sync(ctx)
		if err != nil {
			return "", fmt.Errorf("lint: generate the code of module %s: %w", path, err)
		}
		src = src.WithDirectory("/", gen)
	}
	script := []string{
		`unformatted=$(gofmt -l .)`,
		`if [ -n "$unformatted" ]; then echo "gofmt: these files are not formatted (run gofmt -w):"; echo "$unformatted"; exit 1; fi`,
		`echo "gofmt: ok"`,
	}
	for _, mod := range goModules {
		script = append(script, fmt.Sprintf(`(cd %s && go vet ./...) && echo "go vet %s: ok"`, mod, mod))
	}
	out, err := dag.Container().
		From(goImage).
		WithMountedCache("/go/pkg/mod", dag.CacheVolume("commandcenter-ci-gomod")).
		WithMountedCache("/root/.cache/go-build", dag.CacheVolume("commandcenter-ci-gobuild")).
		WithEnvVariable("GOFLAGS", "-mod=mod").
		WithDirectory("/src", src).
		WithWorkdir("/src").
		WithExec([]string{"sh", "-ec", strings.Join(script, "\n")}).
		Stdout(ctx)
	if err != nil {
		return "", fmt.Errorf("lint: %w", err)
	}
	return out, nil
}

// Tests runs the module's tests (the tests module's All).
//
// +cache="never"
func (m *Ci) Tests(ctx context.Context) error {
	return dag.Tests().All(ctx)
}

// Examples runs every example of examples/go.
//
// +cache="never"
func (m *Ci) Examples(ctx context.Context) (string, error) {
	return dag.Examples().All(ctx)
}

// Check runs lint, the tests and the examples, and reports each one
// that failed.
//
// +cache="never"
func (m *Ci) Check(ctx context.Context) (string, error) {
	type job struct {
		name string
		run  func() (string, error)
	}
	jobs := []job{
		{"lint", func() (string, error) { return m.Lint(ctx) }},
		{"tests", func() (string, error) { return "all passed\n", m.Tests(ctx) }},
		{"examples", func() (string, error) { return m.Examples(ctx) }},
	}
	// One after the other, each still run to the end when another fails: the
	// three build Go modules, and Dagger v0.19's engine can fail to mount its
	// shared Go module cache for two builds at once after it was restarted
	// ("failed to mount ... invalid argument").
	var report, failed []string
	for _, j := range jobs {
		out, err := j.run()
		if err != nil {
			failed = append(failed, fmt.Sprintf("%s: %v", j.name, err))
			continue
		}
		report = append(report, fmt.Sprintf("== %s\n%s", j.name, strings.TrimRight(out, "\n")))
	}
	if len(failed) > 0 {
		return "", fmt.Errorf("%d of 3 checks failed:\n%s", len(failed), strings.Join(failed, "\n"))
	}
	return strings.Join(report, "\n") + "\n", nil
}
