//go:build bench

package hosttest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Runs of each measurement; the table gives medians.
const (
	warmRuns   = 5
	coldRuns   = 2
	changeRuns = 3
	// pgbench runs on each of the Stack's port and the direct one
	proxyRounds = 4
)

// TestBenchmarkStack measures how fast the example stack comes up (warm,
// cold, after a one-file change), what the Stack's ports cost against a lone
// service, and the memory of the running stack. Results: bench/results.md.
func TestBenchmarkStack(t *testing.T) {
	ports := stackPorts{25200, 25201, 25202, 25203}
	requireFree(t, ports.pg, ports.redis, ports.backend, ports.frontend, 25210, 25211)
	src := copyExample(t)
	const project = "bench"
	var b strings.Builder
	command := "make bench"
	if os.Getenv("BENCH_PRUNE") == "yes" {
		command = "make bench BENCH_PRUNE=yes"
	}
	fmt.Fprintf(&b, "# Benchmarks\n\nMeasured by `%s` (hosttest/bench_test.go) on %s.\n", command, machine())
	fmt.Fprintf(&b, "Times run from the `dagger call stack ... up --ports ...` command to all four services answering on their host ports: Postgres runs a query, Redis answers PING, the backend's /health is ok, the frontend serves its page. Medians of the runs shown.\n\n")
	fmt.Fprintf(&b, "| measurement | median | runs | target | dependencies reinstalled |\n| --- | --- | --- | --- | --- |\n")

	// One run first, so that the measured runs start warm.
	up, first := upStack(t, project, src, ports, "")
	stopStack(t, up, ports)
	t.Logf("first up: %s", first)

	measure := func(name string, runs int, target string, change func(run int)) {
		var times []time.Duration
		var reinstalled []string
		for run := 0; run < runs; run++ {
			if change != nil {
				change(run)
			}
			up, d := upStack(t, project, src, ports, "plain")
			times = append(times, d)
			reinstalled = append(reinstalled, installsIn(up.log.String()))
			stopStack(t, up, ports)
		}
		t.Logf("%s: %v", name, times)
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", name, secs(median(times)), joinDurations(times), target, strings.Join(unique(reinstalled), ", "))
	}

	measure("warm `up`, nothing changed", warmRuns, "at most 5 s", nil)
	measure("one backend source file changed", changeRuns, "at most 10 s, nothing reinstalled", func(run int) {
		appendLine(t, filepath.Join(src, "backend", "app", "main.py"), fmt.Sprintf("# bench change %d %d", run, time.Now().UnixNano()))
	})
	measure("one frontend source file changed", changeRuns, "at most 10 s, nothing reinstalled", func(run int) {
		appendLine(t, filepath.Join(src, "frontend", "src", "format.js"), fmt.Sprintf("// bench change %d %d", run, time.Now().UnixNano()))
	})
	measure("requirements.txt changed", changeRuns, "(pip runs again)", func(run int) {
		appendLine(t, filepath.Join(src, "backend", "requirements.txt"), fmt.Sprintf("# bench change %d %d", run, time.Now().UnixNano()))
	})
	// Pruning the engine's cache deletes every cache volume no running
	// service holds: the data and passwords of every project on this engine,
	// not only the benchmark's. So the cold runs are asked for by name.
	const cold = "cold `up`: engine cache pruned, images in the mirror"
	if os.Getenv("BENCH_PRUNE") == "yes" {
		measure(cold, coldRuns, "", func(int) { pruneEngineCache(t) })
	} else {
		t.Logf("%s: not measured; it deletes every project's data on this engine: run `make bench BENCH_PRUNE=yes` to measure it", cold)
		fmt.Fprintf(&b, "| %s | not measured | | | pruning deletes every project's data on the engine: `make bench BENCH_PRUNE=yes` measures it |\n", cold)
	}

	// The ports' cost: the same load through the Stack and through a lone
	// service forwarded directly, in the same run.
	direct := stackPorts{pg: 25210, redis: 25211}
	up, _ = upStack(t, project, src, ports, "")
	pgDirect := startUp(t, benchEnv, "call", "--project=bench-direct", "with-postgres", "--password=env:BENCH_PG", "postgres",
		"up", "--ports", fmt.Sprintf("%d:5432", direct.pg))
	rdDirect := startUp(t, benchEnv, "call", "--project=bench-direct", "with-redis", "--password=env:BENCH_REDIS", "redis",
		"up", "--ports", fmt.Sprintf("%d:6379", direct.redis))
	waitFor(t, "direct redis", 5*time.Minute, func() error { return redisPing(direct.redis) })
	waitFor(t, "direct postgres", 5*time.Minute, func() error { return pgPing(direct.pg) })

	memory := stackMemory(t)
	// pgbench alternates between the two, the order switched every round,
	// so that neither gets the quieter moments of the machine.
	pgbenchInit(t, ports.pg)
	pgbenchInit(t, direct.pg)
	load := []string{"-S", "-c", "8", "-j", "2", "-T", "15"}
	var viaStack, viaDirect []pgbenchResult
	for round := 0; round < proxyRounds; round++ {
		order := []int{ports.pg, direct.pg}
		if round%2 == 1 {
			order = []int{direct.pg, ports.pg}
		}
		for _, port := range order {
			r := pgbenchRun(t, port, load...)
			if port == ports.pg {
				viaStack = append(viaStack, r)
			} else {
				viaDirect = append(viaDirect, r)
			}
		}
	}
	rdStack, rdStackErrors := redisBench(t, ports.redis, "ping,set,get", 20000)
	rdDirectRPS, rdDirectErrors := redisBench(t, direct.redis, "ping,set,get", 20000)
	if rdStackErrors+rdDirectErrors != 0 {
		t.Errorf("redis-benchmark: %d errors through the Stack, %d direct", rdStackErrors, rdDirectErrors)
	}
	stopUp(t, pgDirect)
	stopUp(t, rdDirect)
	stopStack(t, up, ports)

	stackTPS, directTPS := medianOf(viaStack, tpsOf), medianOf(viaDirect, tpsOf)
	stackLat, directLat := medianOf(viaStack, medianLatencyOf), medianOf(viaDirect, medianLatencyOf)
	fmt.Fprintf(&b, "\n## The Stack's ports against a lone service\n\nThe same load through the Stack's forwarded port and through a lone service forwarded directly (Redis persistent in both), in the same run. The Stack's 5432 is Postgres itself (the Stack's front container); its 6379 goes through the front's forwarder to Redis. pgbench runs %d times on each, alternating; the table shows medians (latency: the median transaction of each run, then the median of the runs).\n\n", proxyRounds)
	fmt.Fprintf(&b, "| load | via the Stack | direct | Stack / direct | target |\n| --- | --- | --- | --- | --- |\n")
	fmt.Fprintf(&b, "| pgbench -S, 8 clients, 15 s: TPS (runs: %s / %s) | %.0f | %.0f | %.1f%% | at least 90%% |\n",
		joinFloats(viaStack, tpsOf), joinFloats(viaDirect, tpsOf), stackTPS, directTPS, 100*stackTPS/directTPS)
	fmt.Fprintf(&b, "| pgbench -S: median latency | %.3f ms | %.3f ms | +%.3f ms | at most +1 ms |\n", stackLat, directLat, stackLat-directLat)
	for _, name := range []string{"PING_INLINE", "PING_MBULK", "SET", "GET"} {
		if rdStack[name] == 0 || rdDirectRPS[name] == 0 {
			continue
		}
		fmt.Fprintf(&b, "| redis-benchmark %s, 50 clients: requests/s | %.0f | %.0f | %.1f%% | |\n", name, rdStack[name], rdDirectRPS[name], 100*rdStack[name]/rdDirectRPS[name])
	}
	if pgbenchStalls > 0 {
		fmt.Fprintf(&b, "\n%d pgbench run(s) stalled on a connection through the CLI's port forwarding and were run again.\n", pgbenchStalls)
	}
	fmt.Fprintf(&b, "\n## Memory of the running stack\n\n%s\n", memory)
	writeResults(t, "results.md", b.String())
}

func tpsOf(r pgbenchResult) float64           { return r.TPS }
func medianLatencyOf(r pgbenchResult) float64 { return r.MedianLatencyMs }

// medianOf is the median of one figure of pgbench runs.
func medianOf(rs []pgbenchResult, figure func(pgbenchResult) float64) float64 {
	vs := make([]float64, len(rs))
	for i, r := range rs {
		vs[i] = figure(r)
	}
	sort.Float64s(vs)
	if len(vs)%2 == 0 {
		return (vs[len(vs)/2-1] + vs[len(vs)/2]) / 2
	}
	return vs[len(vs)/2]
}

func joinFloats(rs []pgbenchResult, figure func(pgbenchResult) float64) string {
	parts := make([]string, len(rs))
	for i, r := range rs {
		parts[i] = fmt.Sprintf("%.0f", figure(r))
	}
	return strings.Join(parts, ", ")
}

// installsIn says which dependency installs ran in an `up` (plain progress
// shows an install's output only when it runs, not when it is cached).
func installsIn(log string) string {
	var ran []string
	if strings.Contains(log, "Requirement already satisfied") || strings.Contains(log, "Successfully installed") {
		ran = append(ran, "pip")
	}
	if strings.Contains(log, "added ") && strings.Contains(log, " packages") {
		ran = append(ran, "npm")
	}
	if len(ran) == 0 {
		return "none"
	}
	return strings.Join(ran, "+")
}

func unique(xs []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, x := range xs {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}

func joinDurations(ds []time.Duration) string {
	parts := make([]string, len(ds))
	for i, d := range ds {
		parts[i] = fmt.Sprintf("%.2f", d.Seconds())
	}
	return strings.Join(parts, ", ")
}

func appendLine(t *testing.T, path, line string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := fmt.Fprintln(f, line); err != nil {
		t.Fatal(err)
	}
}

// pruneEngineCache drops the engine's build cache (the images stay in the
// mirror) and every cache volume no running service holds.
func pruneEngineCache(t *testing.T) {
	t.Helper()
	cmd := exec.Command("dagger", "query")
	cmd.Stdin = strings.NewReader("{ engine { localCache { prune } } }")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("prune the engine cache: %v\n%s", err, tail(string(out), 20))
	}
}

// stackMemory sums the resident memory of the kit's engine and of every
// process it runs (the stack's containers), from /proc.
func stackMemory(t *testing.T) string {
	t.Helper()
	pidFile := filepath.Join(kitDir(), "run", "engine.pid")
	data, err := os.ReadFile(pidFile)
	if err != nil {
		return "Not measured: no engine of the kit's runs here (" + pidFile + ").\n"
	}
	engine, _ := strconv.Atoi(strings.TrimSpace(string(data)))
	children := map[int][]int{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
		if len(fields) > 1 {
			ppid, _ := strconv.Atoi(fields[1])
			children[ppid] = append(children[ppid], pid)
		}
	}
	var total, procs int
	var walk func(int)
	walk = func(pid int) {
		procs++
		total += rssKiB(pid)
		for _, c := range children[pid] {
			walk(c)
		}
	}
	engineRSS := rssKiB(engine)
	walk(engine)
	return fmt.Sprintf("| what | resident memory |\n| --- | --- |\n| the engine process | %.0f MiB |\n| the engine and everything it runs (%d processes: the stack's containers, runc, dnsmasq) | %.0f MiB |\n",
		float64(engineRSS)/1024, procs, float64(total)/1024)
}

func rssKiB(pid int) int {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			f := strings.Fields(line)
			if len(f) >= 2 {
				v, _ := strconv.Atoi(f[1])
				return v
			}
		}
	}
	return 0
}

func kitDir() string {
	if d := os.Getenv("KIT_DIR"); d != "" {
		return d
	}
	return "/var/lib/commandcenter-kit"
}
