// The commandcenter repository's own CI: lint every Go module, run the
// module's tests and its examples. `dagger -m .dagger call check` runs all of
// it; the host-side tests (hosttest/) run outside, from scripts/test.sh.
package main

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"dagger/ci/internal/dagger"
)

// goImage runs gofmt and go vet; the Go of the module runtime (v0.19.10's).
// Tags: hub.docker.com/_/golang/tags; chosen 2026-11-26.
const goImage = "golang:1.25-trixie"

// Go modules of the repository, and which of them are Dagger modules (their
// generated code must exist before go vet can build them).
var (
	goModules     = []string{".", "tests", "examples/go", ".dagger", "enginekit", "enginekit/distconsts", "hosttest"}
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
	for _, path := range daggerModules {
		gen := m.Source.AsModuleSource(dagger.DirectoryAsModuleSourceOpts{SourceRootPath: path}).
			GeneratedContextDirectory()
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

// Check runs lint, the tests and the examples at once, and reports each one
// that failed.
//
// +cache="never"
func (m *Ci) Check(ctx context.Context) (string, error) {
	type result struct {
		out string
		err error
	}
	jobs := map[string]func() (string, error){
		"lint":     func() (string, error) { return m.Lint(ctx) },
		"tests":    func() (string, error) { return "all passed\n", m.Tests(ctx) },
		"examples": func() (string, error) { return m.Examples(ctx) },
	}
	results := map[string]result{}
	var (
		mu sync.Mutex
		wg sync.WaitGroup
	)
	for name, job := range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, err := job()
			mu.Lock()
			results[name] = result{out, err}
			mu.Unlock()
		}()
	}
	wg.Wait()
	var report, failed []string
	for _, name := range []string{"lint", "tests", "examples"} {
		r := results[name]
		if r.err != nil {
			failed = append(failed, fmt.Sprintf("%s: %v", name, r.err))
			continue
		}
		report = append(report, fmt.Sprintf("== %s\n%s", name, strings.TrimRight(r.out, "\n")))
	}
	if len(failed) > 0 {
		return "", fmt.Errorf("%d of 3 checks failed:\n%s", len(failed), strings.Join(failed, "\n"))
	}
	return strings.Join(report, "\n") + "\n", nil
}
