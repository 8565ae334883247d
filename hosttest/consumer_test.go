package hosttest

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// consumerMain is a module of a user's own that uses this one with its
// builders.
const consumerMain = `package main

import (
	"context"

	"dagger/consumer/internal/dagger"
)

type Consumer struct{}

// Orders runs SQL against the commandcenter module's Postgres, with a
// database of the consumer's own.
func (m *Consumer) Orders(ctx context.Context) (string, error) {
	cc := dag.Commandcenter(dagger.CommandcenterOpts{Project: "consumer"}).
		WithPostgres(dagger.CommandcenterWithPostgresOpts{Database: "orders"})
	return dag.Container().
		From("postgres:17-trixie").
		WithServiceBinding("db", cc.Postgres()).
		WithSecretVariable("PGPASSWORD", cc.PostgresPassword()).
		WithExec([]string{"psql", "-h", "db", "-U", "commandcenter", "-d", "orders", "-tAc",
			"select 'connected to ' || current_database()"}).
		Stdout(ctx)
}
`

// run runs a command in dir and fails the test, with its output, if it fails.
func run(t *testing.T, ctx context.Context, dir string, name string, args ...string) string {
	t.Helper()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, tail(out.String(), 40))
	}
	return out.String()
}

// TestUseFromAnotherModule follows the README's "Use from another module"
// from a fresh folder, as a new user would: the module copied into the new
// repository (deps/commandcenter: a vendor/ folder would be Go's own), a LICENSE first (dagger init fetches one
// otherwise, which fails offline), dagger init, dagger install, and a call
// of the new module's function that uses this one's builders.
func TestUseFromAnotherModule(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	dir := t.TempDir()
	run(t, ctx, dir, "git", "init", "-q")

	// The module's files, as git has them, without what dagger.json leaves out.
	files := strings.Split(strings.TrimRight(run(t, ctx, repoRoot(t), "git", "ls-files"), "\n"), "\n")
	deps := filepath.Join(dir, "deps", "commandcenter")
	for _, f := range files {
		if top, _, _ := strings.Cut(f, "/"); top == "enginekit" || top == "examples" || top == "tests" ||
			top == "hosttest" || top == "scripts" || top == ".ci" || top == ".dagger" || top == "bench" {
			continue
		}
		data, err := os.ReadFile(filepath.Join(repoRoot(t), f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(filepath.Join(deps, f)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(deps, f), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "LICENSE"), []byte("Copyright the consumer's authors.\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	run(t, ctx, dir, "dagger", "init", "--sdk=go", "--name=consumer", "--source=.")
	run(t, ctx, dir, "dagger", "install", "./deps/commandcenter")
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(consumerMain), 0o644); err != nil {
		t.Fatal(err)
	}
	out := run(t, ctx, dir, "dagger", "call", "orders")
	if !strings.Contains(out, "connected to orders") {
		t.Fatalf("the consumer's function did not reach its database through the module:\n%s", tail(out, 20))
	}
}
