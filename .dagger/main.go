// The commandcenter repository's own CI: lint every Go module, run the
// module's tests and its examples. `dagger -m .dagger call check` runs all of
// it; the host-side tests (hosttest/) run outside, from scripts/test.sh.
package main

import (
	"context"
	"fmt"
	"os"
	"strings"

	"dagger/ci/internal/dagger"
)

// goImage runs gofmt, go vet and the root package's unit tests; the Go of
// the module runtime (v0.19.10's). The Alpine variant, as the module's
// supervisor build uses: nothing here needs a C compiler (without one, the
// go command builds with cgo off), and a first run pulls one Go image, not
// two. Tags: hub.docker.com/_/golang/tags; chosen 2026-11-26.
const goImage = "golang:1.25-alpine"

// Go modules of the repository, and which of them are Dagger modules (their
// generated code must exist before go vet can build them).
var (
	goModules = []string{".", "tests", "examples/go", ".dagger", "enginekit", "enginekit/distconsts", "hosttest"}
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

// Lint checks that every Go file is gofmt-formatted, runs go vet on every
// Go module of the repository and the root package's unit tests; it fails
// naming each module that failed.
func (m *Ci) Lint(ctx context.Context) (string, error) {
	src, err := m.withGeneratedCode(ctx)
	if err != nil {
		return "", err
	}
	return lint(ctx, src)
}

// LintFailsOnPlantedVetError runs lint on the repository with a go vet
// error planted in a module that is not the last one linted (the root
// module's supervisor/ package): lint must fail and name that module.
//
// +cache="never"
func (m *Ci) LintFailsOnPlantedVetError(ctx context.Context) (string, error) {
	// The file is planted after the code generation: no module is loaded
	// again, and the generated code of the repository as it is serves.
	src, err := m.withGeneratedCode(ctx)
	if err != nil {
		return "", err
	}
	planted := src.WithNewFile("supervisor/planted_vet_error.go",
		"package supervisor\n\nimport \"fmt\"\n\nfunc planted() { fmt.Printf(\"%d\\n\", \"not a number\") }\n")
	_, err = lint(ctx, planted)
	if err == nil {
		return "", fmt.Errorf("lint passed with a go vet error planted in supervisor/")
	}
	if want := fmt.Sprintf("1 of %d modules failed go vet", len(goModules)); !strings.Contains(err.Error(), "go vet .: FAILED") || !strings.Contains(err.Error(), want) {
		return "", fmt.Errorf("lint failed, but does not say that go vet failed in the root module (supervisor/), and only there: %v", err)
	}
	if !strings.Contains(err.Error(), "planted_vet_error.go:5") || !strings.Contains(err.Error(), "Printf format %d has arg") {
		return "", fmt.Errorf("lint failed, but not on the planted Printf error: %v", err)
	}
	return "lint fails on a planted go vet error in supervisor/\n", nil
}

// withGeneratedCode is the repository with the generated code of each of
// its Dagger modules, which go vet needs to build them.
func (m *Ci) withGeneratedCode(ctx context.Context) (*dagger.Directory, error) {
	src := m.Source
	// One module at a time, each loaded before the modules that depend on it
	// (daggerModules is in that order): Dagger v0.19's engine can fail to
	// mount its shared Go module cache for two code generators at once after
	// it was restarted ("failed to mount ... invalid argument"), and loading
	// a module loads its dependencies at once.
	for _, path := range daggerModules {
		mod := m.Source.AsModuleSource(dagger.DirectoryAsModuleSourceOpts{SourceRootPath: path})
		if _, err := mod.AsModule().Sync(ctx); err != nil {
			return nil, fmt.Errorf("lint: load module %s: %w", path, err)
		}
		gen, err := mod.GeneratedContextDirectory().Sync(ctx)
		if err != nil {
			return nil, fmt.Errorf("lint: generate the code of module %s: %w", path, err)
		}
		src = src.WithDirectory("/", gen)
	}
	return src, nil
}

// lint runs gofmt and go vet on src, a repository with its generated code.
func lint(ctx context.Context, src *dagger.Directory) (string, error) {
	script := []string{
		`unformatted=$(gofmt -l .)`,
		`if [ -n "$unformatted" ]; then echo "gofmt: these files are not formatted (run gofmt -w):"; echo "$unformatted"; exit 1; fi`,
		`echo "gofmt: ok"`,
		`failed=0`,
	}
	// Every module is vetted, and each failure counted: the script must not
	// stop at the first failure, nor pass with one.
	for _, mod := range goModules {
		// hosttest's benchmarks and load tests build with tags of their own,
		// and so does the compose planner.
		vet := "go vet ./..."
		switch mod {
		case "hosttest":
			vet = "go vet -tags bench,load ./..."
		case ".":
			vet = "go vet ./... && go vet -tags composeloader ./composeplan ./internal/compose"
		}
		script = append(script, fmt.Sprintf(`if (cd %s && { %s; } 2>&1); then echo "go vet %s: ok"; else echo "go vet %s: FAILED"; failed=$((failed + 1)); fi`, mod, vet, mod, mod))
	}
	// The root package's unit tests (its string builders, and its binary
	// run as the supervisor) need the
	// generated code, which is here; they use no engine, and the generated
	// client only reads its session's address when the package loads.
	script = append(script,
		`if (DAGGER_SESSION_PORT=1 DAGGER_SESSION_TOKEN=unit-tests-use-no-engine go test -count=1 . 2>&1); then echo "go test .: ok"; else echo "go test .: FAILED"; tests_failed=1; fi`,
		fmt.Sprintf(`if [ "$failed" -ne 0 ]; then echo "$failed of %d modules failed go vet"; exit 1; fi`, len(goModules)),
		`if [ -n "${tests_failed:-}" ]; then echo "the root package's unit tests failed"; exit 1; fi`)
	ctr := dag.Container().
		From(goImage).
		WithMountedCache("/go/pkg/mod", dag.CacheVolume("commandcenter-ci-gomod")).
		WithMountedCache("/root/.cache/go-build", dag.CacheVolume("commandcenter-ci-gobuild")).
		WithEnvVariable("GOFLAGS", "-mod=mod").
		WithDirectory("/src", src).
		WithWorkdir("/src").
		WithExec([]string{"sh", "-c", strings.Join(script, "\n")}, dagger.ContainerWithExecOpts{Expect: dagger.ReturnTypeAny})
	code, err := ctr.ExitCode(ctx)
	if err != nil {
		return "", fmt.Errorf("lint: %w", err)
	}
	out, err := ctr.Stdout(ctx)
	if err != nil {
		return "", fmt.Errorf("lint: %w", err)
	}
	if code != 0 {
		return "", fmt.Errorf("lint failed (exit %d):\n%s", code, out)
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
		{"lint-catches-vet-errors", func() (string, error) { return m.LintFailsOnPlantedVetError(ctx) }},
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
		err := fmt.Errorf("%d of %d checks failed:\n%s", len(failed), len(jobs), strings.Join(failed, "\n"))
		// Said on the function's output too: the CLI shows a failed call's
		// output, but of its error only the exec where it began ("exit
		// code: 2"), without the check, the test or what it said.
		fmt.Fprintln(os.Stderr, err)
		return "", err
	}
	return strings.Join(report, "\n") + "\n", nil
}
