//go:build bench

package hosttest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// sharedRuns is how many warm starts each side of the shared-engine
// comparison gets, alternating.
const sharedRuns = 8

// sharedEngineSection measures, in one run, the same stack through a
// shared engine and through the engine's own socket: warm `up` and pgbench.
// Both CLIs run on a developer host (a network namespace joined to this
// machine by a veth pair): one reaches the engine at its tcp:// address on
// the pair, the other through its unix socket, as on the engine's machine.
func sharedEngineSection(t *testing.T, src string) string {
	t.Helper()
	head := "\n## A shared engine\n\n"
	if why := engineRestartsRefused(); why != "" {
		t.Logf("shared engine: not measured: %s", why)
		return head + "Not measured: " + why + " (`make bench BENCH_PRUNE=yes COMMANDCENTER_ENGINE_TESTS=yes`).\n"
	}
	h := newDevHost(t, "ccdev3", 3)
	restartEngine(t, "KIT_ENGINE_TCP="+h.engineIP+":7443")
	defer restartEngine(t, "KIT_ENGINE_TCP=")
	out := filepath.Join(t.TempDir(), "shared.md")
	cmd := exec.Command("ip", "netns", "exec", h.name, os.Args[0], "-test.run=^TestSharedEngineFigures$", "-test.v", "-test.timeout=40m")
	cmd.Env = append(os.Environ(), "SHARED_BENCH_OUT="+out, "SHARED_BENCH_SRC="+src,
		"SHARED_BENCH_RUNNER=tcp://"+h.engineIP+":7443")
	log, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the measurements on the developer host: %v\n%s", err, tail(string(log), 40))
	}
	table, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return head + string(table)
}

// TestSharedEngineFigures is what sharedEngineSection runs on the developer
// host: it writes its table to SHARED_BENCH_OUT.
func TestSharedEngineFigures(t *testing.T) {
	out, src, runner := os.Getenv("SHARED_BENCH_OUT"), os.Getenv("SHARED_BENCH_SRC"), os.Getenv("SHARED_BENCH_RUNNER")
	if out == "" {
		t.Skip("run by TestBenchmarkStack on a developer host")
	}
	remoteEnv := append(slices.Clone(benchEnv), "_EXPERIMENTAL_DAGGER_RUNNER_HOST="+runner)
	localEnv := slices.Clone(benchEnv)
	ports := stackPorts{25500, 25501, 25502, 25503}
	args := func() []string { return stackArgs("bench-shared", src, ports, true) }

	// Warm starts, alternating, after one of each to warm up.
	var remote, local series
	measureUpsWith(t, remoteEnv, "remote warm-up", 1, args, benchPasswords, ports, nil)
	measureUpsWith(t, localEnv, "local warm-up", 1, args, benchPasswords, ports, nil)
	for run := 0; run < sharedRuns; run++ {
		r := measureUpsWith(t, remoteEnv, "remote", 1, args, benchPasswords, ports, nil)
		l := measureUpsWith(t, localEnv, "local", 1, args, benchPasswords, ports, nil)
		remote.times = append(remote.times, r.times...)
		local.times = append(local.times, l.times...)
		remote.slow = append(remote.slow, r.slow...)
		local.slow = append(local.slow, l.slow...)
	}

	// pgbench on a stack of each at once (two projects), alternating.
	remotePorts := stackPorts{25510, 25511, 25512, 25513}
	upRemote := startUp(t, remoteEnv, stackArgs("bench-shared", src, remotePorts, true)...)
	upLocal := startUp(t, localEnv, stackArgs("bench-shared-local", src, ports, true)...)
	waitStackReady(t, upRemote, remotePorts, benchPasswords, time.Now(), 10*time.Minute)
	waitStackReady(t, upLocal, ports, benchPasswords, time.Now(), 10*time.Minute)
	pgbenchInit(t, remotePorts.pg)
	pgbenchInit(t, ports.pg)
	viaRemote, viaLocal := alternatePgbench(t, remotePorts.pg, ports.pg, proxyRounds/2)
	stopStack(t, upRemote, remotePorts)
	stopStack(t, upLocal, ports)

	var b strings.Builder
	fmt.Fprintf(&b, "The CLI on a developer host (a network namespace joined to the engine's machine by a veth pair, about 0.05 ms away: a real network adds its round trips) runs the same stack through the engine's `tcp://` address (`KIT_ENGINE_TCP`), and through the engine's unix socket as on the engine's own machine, alternating, in the same run; `up --ports` listens on the developer host's loopback either way.\n\n")
	fmt.Fprintf(&b, "| measurement | median | p90 | slowest | runs | target | what slow runs waited for |\n| --- | --- | --- | --- | --- | --- | --- |\n")
	b.WriteString(remote.row("warm `up`, passwords given: through `tcp://`", ""))
	b.WriteString(local.row("warm `up`, passwords given: through the socket", ""))
	rTPS, lTPS := medianOf(viaRemote, tpsOf), medianOf(viaLocal, tpsOf)
	rLat, lLat := medianOf(viaRemote, medianLatencyOf), medianOf(viaLocal, medianLatencyOf)
	fmt.Fprintf(&b, "\n| load | through `tcp://` | through the socket | tcp / socket |\n| --- | --- | --- | --- |\n")
	fmt.Fprintf(&b, "| pgbench -S, 8 clients, %d s: TPS (runs: %s / %s) | %.0f | %.0f | %.1f%% |\n",
		pgbenchSeconds, joinFloats(viaRemote, tpsOf), joinFloats(viaLocal, tpsOf), rTPS, lTPS, 100*rTPS/lTPS)
	fmt.Fprintf(&b, "| pgbench -S: median latency | %.3f ms | %.3f ms | %+.3f ms |\n", rLat, lLat, rLat-lLat)
	if err := os.WriteFile(out, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}
