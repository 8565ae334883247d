//go:build bench || load

package hosttest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
)

// Passwords of the measuring projects (their databases are made with them).
const (
	benchPgPassword    = "bench-pg-password-51d3"
	benchRedisPassword = "bench-redis-password-8a2f"
)

var benchEnv = []string{"BENCH_PG=" + benchPgPassword, "BENCH_REDIS=" + benchRedisPassword}

// stackPorts are the host ports a measured stack is forwarded to.

// passwordsOf are the Postgres and Redis passwords a measured stack runs with.
type passwordsOf struct{ pg, redis string }

var benchPasswords = passwordsOf{benchPgPassword, benchRedisPassword}

// stackArgs is `dagger call ... stack --src=SRC up --ports ...` for project,
// with the bench's passwords given (the project "" is the README's default,
// with its generated passwords).
func stackArgs(project, src string, ports stackPorts, given bool) []string {
	var args []string
	if project != "" {
		args = append(args, "--project="+project)
	}
	if given {
		args = append(args, "with-postgres", "--password=env:BENCH_PG", "with-redis", "--password=env:BENCH_REDIS")
	}
	return append(append([]string{"call"}, args...), "stack", "--src="+src, "up", "--ports", ports.arg())
}

// upStack starts `dagger call stack ... up` for project on src, with the
// bench's passwords, and waits until all four services answer; it returns
// the process and the time from the command's start to the last answer.
func upStack(t *testing.T, project, src string, ports stackPorts, progress string) (*upProc, time.Duration) {
	t.Helper()
	args := stackArgs(project, src, ports, true)
	if progress != "" {
		args = append([]string{"--progress=" + progress}, args...)
	}
	start := time.Now()
	up := startUp(t, benchEnv, args...)
	r := waitStackReady(t, up, ports, benchPasswords, start, 15*time.Minute)
	return up, r.total
}

func pgPing(port int, password string) error {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, fmt.Sprintf("postgresql://commandcenter:%s@127.0.0.1:%d/commandcenter?connect_timeout=2", password, port))
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, "SELECT 1")
	return err
}

// The polls below expect refusals while a stack starts: go-redis would log
// each failed dial of its pool beside the measurements' own lines.
func init() { redis.SetLogger(quietRedis{}) }

type quietRedis struct{}

func (quietRedis) Printf(context.Context, string, ...interface{}) {}

func redisPing(port int, password string) error {
	rdb := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", port), Password: password,
		DialTimeout: 2 * time.Second, MaxRetries: -1})
	defer rdb.Close()
	return rdb.Ping(context.Background()).Err()
}

// readiness is when each of the four services first answered, from the
// command's start, and the last of them.
type readiness struct {
	each  map[string]time.Duration
	total time.Duration
}

// slowest names the services in the order they answered, with their times:
// what a slow start waited for.
func (r readiness) slowest() string {
	names := make([]string, 0, len(r.each))
	for n := range r.each {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool { return r.each[names[i]] < r.each[names[j]] })
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = fmt.Sprintf("%s %.1f s", n, r.each[n].Seconds())
	}
	return strings.Join(parts, ", ")
}

// waitStackReady polls the four services at once, every 50 ms, until
// Postgres runs a query, Redis answers PING, the backend's /health is ok
// and the frontend serves its page; it says when each first did. It fails
// at once, with the end of its output, when up (nil: none to watch) ends
// first.
func waitStackReady(t *testing.T, up *upProc, ports stackPorts, pw passwordsOf, start time.Time, timeout time.Duration) readiness {
	t.Helper()
	httpc := &http.Client{Timeout: 5 * time.Second}
	checks := map[string]func() error{
		"postgres": func() error { return pgPing(ports.pg, pw.pg) },
		"redis":    func() error { return redisPing(ports.redis, pw.redis) },
		"backend": func() error {
			return getHealth(httpc, fmt.Sprintf("http://127.0.0.1:%d/health", ports.backend))
		},
		"frontend": func() error {
			res, err := httpc.Get(fmt.Sprintf("http://127.0.0.1:%d/", ports.frontend))
			if err != nil {
				return err
			}
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode != 200 {
				return fmt.Errorf("frontend: %d", res.StatusCode)
			}
			return nil
		},
	}
	r := readiness{each: map[string]time.Duration{}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	failed := map[string]error{}
	for name, check := range checks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				err := check()
				if err == nil {
					mu.Lock()
					r.each[name] = time.Since(start)
					mu.Unlock()
					return
				}
				if time.Since(start) > timeout {
					mu.Lock()
					failed[name] = err
					mu.Unlock()
					return
				}
				if up != nil {
					select {
					case <-up.ended:
						mu.Lock()
						failed[name] = errors.New("the CLI ended first")
						mu.Unlock()
						return
					default:
					}
				}
				time.Sleep(50 * time.Millisecond)
			}
		}()
	}
	wg.Wait()
	if len(failed) > 0 {
		if up != nil {
			select {
			case <-up.ended:
				t.Fatalf("the CLI ended before the stack was ready (ready: %s); the end of its output:\n%s", r.slowest(), tail(up.log.String(), 30))
			default:
			}
		}
		t.Fatalf("not ready after %s: %v (ready: %s)", timeout, failed, r.slowest())
	}
	for _, d := range r.each {
		r.total = max(r.total, d)
	}
	return r
}

// pgbenchPath is pgbench, from PGBENCH or PATH (scripts/measure.sh provides it).
func pgbenchPath(t *testing.T) string {
	if p := os.Getenv("PGBENCH"); p != "" {
		return p
	}
	p, err := exec.LookPath("pgbench")
	if err != nil {
		t.Fatal("pgbench not found: run the measurements with scripts/measure.sh, which provides it")
	}
	return p
}

// pgbenchResult is what a pgbench run reports, and the median of the
// transactions' latencies from its per-transaction log.
type pgbenchResult struct {
	TPS             float64
	LatencyMs       float64
	MedianLatencyMs float64
	Failed          int
	Processed       int
}

var (
	tpsRe       = regexp.MustCompile(`tps = ([0-9.]+)`)
	latencyRe   = regexp.MustCompile(`latency average = ([0-9.]+) ms`)
	failedRe    = regexp.MustCompile(`number of failed transactions: (\d+)`)
	processedRe = regexp.MustCompile(`number of transactions actually processed: (\d+)`)
)

func pgbenchConn(port int) []string {
	return []string{"-h", "127.0.0.1", "-p", strconv.Itoa(port), "-U", "commandcenter"}
}

func pgbenchEnv() []string { return append(os.Environ(), "PGPASSWORD="+benchPgPassword) }

// pgbenchInit makes pgbench's tables (scale 10) in the database at 127.0.0.1:port.
func pgbenchInit(t *testing.T, port int) {
	t.Helper()
	init := exec.Command(pgbenchPath(t), append(append([]string{"-i", "-s", "10", "-q"}, pgbenchConn(port)...), "commandcenter")...)
	init.Env = pgbenchEnv()
	if out, err := init.CombinedOutput(); err != nil {
		t.Fatalf("pgbench -i: %v\n%s", err, out)
	}
}

// pgbench initialises and runs pgbench against 127.0.0.1:port.
func pgbench(t *testing.T, port int, args ...string) pgbenchResult {
	t.Helper()
	pgbenchInit(t, port)
	return pgbenchRun(t, port, args...)
}

// pgbenchStalls counts pgbench runs that did not finish in time and were
// run again (see pgbenchRun).
var pgbenchStalls int

// pgbenchRun runs pgbench against 127.0.0.1:port, whose tables are made.
// A run that has not finished a minute after its duration is stopped and run
// once more: now and then a connection through the CLI's port forwarding
// stalls during pgbench's burst of connects, and pgbench waits for it forever.
func pgbenchRun(t *testing.T, port int, args ...string) pgbenchResult {
	t.Helper()
	var out []byte
	var logs string
	for attempt := 1; ; attempt++ {
		logs = t.TempDir()
		runArgs := append(append([]string{}, args...), "-l", "--log-prefix="+filepath.Join(logs, "tx"))
		ctx, cancel := context.WithTimeout(context.Background(), pgbenchDeadline(args))
		cmd := exec.CommandContext(ctx, pgbenchPath(t), append(append(runArgs, pgbenchConn(port)...), "commandcenter")...)
		cmd.Env = pgbenchEnv()
		var err error
		out, err = cmd.CombinedOutput()
		timedOut := ctx.Err() != nil
		cancel()
		if err == nil {
			break
		}
		if !timedOut || attempt == 2 {
			t.Fatalf("pgbench %s (attempt %d): %v\n%s", strings.Join(runArgs, " "), attempt, err, out)
		}
		pgbenchStalls++
		t.Logf("pgbench on port %d did not finish in time (a stalled connection): running it again", port)
	}
	text := string(out)
	var r pgbenchResult
	if m := tpsRe.FindStringSubmatch(text); m != nil {
		r.TPS, _ = strconv.ParseFloat(m[1], 64)
	}
	if m := latencyRe.FindStringSubmatch(text); m != nil {
		r.LatencyMs, _ = strconv.ParseFloat(m[1], 64)
	}
	if m := failedRe.FindStringSubmatch(text); m != nil {
		r.Failed, _ = strconv.Atoi(m[1])
	}
	if m := processedRe.FindStringSubmatch(text); m != nil {
		r.Processed, _ = strconv.Atoi(m[1])
	}
	if r.TPS == 0 || r.Processed == 0 {
		t.Fatalf("pgbench printed no result:\n%s", text)
	}
	r.MedianLatencyMs = medianLoggedLatency(t, logs)
	return r
}

// pgbenchDeadline is the run's -T duration and a minute.
func pgbenchDeadline(args []string) time.Duration {
	for i, a := range args {
		if a == "-T" && i+1 < len(args) {
			if secs, err := strconv.Atoi(args[i+1]); err == nil {
				return time.Duration(secs)*time.Second + time.Minute
			}
		}
	}
	return 10 * time.Minute
}

// medianLoggedLatency reads pgbench's per-transaction logs (the third field
// of each line is the transaction's latency in microseconds).
func medianLoggedLatency(t *testing.T, dir string) float64 {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "tx.*"))
	var us []float64
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(data), "\n") {
			fields := strings.Fields(line)
			if len(fields) < 3 {
				continue
			}
			if v, err := strconv.ParseFloat(fields[2], 64); err == nil {
				us = append(us, v)
			}
		}
	}
	if len(us) == 0 {
		t.Fatalf("pgbench wrote no transaction log in %s", dir)
	}
	sort.Float64s(us)
	return us[len(us)/2] / 1000
}

// redisBench runs redis-benchmark on port and returns the requests/s of
// each test and the errors it counted: lines of its output that are not
// results (connection and reply errors), plus the error replies Redis
// counted meanwhile (INFO stats total_error_replies, read twice on one
// connection, so that the reading client's own handshake counts neither
// time).
func redisBench(t *testing.T, port int, tests string, requests int) (map[string]float64, int) {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", port), Password: benchRedisPassword, PoolSize: 1})
	defer rdb.Close()
	before := redisErrorReplies(t, rdb)
	cmd := exec.Command("redis-benchmark", "-h", "127.0.0.1", "-p", strconv.Itoa(port), "-a", benchRedisPassword,
		"-n", strconv.Itoa(requests), "-c", "50", "-t", tests, "--csv")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("redis-benchmark: %v\n%s", err, out)
	}
	rps := map[string]float64{}
	errors := 0
	for _, line := range strings.Split(string(out), "\n") {
		fields := strings.Split(line, ",")
		switch {
		case strings.TrimSpace(line) == "" || fields[0] == `"test"`:
		case len(fields) >= 2 && strings.HasPrefix(fields[0], `"`):
			v, err := strconv.ParseFloat(strings.Trim(fields[1], `"`), 64)
			if err != nil {
				t.Fatalf("redis-benchmark printed %q", line)
			}
			rps[strings.Trim(fields[0], `"`)] = v
		default:
			errors++
			t.Logf("redis-benchmark: %s", line)
		}
	}
	if len(rps) == 0 {
		t.Fatalf("redis-benchmark printed no result:\n%s", out)
	}
	return rps, errors + redisErrorReplies(t, rdb) - before
}

// redisErrorReplies is how many error replies Redis has sent since it started.
func redisErrorReplies(t *testing.T, rdb *redis.Client) int {
	t.Helper()
	info, err := rdb.Info(context.Background(), "stats").Result()
	if err != nil {
		t.Fatalf("INFO stats: %v", err)
	}
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "total_error_replies:"); ok {
			n, err := strconv.Atoi(v)
			if err != nil {
				t.Fatalf("INFO stats: %q", line)
			}
			return n
		}
	}
	t.Fatalf("INFO stats has no total_error_replies:\n%s", info)
	return 0
}

func median(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func secs(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }

// writeResults writes a results file of the repository.
func writeResults(t *testing.T, name, text string) {
	t.Helper()
	path := filepath.Join(repoRoot(t), "bench", name)
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("results written to bench/%s:\n%s", name, text)
}

func machine() string {
	nproc, _ := exec.Command("nproc").Output()
	version, _ := exec.Command("dagger", "version").Output()
	return fmt.Sprintf("%s, %s cores, %s", time.Now().UTC().Format("2006-01-02 15:04 UTC"),
		strings.TrimSpace(string(nproc)), strings.TrimSpace(string(version)))
}

func stopStack(t *testing.T, up *upProc, ports stackPorts) {
	t.Helper()
	stopUp(t, up)
	waitReleased(t, ports.pg, ports.redis, ports.backend, ports.frontend)
}
