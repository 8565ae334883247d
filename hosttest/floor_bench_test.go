//go:build bench

package hosttest

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

// floorRuns are the starts of each side of the floor's comparison.
const floorRuns = 8

// floorPassword is the floor's and the lone Postgres's password.
const floorPassword = "bench-floor-password-7c1e2"

// floorArgs start the machine's floor: the same Postgres image started by
// Dagger alone, with a cache volume for its data and no module, forwarded
// as `up` forwards the module's. A module's start cannot be faster than
// this on the machine, so the module's figures are stated as ratios to it,
// which hold from one machine to another where seconds do not.
func floorArgs(port int) []string {
	return []string{"--progress=plain", "core", "container", "from", "--address=postgres:17-trixie",
		"with-env-variable", "--name=POSTGRES_USER", "--value=commandcenter",
		"with-env-variable", "--name=POSTGRES_DB", "--value=commandcenter",
		"with-env-variable", "--name=POSTGRES_PASSWORD", "--value=" + floorPassword,
		"with-mounted-cache", "--path=/var/lib/postgresql/data", "--cache=commandcenter-bench-floor-pgdata",
		"with-exposed-port", "--port=5432",
		"as-service", "up", "--ports", fmt.Sprintf("%d:5432", port)}
}

// moduleFloorArgs start the same Postgres from the smallest module
// (hosttest/floormodule): what any module adds to a start.
func moduleFloorArgs(port int) []string {
	return []string{"--progress=plain", "call", "-m", "hosttest/floormodule", "postgres", "--password=env:FLOOR_PG",
		"up", "--ports", fmt.Sprintf("%d:5432", port)}
}

// lonePostgresArgs start the module's Postgres alone, as the README does.
func lonePostgresArgs(port int) []string {
	return []string{"--progress=plain", "call", "--project=bench-floor", "with-postgres", "--password=env:FLOOR_PG",
		"postgres", "up", "--ports", fmt.Sprintf("%d:5432", port)}
}

// timePostgresUp runs args with dagger, times it to a query on port, and
// stops it as a person does; with the start's phases and where its CPU
// went.
func timePostgresUp(t *testing.T, args []string, port int) (time.Duration, []time.Duration, cpuUse) {
	t.Helper()
	before, start := takeCPU(), time.Now()
	up := startUp(t, append([]string{"FLOOR_PG=" + floorPassword}, traceEnv(t)...), args...)
	deadline := start.Add(10 * time.Minute)
	for pgPing(port, floorPassword) != nil {
		if time.Now().After(deadline) {
			t.Fatalf("postgres on port %d did not answer within 10 minutes:\n%s", port, tail(up.log.String(), 30))
		}
		time.Sleep(50 * time.Millisecond)
	}
	took := time.Since(start)
	cpu := cpuBetween(before, takeCPU(), took, os.Getpid())
	stopUp(t, up)
	// The CLI has sent its spans as it exited.
	phases := phasesOf(sink.since(start), start, start.Add(took))
	waitReleased(t, port)
	time.Sleep(restartPause)
	return took, phases, cpu
}

// floorSection measures the floor and the module's lone Postgres, warm,
// alternating, and returns the results' section, the floor's median, and
// the rows of where their CPU went (cpuRow).
func floorSection(t *testing.T) (string, time.Duration, string) {
	const port = 25220
	requireFree(t, port)
	// Warm them all: the image, the volume's database, the modules.
	timePostgresUp(t, floorArgs(port), port)
	timePostgresUp(t, moduleFloorArgs(port), port)
	timePostgresUp(t, lonePostgresArgs(port), port)
	var floor, modFloor, lone []time.Duration
	var floorPhases, modPhases, lonePhases [][]time.Duration
	var floorCPU, modCPU, loneCPU []cpuUse
	for range floorRuns {
		d, phases, cpu := timePostgresUp(t, floorArgs(port), port)
		floor, floorPhases, floorCPU = append(floor, d), append(floorPhases, phases), append(floorCPU, cpu)
		d, phases, cpu = timePostgresUp(t, moduleFloorArgs(port), port)
		modFloor, modPhases, modCPU = append(modFloor, d), append(modPhases, phases), append(modCPU, cpu)
		d, phases, cpu = timePostgresUp(t, lonePostgresArgs(port), port)
		lone, lonePhases, loneCPU = append(lone, d), append(lonePhases, phases), append(loneCPU, cpu)
	}
	t.Logf("floor: %v", floor)
	t.Logf("module floor: %v", modFloor)
	t.Logf("lone postgres: %v", lone)
	var b strings.Builder
	fmt.Fprintf(&b, "\n## The machine's floor\n\n")
	fmt.Fprintf(&b, "The same Postgres image started by Dagger alone (`dagger core container from ... with-mounted-cache ... as-service up --ports`), with a cache volume and no module, warm, to a query on the host port; and the module's Postgres alone (`dagger call with-postgres --password=env:... postgres up --ports`), and between them the same Postgres returned by the smallest Go module (hosttest/floormodule), alternating, %d runs each. Every start figure of this file is also given as a ratio to the floor's median.\n\n", floorRuns)
	fmt.Fprintf(&b, "| measurement | median | p90 | slowest | ratio to the floor (median, p90) | target | runs (s) |\n| --- | --- | --- | --- | --- | --- | --- |\n")
	fm := median(floor)
	fmt.Fprintf(&b, "| the floor: Postgres started by Dagger alone | %s | %s | %s | 1.00 |  | %s |\n", secs(fm), secs(percentile(floor, 90)), secs(slices.Max(floor)), joinDurations(floor))
	fmt.Fprintf(&b, "| the same Postgres from the smallest module (hosttest/floormodule: one function) | %s | %s | %s | %s |  | %s |\n", secs(median(modFloor)), secs(percentile(modFloor, 90)), secs(slices.Max(modFloor)),
		ratios(modFloor, fm), joinDurations(modFloor))
	fmt.Fprintf(&b, "| the module's Postgres alone (`postgres up`) | %s | %s | %s | %s | at most 1.15 | %s |\n", secs(median(lone)), secs(percentile(lone, 90)), secs(slices.Max(lone)),
		ratios(lone, fm), joinDurations(lone))
	fmt.Fprintf(&b, "\nThe module's Postgres alone against the smallest module's: %s (median, p90).\n", ratios(lone, median(modFloor)))
	b.WriteString("\nWhere their time goes (medians; the floor's first phase is the core API's types, with no module):\n\n")
	b.WriteString(breakdown([]string{"the floor", "the smallest module", "the module's Postgres alone"}, [][][]time.Duration{floorPhases, modPhases, lonePhases}))
	cpu := cpuRow("the floor", floorCPU) + cpuRow("the smallest module", modCPU) + cpuRow("the module's Postgres alone", loneCPU)
	return b.String(), fm, cpu
}

// ratios are the median and p90 of ds as ratios to floor.
func ratios(ds []time.Duration, floor time.Duration) string {
	return fmt.Sprintf("%.2f, %.2f", float64(median(ds))/float64(floor), float64(percentile(ds, 90))/float64(floor))
}

// TestBenchmarkFloor measures the floor alone (make bench measures it
// first, with everything else); it writes no results.
func TestBenchmarkFloor(t *testing.T) {
	section, _, cpu := floorSection(t)
	t.Log(section)
	t.Log("\n" + cpuHeader() + cpu)
}
