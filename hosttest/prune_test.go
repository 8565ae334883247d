package hosttest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
)

// The tests here prune the engine's cache. They run on an engine of their
// own: the kit's engine restarted on an empty state folder (KIT_ENGINE_STATE),
// and restarted on its own state after them (TestMain), so that their prunes
// delete nothing of the machine's: no project's data, and none of the images
// and builds that keep the next test run and the next `up` warm. Restarting the engine
// stops every service on it, so they run only when asked (.ci/run asks).
func requirePruneTests(t *testing.T) {
	t.Helper()
	if os.Getenv("COMMANDCENTER_PRUNE_TESTS") != "yes" {
		t.Skip("restarts the engine (on an empty state of the tests' own, then back), stopping every service on it: run with COMMANDCENTER_PRUNE_TESTS=yes")
	}
	// The GC policies are the kit's: the engine must be the kit's.
	wrapper, err := os.ReadFile("/usr/local/bin/dagger")
	if err != nil || !strings.Contains(string(wrapper), "installed by the commandcenter engine kit") {
		t.Fatal("COMMANDCENTER_PRUNE_TESTS=yes needs the engine kit's engine (make engine on a machine without Docker)")
	}
	pruneEngine.Do(func() { pruneEngineErr = startPruneEngine(repoRoot(t)) })
	if pruneEngineErr != nil {
		t.Fatal(pruneEngineErr)
	}
}

// pruneEngineState is the state folder of the prune tests' engine.
const pruneEngineState = "/var/lib/commandcenter-prune-tests"

var (
	pruneEngine        sync.Once
	pruneEngineErr     error
	pruneEngineStarted bool
	// pruneEngineKept counts the machine's project data before the tests.
	pruneEngineKept int
)

// startPruneEngine restarts the kit's engine on an empty pruneEngineState.
// The kit first puts the engine back on its own state, in case an earlier
// run ended before it could: the folder is then in no engine's use.
func startPruneEngine(root string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := runKit(ctx, root); err != nil {
		return err
	}
	kept, err := projectVolumes(ctx, root)
	if err != nil {
		return err
	}
	pruneEngineKept = kept
	if err := os.RemoveAll(pruneEngineState); err != nil {
		return fmt.Errorf("remove an earlier run's engine state: %w", err)
	}
	pruneEngineStarted = true
	if err := runKit(ctx, root); err != nil {
		return fmt.Errorf("on an empty state (%s): %w", pruneEngineState, err)
	}
	return nil
}

// stopPruneEngine puts the kit's engine back on its own state and removes
// the prune tests' one.
func stopPruneEngine(root string) error {
	if !pruneEngineStarted {
		return nil
	}
	pruneEngineStarted = false
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := runKit(ctx, root); err != nil {
		return fmt.Errorf("the engine is not back on its own state (make engine puts it back): %w", err)
	}
	// The tests pruned their own engine: the machine's projects are all
	// there (the kit's GC policies never collect them).
	now, err := projectVolumes(ctx, root)
	if err != nil {
		return err
	}
	if now < pruneEngineKept {
		return fmt.Errorf("the engine had %d records of project data before the prune tests and has %d after them: they pruned the machine's engine, not their own", pruneEngineKept, now)
	}
	return os.RemoveAll(pruneEngineState)
}

// projectVolumes counts the records of project data (cache volumes mounted
// under /.commandcenter/) on the engine.
func projectVolumes(ctx context.Context, root string) (int, error) {
	entries, err := cacheEntriesOf(ctx, root)
	if err != nil {
		return 0, err
	}
	return countEntries(entries, "cached mount /.commandcenter/"), nil
}

// runKit runs `kit.sh up` with extra settings, on the prune tests' engine
// state once they started it; its error carries the end of the kit's output.
func runKit(ctx context.Context, root string, env ...string) error {
	cmd := exec.CommandContext(ctx, "bash", "enginekit/kit.sh", "up")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "KIT_ENGINE_STATE=")
	if pruneEngineStarted {
		cmd.Env = append(cmd.Env, "KIT_ENGINE_STATE="+pruneEngineState)
	}
	cmd.Env = append(cmd.Env, env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("kit.sh up %v: %v\n%s", env, err, tail(string(out), 30))
	}
	return nil
}

// cacheEntries lists the descriptions of the engine's cache records.
func cacheEntries(t *testing.T, ctx context.Context) []string {
	t.Helper()
	entries, err := cacheEntriesOf(ctx, repoRoot(t))
	if err != nil {
		t.Fatal(err)
	}
	return entries
}

// cacheEntriesOf is cacheEntries for callers without a test (TestMain).
func cacheEntriesOf(ctx context.Context, root string) ([]string, error) {
	cmd := exec.CommandContext(ctx, "dagger", "core", "engine", "local-cache", "entry-set", "entries", "description")
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("list the engine's cache records: %v\n%s", err, tail(stderr.String(), 40))
	}
	return strings.Split(string(out), "\n"), nil
}

func countEntries(entries []string, prefix string) int {
	n := 0
	for _, e := range entries {
		if strings.Contains(e, prefix) {
			n++
		}
	}
	return n
}

// kit runs the engine kit with extra settings (on the prune tests' engine).
func kit(t *testing.T, ctx context.Context, env ...string) {
	t.Helper()
	if err := runKit(ctx, repoRoot(t), env...); err != nil {
		t.Fatal(err)
	}
}

// writeRows makes a table of n rows in the project's database, through `up`.
func writeRows(t *testing.T, ctx context.Context, project, table string, n int) {
	t.Helper()
	up := upPostgres(t, project, durablePgPort)
	conn := connectPostgres(t, ctx, durablePgPort)
	if _, err := conn.Exec(ctx, fmt.Sprintf("CREATE TABLE %s AS SELECT g AS n FROM generate_series(1, %d) g", table, n)); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)
	stopUp(t, up)
	waitReleased(t, durablePgPort)
}

// countRows counts the table's rows, through `up`.
func countRows(t *testing.T, ctx context.Context, project, table string) int {
	t.Helper()
	up := upPostgres(t, project, durablePgPort)
	conn := connectPostgres(t, ctx, durablePgPort)
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM "+table).Scan(&n); err != nil {
		t.Fatalf("count the rows of %s: %v", table, err)
	}
	conn.Close(ctx)
	stopUp(t, up)
	waitReleased(t, durablePgPort)
	return n
}

// TestPruneByGCKeepsProjectData runs the engine's garbage collector with the
// kit's policies, caches unused for a second collected, and checks that a
// cache went and the project's database did not.
func TestPruneByGCKeepsProjectData(t *testing.T) {
	requirePruneTests(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	const project = "hosttest-gc"
	table := fmt.Sprintf("kept_%d", time.Now().UnixNano())
	writeRows(t, ctx, project, table, 500)
	// A cache of the test's own, mounted where caches are (pip's, npm's).
	dagger(t, ctx, "-c", fmt.Sprintf("container | from %s | with-mounted-cache /root/.cache/gc-probe $(cache-volume commandcenter-gc-probe) | "+
		"with-env-variable RUN %d | with-exec touch /root/.cache/gc-probe/x | sync", "redis:8-trixie", time.Now().UnixNano()))
	if countEntries(cacheEntries(t, ctx), "cached mount /root/.cache/gc-probe") == 0 {
		t.Fatal("the test's cache is not in the engine's records")
	}

	kit(t, ctx, "KIT_GC_KEEP=1s")
	t.Cleanup(func() { kit(t, context.Background()) })
	time.Sleep(2 * time.Second)
	dagger(t, ctx, "core", "engine", "local-cache", "prune", "--use-default-policy")

	after := cacheEntries(t, ctx)
	if n := countEntries(after, "cached mount /root/.cache/gc-probe"); n != 0 {
		t.Errorf("%d records of the test's cache left after GC with caches kept for 1s: the policy collects nothing", n)
	}
	if n := countEntries(after, "cached mount "+"/.commandcenter/postgres"); n == 0 {
		t.Fatalf("the GC deleted the projects' databases:\n%s", strings.Join(after, "\n"))
	}
	if n := countRows(t, ctx, project, table); n != 500 {
		t.Fatalf("%d rows of 500 after the GC", n)
	}
}

// TestPruneSnapshotRestoresProjectData takes a snapshot of a project with
// generated passwords, prunes the engine's whole cache (as a lost or reset
// engine would), restores the snapshot and counts every row and key.
func TestPruneSnapshotRestoresProjectData(t *testing.T) {
	requirePruneTests(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	const project = "hosttest-snapshot"
	const rows, keys = 1000, 100
	table := fmt.Sprintf("saved_%d", time.Now().UnixNano())

	// A project with its generated passwords, so that the snapshot must
	// bring them back too.
	env := urlsOf(t, ctx, project)
	upPg, upRedis := upGenerated(t, project)
	var conn *pgx.Conn
	waitFor(t, "postgres", 10*time.Minute, func() (err error) {
		conn, err = pgx.Connect(ctx, env["DATABASE_URL"])
		return err
	})
	if _, err := conn.Exec(ctx, fmt.Sprintf("CREATE TABLE %s AS SELECT g AS n FROM generate_series(1, %d) g", table, rows)); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)
	opts, err := redis.ParseURL(env["REDIS_URL"])
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opts)
	for i := range keys {
		if err := rdb.Set(ctx, fmt.Sprintf("%s:%d", table, i), i, 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	rdb.Close()
	stopUp(t, upPg)
	stopUp(t, upRedis)
	waitReleased(t, durablePgPort, durableRedis)

	snap := filepath.Join(t.TempDir(), "snapshot")
	dagger(t, ctx, "call", "--project="+project, "snapshot", "export", "--path="+snap)
	for _, f := range []string{"snapshot.json", "SHA256SUMS", "postgres-17.tar.gz", "redis.tar.gz", "secrets.tar.gz"} {
		if _, err := os.Stat(filepath.Join(snap, f)); err != nil {
			t.Fatalf("the snapshot has no %s: %v", f, err)
		}
	}

	dagger(t, ctx, "core", "engine", "local-cache", "prune")
	if n := countEntries(cacheEntries(t, ctx), "cached mount /.commandcenter/"); n != 0 {
		t.Fatalf("%d project volumes left after pruning the whole cache: the test shows nothing", n)
	}

	out := dagger(t, ctx, "call", "--project="+project, "restore", "--from="+snap)
	if !strings.Contains(out, "restored the snapshot of project \""+project+"\"") {
		t.Fatalf("restore said %q", out)
	}
	if again := urlsOf(t, ctx, project); again["DATABASE_URL"] != env["DATABASE_URL"] || again["REDIS_URL"] != env["REDIS_URL"] {
		t.Fatalf("the restored project's passwords are not the snapshot's")
	}
	upPg, upRedis = upGenerated(t, project)
	waitFor(t, "postgres after the restore", 10*time.Minute, func() (err error) {
		conn, err = pgx.Connect(ctx, env["DATABASE_URL"])
		return err
	})
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM "+table).Scan(&n); err != nil || n != rows {
		t.Fatalf("%d rows of %d after the restore: %v", n, rows, err)
	}
	conn.Close(ctx)
	rdb = redis.NewClient(opts)
	found, err := rdb.Keys(ctx, table+":*").Result()
	rdb.Close()
	if err != nil || len(found) != keys {
		t.Fatalf("%d keys of %d after the restore: %v", len(found), keys, err)
	}
	stopUp(t, upPg)
	stopUp(t, upRedis)
	waitReleased(t, durablePgPort, durableRedis)

	// A project with data refuses a restore, and says what to do.
	cmd := exec.CommandContext(ctx, "dagger", "call", "--project="+project, "restore", "--from="+snap)
	cmd.Dir = repoRoot(t)
	refused, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(refused), "has data") || !strings.Contains(string(refused), "wipe") {
		t.Fatalf("a restore into a project with data: %v\n%s", err, tail(string(refused), 10))
	}
}

// upGenerated runs the project's Postgres and Redis with its generated
// passwords, on the durability tests' ports.
func upGenerated(t *testing.T, project string) (*upProc, *upProc) {
	t.Helper()
	return startUp(t, nil, "call", "--project="+project, "postgres", "up", "--ports", fmt.Sprintf("%d:5432", durablePgPort)),
		startUp(t, nil, "call", "--project="+project, "redis", "up", "--ports", fmt.Sprintf("%d:6379", durableRedis))
}

// urlsOf asks the module for a project's host URLs, with its passwords.
func urlsOf(t *testing.T, ctx context.Context, project string) map[string]string {
	t.Helper()
	args := []string{"call"}
	if project != "" { // "": the README's default project
		args = append(args, "--project="+project)
	}
	out := dagger(t, ctx, append(args, "urls",
		fmt.Sprintf("--postgres-port=%d", durablePgPort), fmt.Sprintf("--redis-port=%d", durableRedis))...)
	vars := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			vars[k] = v
		}
	}
	return vars
}

// projectCopies holds the tests' copies of the examples (copyExampleNamed)
// until every test has ended.
var projectCopies string

// TestMain makes the folder of the tests' copies of the examples and
// removes it once every test has ended, and puts the kit's engine back on
// its own state after the prune tests ran theirs.
func TestMain(m *testing.M) {
	var err error
	if projectCopies, err = os.MkdirTemp("", "hosttest-projects-"); err != nil {
		fmt.Fprintf(os.Stderr, "a folder for the tests' projects: %v\n", err)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(projectCopies)
	root, err := filepath.Abs("..")
	if err == nil {
		err = stopPruneEngine(root)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "prune tests: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}
