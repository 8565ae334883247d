//go:build bench

package hosttest

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Runs of each measurement.
const (
	warmRuns = 12
	coldRuns = 2
	// Edits saved under the live-reload watcher, of each kind.
	liveRuns   = 10
	changeRuns = 5
	// Rounds of pgbench and redis-benchmark on each of the Stack's port and
	// the direct one, alternating: short rounds, many of them, so that the
	// machine's ups and downs reach both sides alike.
	proxyRounds = 8
	// Each pgbench round's length.
	pgbenchSeconds = 8
	// The pause between a stop and the next up, as a person restarts.
	restartPause = 3 * time.Second
	// A start slower than this says what it waited for.
	slowStart = 10 * time.Second
)

// readmePorts are the README's host ports (make up's).
var readmePorts = stackPorts{15000, 15001, 15002, 15003}

// series is one measurement: its runs' times, what each reinstalled, and
// what the slow ones waited for.
type series struct {
	times       []time.Duration
	reinstalled []string
	slow        []string
	recovered   int // starts that found Postgres not shut down cleanly
	// phases are each run's phases (phasesOf).
	phases [][]time.Duration
	// steps are each run's long steps (longSteps).
	steps []string
	// cpu is where each run's CPU went (cpuBetween).
	cpu []cpuUse
}

// add appends the runs of o to s.
func (s *series) add(o series) {
	s.times = append(s.times, o.times...)
	s.phases = append(s.phases, o.phases...)
	s.reinstalled = append(s.reinstalled, o.reinstalled...)
	s.slow = append(s.slow, o.slow...)
	s.steps = append(s.steps, o.steps...)
	s.cpu = append(s.cpu, o.cpu...)
	s.recovered += o.recovered
}

func (s series) row(name, target string) string {
	slow := ""
	if len(s.slow) > 0 {
		slow = "; over 10 s: " + strings.Join(s.slow, "; ")
	}
	return fmt.Sprintf("| %s | %s | %s | %s | %d | %s | %s%s |\n", name, secs(median(s.times)), secs(percentile(s.times, 90)),
		secs(slices.Max(s.times)), len(s.times), target, strings.Join(unique(s.reinstalled), ", "), slow)
}

// measureUps runs `up` runs times, each after change(run), and stops it as
// a person does.
func measureUps(t *testing.T, name string, runs int, args func() []string, pw passwordsOf, p stackPorts, change func(run int)) series {
	t.Helper()
	return measureUpsWith(t, benchEnv, name, runs, args, pw, p, change)
}

// measureUpsWith is measureUps with the CLI's environment env.
func measureUpsWith(t *testing.T, env []string, name string, runs int, args func() []string, pw passwordsOf, p stackPorts, change func(run int)) series {
	t.Helper()
	var s series
	for run := 0; run < runs; run++ {
		if change != nil {
			change(run)
		}
		before, start := takeCPU(), time.Now()
		up := startUp(t, append(slices.Clone(env), traceEnv(t)...), append([]string{"--progress=plain"}, args()...)...)
		r := waitStackReady(t, up, p, pw, start, 15*time.Minute)
		s.cpu = append(s.cpu, cpuBetween(before, takeCPU(), r.total, os.Getpid()))
		s.times = append(s.times, r.total)
		t.Logf("%s, run %d: %s", name, run+1, r.slowest())
		if r.total > slowStart {
			s.slow = append(s.slow, fmt.Sprintf("run %d: %s", run+1, r.slowest()))
		}
		log := up.log.String()
		s.reinstalled = append(s.reinstalled, installsIn(log))
		s.steps = append(s.steps, longSteps(log, time.Second))
		if strings.Contains(log, "not properly shut down") {
			s.recovered++
		}
		stopStack(t, up, p)
		// The CLI has sent its spans as it exited.
		s.phases = append(s.phases, phasesOf(sink.since(start), start, start.Add(r.total)))
		time.Sleep(restartPause)
	}
	t.Logf("%s: %v", name, s.times)
	return s
}

// Lines of the CLI's plain progress: a span's number, then its text.
var (
	ansiCodes    = regexp.MustCompile(`\x1b\[[0-9;]*m`)
	progressLine = regexp.MustCompile(`^(\d+)\s*: ([┆ ]*)(.*)$`)
	doneLine     = regexp.MustCompile(`^(.*) DONE \[([0-9.hms]+)\]$`)
)

// longSteps are the steps of an `up` that took at least min, longest
// first, from its plain progress: the module's first call (the Go SDK
// builds the module when no cache has it), the module's load of itself
// for its runtime (the supervisor's binary: Directory.asModule,
// Module.runtime), the execs (pip, npm) and the calls that waited for one,
// each named by its first line.
func longSteps(log string, min time.Duration) string {
	type step struct {
		name string
		took time.Duration
	}
	names := map[string]string{}
	var steps []step
	for _, line := range strings.Split(ansiCodes.ReplaceAllString(log, ""), "\n") {
		m := progressLine.FindStringSubmatch(line)
		if m == nil || strings.HasPrefix(m[3], "[") { // "[1.2s] | output"
			continue
		}
		id, nested, text := m[1], strings.Contains(m[2], "┆"), m[3]
		if _, named := names[id]; !named {
			names[id] = text
			continue
		}
		done := doneLine.FindStringSubmatch(text)
		if done == nil {
			continue
		}
		took, err := time.ParseDuration(done[2])
		if err != nil || took < min {
			continue
		}
		name := names[id]
		switch {
		case strings.HasPrefix(name, "withExec "):
			name = strings.TrimPrefix(name, "withExec ")
			if len(name) > 60 {
				name = name[:60] + "..."
			}
		case strings.HasPrefix(name, "Directory.asModule") || strings.HasPrefix(name, "Module.runtime"):
			name = strings.TrimSuffix(name, "!")
		case strings.HasPrefix(name, "Container.") && !strings.HasPrefix(name, "Container.asService"):
			// A call that waited for a lazy exec or a load: the
			// supervisor's file waits for the module's runtime.
			if len(name) > 70 {
				name = name[:70] + "..."
			}
		case !nested && strings.HasSuffix(name, "!"): // the module's constructor: "commandcenter: Commandcenter!"
			name = "the module's first call (" + strings.FieldsFunc(name, func(r rune) bool { return r == '(' || r == ':' })[0] + ")"
		default:
			continue
		}
		steps = append(steps, step{name, took})
	}
	sort.SliceStable(steps, func(i, j int) bool { return steps[i].took > steps[j].took })
	parts := make([]string, len(steps))
	for i, s := range steps {
		parts[i] = fmt.Sprintf("%s %s", "`"+s.name+"`", secs(s.took))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// TestWarmReadmeStart measures the README's command alone, for tuning
// (BENCH_RUNS runs, 10 by default); it writes no results.
func TestWarmReadmeStart(t *testing.T) {
	runs := 10
	if n, err := strconv.Atoi(os.Getenv("BENCH_RUNS")); err == nil {
		runs = n
	}
	requireFree(t, readmePorts.pg, readmePorts.redis, readmePorts.backend, readmePorts.frontend)
	env := urlsOf(t, context.Background(), "")
	pw := passwordsOf{passwordIn(t, env["DATABASE_URL"]), passwordIn(t, env["REDIS_URL"])}
	readme := func() []string { return stackArgs("", "examples/commandcenter", readmePorts, false) }
	measureUps(t, "warm-up", 1, readme, pw, readmePorts, nil)
	s := measureUps(t, "readme", runs, readme, pw, readmePorts, nil)
	t.Logf("median %s, p90 %s, slowest %s", secs(median(s.times)), secs(percentile(s.times, 90)), secs(slices.Max(s.times)))
	t.Logf("where the time goes:\n%s", breakdown([]string{"the README's command"}, [][][]time.Duration{s.phases}))
	t.Logf("where the CPU goes:\n%s%s", cpuHeader(), cpuRow("the README's command", s.cpu))
}

// TestBenchmarkStack measures how fast the example stack comes up on the
// README's command and restarts as a person restarts it, after one-file
// changes, with a large node_modules, cold; what the Stack's ports cost
// against a lone service; how often Postgres recovers from a crash; and the
// memory of the running stack. Results: bench/results.md.
func TestBenchmarkStack(t *testing.T) {
	ports := stackPorts{25200, 25201, 25202, 25203}
	requireFree(t, ports.pg, ports.redis, ports.backend, ports.frontend, 25210, 25211,
		readmePorts.pg, readmePorts.redis, readmePorts.backend, readmePorts.frontend)
	src := copyExample(t)
	const project = "bench"
	var b strings.Builder
	command := "make bench"
	if os.Getenv("BENCH_PRUNE") == "yes" {
		command += " BENCH_PRUNE=yes"
	}
	if os.Getenv("COMMANDCENTER_ENGINE_TESTS") == "yes" {
		command += " COMMANDCENTER_ENGINE_TESTS=yes"
	}
	fmt.Fprintf(&b, "# Benchmarks\n\nMeasured by `%s` (hosttest/bench_test.go) on %s.\n", command, machine())
	if kept := os.Getenv("BENCH_FRESH"); kept != "" {
		fmt.Fprintf(&b, "On a fresh machine: `scripts/fresh-machine.sh --bench` removed the engine kit with its data (the engine, its cache, the image mirror and the stand-in images; %s), and ran this on a new clone, which built and started the kit first.\n", kept)
	}
	fmt.Fprintf(&b, "Times run from the `dagger call ... stack ... up --ports ...` command to all four services answering on their host ports, polled every 50 ms: Postgres runs a query, Redis answers PING, the backend's /health is ok, the frontend serves its page. Each `up` is stopped as a person stops it (Ctrl-C: SIGINT to the CLI), and the next one starts %s after the ports are free.\n\n", restartPause)
	fmt.Fprintf(&b, "| measurement | median | p90 | slowest | runs | target | reinstalled; what slow runs waited for |\n| --- | --- | --- | --- | --- | --- | --- |\n")

	// The machine's floor first: every start below is also a ratio to it.
	floorText, floor, floorCPU := floorSection(t)
	type start struct {
		name, target string
		s            series
	}
	var starts []start
	measure := func(name string, runs int, args func() []string, pw passwordsOf, p stackPorts, change func(run int)) series {
		return measureUps(t, name, runs, args, pw, p, change)
	}
	row := func(s series, name, target, floorTarget string) string {
		starts = append(starts, start{name, floorTarget, s})
		return s.row(name, target)
	}

	// The README's command as written, with the project's generated passwords.
	readme := func() []string { return stackArgs("", "examples/commandcenter", readmePorts, false) }
	env := urlsOf(t, context.Background(), "")
	readmePW := passwordsOf{passwordIn(t, env["DATABASE_URL"]), passwordIn(t, env["REDIS_URL"])}
	measure("warm-up", 1, readme, readmePW, readmePorts, nil)
	warm := measure("readme", warmRuns, readme, readmePW, readmePorts, nil)
	b.WriteString(row(warm, "warm `up`, the README's command (generated passwords)", "median at most 2.5 s, p90 at most 4 s", "at most 1.4"))

	given := func() []string { return stackArgs(project, src, ports, true) }
	measure("warm-up", 1, given, benchPasswords, ports, nil)
	givenWarm := measure("given", warmRuns, given, benchPasswords, ports, nil)
	b.WriteString(row(givenWarm, "warm `up`, passwords given", "", ""))
	b.WriteString(row(measure("backend change", changeRuns, given, benchPasswords, ports, func(run int) {
		appendLine(t, filepath.Join(src, "backend", "app", "main.py"), fmt.Sprintf("# bench change %d %d", run, time.Now().UnixNano()))
	}), "one backend source file changed", "at most 3 s, nothing reinstalled", ""))
	b.WriteString(row(measure("frontend change", changeRuns, given, benchPasswords, ports, func(run int) {
		appendLine(t, filepath.Join(src, "frontend", "src", "format.js"), fmt.Sprintf("// bench change %d %d", run, time.Now().UnixNano()))
	}), "one frontend source file changed", "at most 3 s, nothing reinstalled", ""))
	b.WriteString(row(measure("requirements change", 3, given, benchPasswords, ports, func(run int) {
		appendLine(t, filepath.Join(src, "backend", "requirements.txt"), fmt.Sprintf("# bench change %d %d", run, time.Now().UnixNano()))
	}), "requirements.txt changed", "(pip runs again)", ""))
	// A frontend folder with a large node_modules of the developer's own:
	// --src leaves it out, so it costs no upload.
	bulky := filepath.Join(src, "frontend", "node_modules", "bulky")
	if err := os.MkdirAll(bulky, 0o755); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 400; i++ {
		if err := os.WriteFile(filepath.Join(bulky, fmt.Sprintf("chunk%03d.bin", i)), make([]byte, 1<<20), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b.WriteString(row(measure("node_modules", changeRuns, given, benchPasswords, ports, nil),
		"warm `up` with 400 MB in frontend/node_modules", "as fast as without", ""))
	if err := os.RemoveAll(filepath.Join(src, "frontend", "node_modules")); err != nil {
		t.Fatal(err)
	}
	// Pruning the engine's cache deletes every cache volume no running
	// service holds: the data and passwords of every project on this engine,
	// not only the benchmark's. So the cold runs are asked for by name.
	const cold = "cold `up`: engine cache pruned, images in the mirror"
	var coldSteps []string
	if os.Getenv("BENCH_PRUNE") == "yes" {
		coldSeries := measure("cold", coldRuns, given, benchPasswords, ports, func(int) { pruneEngineCache(t) })
		b.WriteString(row(coldSeries, cold, "", ""))
		coldSteps = coldSeries.steps
	} else {
		t.Logf("%s: not measured; it deletes every project's data on this engine: run `make bench BENCH_PRUNE=yes` to measure it", cold)
		fmt.Fprintf(&b, "| %s | not measured | | | | | pruning deletes every project's data on the engine: `make bench BENCH_PRUNE=yes` measures it |\n", cold)
	}

	// Live reload: the stack under the watcher, edits saved one after the
	// other, each timed from the save to its effect on the host's port, or
	// in the open page of a real browser.
	live := startLive(t, "bench-live", stackPorts{25400, 25401, 25402, 25403}, 25409)
	var backendEdits, frontendEdits series
	for n := 1; n <= liveRuns; n++ {
		backendEdits.times = append(backendEdits.times, live.editBackend(t, n))
	}
	page := live.browser(t)
	for n := 1; n <= liveRuns; n++ {
		frontendEdits.times = append(frontendEdits.times, live.editFrontend(t, page, n))
	}
	stopUp(t, live.up)
	waitReleased(t, 25400, 25401, 25402, 25403, 25409)
	t.Logf("live backend edits: %v; frontend edits: %v", backendEdits.times, frontendEdits.times)
	b.WriteString(backendEdits.row("live reload (commandcenter-watch): a backend file saved, to its new answer on the backend's port", "at most 1 s"))
	b.WriteString(frontendEdits.row("live reload: a frontend file saved, to the open page (Chromium) showing it, without a reload", "at most 1 s"))

	// How Postgres's next start found it after a Ctrl-C of `up`.
	fmt.Fprintf(&b, "\n## Stops\n\nDagger v0.19.10 kills a session's services (SIGKILL) when `up` stops, so Postgres's next start recovers from a crash (\"database system was not properly shut down\": milliseconds for a dev database; no committed row is lost, and unlogged tables come back empty). Starts of the README's command above that recovered: %d of %d. A start that applies a new password (single-user mode, before the server) leaves the database shut down cleanly, and so does a Stack that stops because one of its services ended (a fast shutdown of Postgres; the tests module checks it).\n\n", warm.recovered, len(warm.times))
	b.WriteString("## Startup runs\n\n")
	b.WriteString("| measurement | runs (s) |\n| --- | --- |\n")
	fmt.Fprintf(&b, "| the README's command | %s |\n", joinDurations(warm.times))
	b.WriteString(floorText)
	b.WriteString("\nThe starts above as ratios to the floor's median (" + secs(floor) + "):\n\n| start | median / floor | p90 / floor | target |\n| --- | --- | --- | --- |\n")
	for _, st := range starts {
		fmt.Fprintf(&b, "| %s | %.2f | %.2f | %s |\n", st.name, float64(median(st.s.times))/float64(floor), float64(percentile(st.s.times, 90))/float64(floor), st.target)
	}
	b.WriteString("\nWhere the starts' time goes: the medians of each phase, from the spans the dagger CLI exported over OpenTelemetry to a sink in the benchmark (the module loaded, the tunnels asked for once the functions returned the service, the engine's check of the service's ports) and the poll of the host ports:\n\n")
	var names []string
	var phases [][][]time.Duration
	for _, st := range starts {
		names, phases = append(names, st.name), append(phases, st.s.phases)
	}
	b.WriteString(breakdown(names, phases))
	fmt.Fprintf(&b, "\nWhere the warm starts' CPU goes: the CPU time (seconds, all cores) each program used from the command to every service answering, read from /proc before and after, medians of the runs; the machine's busy time is all of it, and its share of the %d cores over the start says how much of the start waited for a core:\n\n", runtime.NumCPU())
	b.WriteString(cpuHeader())
	b.WriteString(floorCPU)
	b.WriteString(cpuRow("warm `up`, the README's command", warm.cpu))
	b.WriteString(cpuRow("warm `up`, passwords given", givenWarm.cpu))
	if len(coldSteps) > 0 {
		b.WriteString("\nThe cold starts' steps of a second or more, from the CLI's plain progress (a step's time includes what it waited for; the module's first call includes the Go SDK building the module):\n\n")
		for i, steps := range coldSteps {
			fmt.Fprintf(&b, "- run %d: %s\n", i+1, steps)
		}
	}
	b.WriteString("\n")
	b.WriteString(operateSection(t, src, ports))

	// The ports' cost: the same load through the Stack and through a lone
	// service forwarded directly, in the same run.
	direct := stackPorts{pg: 25210, redis: 25211}
	up, _ := upStack(t, project, src, ports, "")
	pgDirect := startUp(t, benchEnv, "call", "--project=bench-direct", "with-postgres", "--password=env:BENCH_PG", "postgres",
		"up", "--ports", fmt.Sprintf("%d:5432", direct.pg))
	rdDirect := startUp(t, benchEnv, "call", "--project=bench-direct", "with-redis", "--password=env:BENCH_REDIS", "redis",
		"up", "--ports", fmt.Sprintf("%d:6379", direct.redis))
	waitFor(t, "direct redis", 5*time.Minute, func() error { return redisPing(direct.redis, benchRedisPassword) })
	waitFor(t, "direct postgres", 5*time.Minute, func() error { return pgPing(direct.pg, benchPgPassword) })

	memory := stackMemory(t)
	// pgbench alternates between the two (see alternatePgbench).
	pgbenchInit(t, ports.pg)
	pgbenchInit(t, direct.pg)
	viaStack, viaDirect := alternatePgbench(t, ports.pg, direct.pg, proxyRounds)
	// redis-benchmark alternates the same way.
	rdStack, rdDirectRPS := map[string][]float64{}, map[string][]float64{}
	rdStackErrors, rdDirectErrors := 0, 0
	for round := 0; round < proxyRounds; round++ {
		order := []int{ports.redis, direct.redis}
		if round%2 == 1 {
			order = []int{direct.redis, ports.redis}
		}
		for _, port := range order {
			rps, errors := redisBench(t, port, "ping,set,get", 20000)
			into := rdDirectRPS
			if port == ports.redis {
				into = rdStack
				rdStackErrors += errors
			} else {
				rdDirectErrors += errors
			}
			for name, v := range rps {
				into[name] = append(into[name], v)
			}
		}
	}
	if rdStackErrors+rdDirectErrors != 0 {
		t.Errorf("redis-benchmark: %d errors through the Stack, %d direct", rdStackErrors, rdDirectErrors)
	}
	stopUp(t, pgDirect)
	stopUp(t, rdDirect)
	stopStack(t, up, ports)

	stackTPS, directTPS := medianOf(viaStack, tpsOf), medianOf(viaDirect, tpsOf)
	stackLat, directLat := medianOf(viaStack, medianLatencyOf), medianOf(viaDirect, medianLatencyOf)
	fmt.Fprintf(&b, "## The Stack's ports against a lone service\n\nThe same load through the Stack's forwarded port and through a lone service forwarded directly (Redis persistent in both), in the same run. The Stack's 5432 and 6379 are Postgres and Redis themselves, both in the Stack's front container: nothing in between. pgbench and redis-benchmark run %d times on each, alternating; the table shows medians (latency: the median transaction of each run, then the median of the runs).\n\n", proxyRounds)
	fmt.Fprintf(&b, "| load | via the Stack | direct | Stack / direct | target |\n| --- | --- | --- | --- | --- |\n")
	fmt.Fprintf(&b, "| pgbench -S, 8 clients, %d s: TPS (runs: %s / %s) | %.0f | %.0f | %.1f%% | at least 95%% |\n",
		pgbenchSeconds, joinFloats(viaStack, tpsOf), joinFloats(viaDirect, tpsOf), stackTPS, directTPS, 100*stackTPS/directTPS)
	fmt.Fprintf(&b, "| pgbench -S: median latency | %.3f ms | %.3f ms | %+.3f ms | at most +1 ms |\n", stackLat, directLat, stackLat-directLat)
	for _, name := range []string{"PING_INLINE", "PING_MBULK", "SET", "GET"} {
		if len(rdStack[name]) == 0 || len(rdDirectRPS[name]) == 0 {
			continue
		}
		viaStack, viaDirect := medianFloat(rdStack[name]), medianFloat(rdDirectRPS[name])
		fmt.Fprintf(&b, "| redis-benchmark %s, 50 clients: requests/s (runs: %s / %s) | %.0f | %.0f | %.1f%% | at least 90%% |\n",
			name, joinRates(rdStack[name]), joinRates(rdDirectRPS[name]), viaStack, viaDirect, 100*viaStack/viaDirect)
	}
	if pgbenchStalls > 0 {
		fmt.Fprintf(&b, "\n%d pgbench run(s) stalled on a connection through the CLI's port forwarding and were run again.\n", pgbenchStalls)
	}
	fmt.Fprintf(&b, "\n## Memory of the running stack\n\n%s\n", memory)
	b.WriteString(manyProjectsSection(t, src))
	b.WriteString(bigRepoSection(t))
	b.WriteString(heavyBackendSection(t))
	b.WriteString(sharedEngineSection(t, src))
	writeResults(t, "results.md", b.String())
}

// alternatePgbench runs pgbench -S (8 clients, pgbenchSeconds) rounds times
// on each of ports a and b, alternating and switching the order every
// round, so that neither gets the quieter moments of the machine.
func alternatePgbench(t *testing.T, a, b, rounds int) (viaA, viaB []pgbenchResult) {
	t.Helper()
	load := []string{"-S", "-c", "8", "-j", "2", "-T", strconv.Itoa(pgbenchSeconds)}
	for round := 0; round < rounds; round++ {
		order := []int{a, b}
		if round%2 == 1 {
			order = []int{b, a}
		}
		for _, port := range order {
			r := pgbenchRun(t, port, load...)
			if port == a {
				viaA = append(viaA, r)
			} else {
				viaB = append(viaB, r)
			}
		}
	}
	return viaA, viaB
}

// passwordIn is the password of a URL.
func passwordIn(t *testing.T, raw string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	pw, ok := u.User.Password()
	if !ok {
		t.Fatalf("no password in %s", u.Redacted())
	}
	return pw
}

// percentile is the p-th percentile of ds (nearest rank).
func percentile(ds []time.Duration, p int) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	rank := (p*len(s) + 99) / 100
	return s[max(rank, 1)-1]
}

func tpsOf(r pgbenchResult) float64           { return r.TPS }
func medianLatencyOf(r pgbenchResult) float64 { return r.MedianLatencyMs }

// figures is one figure of each pgbench run.
func figures(rs []pgbenchResult, figure func(pgbenchResult) float64) []float64 {
	vs := make([]float64, len(rs))
	for i, r := range rs {
		vs[i] = figure(r)
	}
	return vs
}

// medianOf is the median of one figure of pgbench runs.
func medianOf(rs []pgbenchResult, figure func(pgbenchResult) float64) float64 {
	return medianFloat(figures(rs, figure))
}

func joinFloats(rs []pgbenchResult, figure func(pgbenchResult) float64) string {
	return joinRates(figures(rs, figure))
}

// medianFloat is the median of vs.
func medianFloat(vs []float64) float64 {
	vs = slices.Clone(vs)
	sort.Float64s(vs)
	if len(vs)%2 == 0 {
		return (vs[len(vs)/2-1] + vs[len(vs)/2]) / 2
	}
	return vs[len(vs)/2]
}

// joinRates prints vs rounded, in order.
func joinRates(vs []float64) string {
	parts := make([]string, len(vs))
	for i, v := range vs {
		parts[i] = fmt.Sprintf("%.0f", v)
	}
	return strings.Join(parts, ", ")
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
	engine, ok := enginePID()
	if !ok {
		return "Not measured: no engine of the kit's runs here (" + enginePIDFile() + ").\n"
	}
	tree := processTree(engine)
	total := 0
	for _, pid := range tree {
		total += rssKiB(pid)
	}
	return fmt.Sprintf("| what | resident memory |\n| --- | --- |\n| the engine process | %.0f MiB |\n| the engine and everything it runs (%d processes: the stack's containers, runc, dnsmasq) | %.0f MiB |\n",
		float64(rssKiB(engine))/1024, len(tree), float64(total)/1024)
}

func enginePIDFile() string { return filepath.Join(kitDir(), "run", "engine.pid") }

// enginePID is the kit's engine's process, if one runs.
func enginePID() (int, bool) {
	data, err := os.ReadFile(enginePIDFile())
	if err != nil {
		return 0, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	return pid, err == nil && pid > 0
}

// processTree is root and every process under it, from /proc.
func processTree(root int) []int {
	children := map[int][]int{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if fields := statFields(pid); len(fields) > 1 {
			ppid, _ := strconv.Atoi(fields[1])
			children[ppid] = append(children[ppid], pid)
		}
	}
	var tree []int
	var walk func(int)
	walk = func(pid int) {
		tree = append(tree, pid)
		for _, c := range children[pid] {
			walk(c)
		}
	}
	walk(root)
	return tree
}

// statFields are the fields of /proc/PID/stat after the command's name:
// state first, then ppid, ... (proc(5) numbers them from 3).
func statFields(pid int) []string {
	_, fields := procStat(pid)
	return fields
}

// procStat is a process's command name and the fields of its
// /proc/PID/stat after it (statFields); nil fields when it has ended.
func procStat(pid int) (comm string, fields []string) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return "", nil
	}
	text := string(stat)
	open, closing := strings.IndexByte(text, '('), strings.LastIndexByte(text, ')')
	if open < 0 || closing < open {
		return "", nil
	}
	return text[open+1 : closing], strings.Fields(text[closing+1:])
}

// rssKiB is a process's resident set size.
func rssKiB(pid int) int { return procNumber(fmt.Sprintf("/proc/%d/status", pid), "VmRSS:") }
