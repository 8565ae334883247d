//go:build bench

package hosttest

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// manyStacks is how many projects' stacks run at once at most, and
// manyCounts the numbers of running stacks the resources are measured at.
const manyStacks = 8

var manyCounts = []int{1, 2, 4, 8}

// manyRuns is how many times the last stack starts at each of manyCounts
// (stopped and started again, as a person restarts it) while the others
// run: one start alone swings with what the machine does at that moment.
const manyRuns = 5

// idleSettle is how long the running stacks are left alone before their
// idle resources are read, and idleWindow how long their CPU is counted.
const (
	idleSettle = 10 * time.Second
	idleWindow = 10 * time.Second
)

// userHZ is the unit of /proc/PID/stat's CPU times on Linux.
const userHZ = 100

// manyPorts are the host ports of the i-th of the many projects' stacks.
func manyPorts(i int) stackPorts {
	base := 26000 + 10*i
	return stackPorts{base, base + 1, base + 2, base + 3}
}

// usage is the resources the engine (with everything it runs) and the
// CLIs of the running `up`s hold: their proportional set size (PSS: a page
// shared by several processes, as Postgres's shared buffers are, counts
// once in all), and the machine's MemAvailable.
type usage struct {
	engineKiB, cliKiB, availableKiB int
	// cpu is the share of one core the same processes used over
	// idleWindow.
	cpu float64
}

// measureUsage reads the resident memory of the engine's process tree and
// of the CLIs' process groups, then counts their CPU time over idleWindow.
func measureUsage(t *testing.T, ups []*upProc) usage {
	t.Helper()
	engine, ok := enginePID()
	if !ok {
		t.Fatalf("no engine of the kit's runs here (%s): the many-projects rows read its processes", enginePIDFile())
	}
	var clis []int
	for _, up := range ups {
		clis = append(clis, processTree(up.cmd.Process.Pid)...)
	}
	u := usage{availableKiB: memAvailableKiB()}
	for _, pid := range processTree(engine) {
		u.engineKiB += pssKiB(pid)
	}
	for _, pid := range clis {
		u.cliKiB += pssKiB(pid)
	}
	ticks := func() int {
		total := 0
		for _, pid := range append(processTree(engine), clis...) {
			if f := statFields(pid); len(f) > 12 {
				utime, _ := strconv.Atoi(f[11])
				stime, _ := strconv.Atoi(f[12])
				total += utime + stime
			}
		}
		return total
	}
	before, start := ticks(), time.Now()
	time.Sleep(idleWindow)
	used := ticks() - before
	u.cpu = float64(used) / userHZ / time.Since(start).Seconds()
	return u
}

// memAvailableKiB is the machine's MemAvailable.
func memAvailableKiB() int { return procNumber("/proc/meminfo", "MemAvailable:") }

// pssKiB is a process's proportional set size.
func pssKiB(pid int) int { return procNumber(fmt.Sprintf("/proc/%d/smaps_rollup", pid), "Pss:") }

// procNumber is the first number of the line of a /proc file that starts
// with name (a figure in kB of status, meminfo and smaps_rollup, the soft
// limit of limits); 0 when there is none.
func procNumber(file, name string) int {
	data, err := os.ReadFile(file)
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, name); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				v, _ := strconv.Atoi(f[0])
				return v
			}
		}
	}
	return 0
}

// manyProjectsSection runs the stacks of manyStacks projects of the example
// (src) on one engine, one more at a time, each started warm while the
// others run, and reads memory and idle CPU at manyCounts: what a hub that
// runs many projects on one machine pays for each.
func manyProjectsSection(t *testing.T, src string) string {
	t.Helper()
	var ports []int
	for i := range manyStacks {
		p := manyPorts(i)
		ports = append(ports, p.pg, p.redis, p.backend, p.frontend)
	}
	requireFree(t, ports...)
	project := func(i int) string { return fmt.Sprintf("bench-many-%d", i+1) }
	// Each project's first start creates its data; the starts measured
	// below are warm, as a developer's next `up` is.
	for i := range manyStacks {
		up, _ := upStack(t, project(i), src, manyPorts(i), "")
		stopStack(t, up, manyPorts(i))
		time.Sleep(restartPause)
	}
	before := measureUsage(t, nil)
	type point struct {
		n      int
		starts []time.Duration
		use    usage
	}
	var points []point
	var starts []time.Duration
	var ups []*upProc
	up := func(i int) (*upProc, time.Duration) {
		start := time.Now()
		proc := startUp(t, benchEnv, append([]string{"--progress=plain"}, stackArgs(project(i), src, manyPorts(i), true)...)...)
		r := waitStackReady(t, proc, manyPorts(i), benchPasswords, start, 15*time.Minute)
		t.Logf("stack %d of %d up in %s", i+1, manyStacks, secs(r.total))
		return proc, r.total
	}
	for i := range manyStacks {
		last, took := up(i)
		starts = append(starts, took)
		if !slices.Contains(manyCounts, i+1) {
			ups = append(ups, last)
			continue
		}
		runs := []time.Duration{took}
		for len(runs) < manyRuns {
			stopStack(t, last, manyPorts(i))
			time.Sleep(restartPause)
			last, took = up(i)
			runs = append(runs, took)
		}
		ups = append(ups, last)
		time.Sleep(idleSettle)
		points = append(points, point{i + 1, runs, measureUsage(t, ups)})
		t.Logf("%d stacks: %+v", i+1, points[len(points)-1].use)
	}
	for i, up := range ups {
		stopStack(t, up, manyPorts(i))
	}

	var b strings.Builder
	fmt.Fprintf(&b, "\n## Many projects on one engine\n\n")
	fmt.Fprintf(&b, "The example's stack of %d projects (`--project=bench-many-N`, ports of their own, passwords given) on one engine, started one more at a time, each warm (its project's data made by an earlier start) while the others run, as a hub starts its instances. When the count reaches %s, the last stack is stopped and started again (a pause of %s between, as a person restarts it) until it has started %d times, the figure being their median and p90; then the stacks are left idle for %s; then the memory of the engine with everything it runs (the stacks' containers) and of the `dagger` CLIs that hold the `up`s is read as their proportional set size (PSS: a page several processes share counts once), with the machine's MemAvailable, and their CPU time is counted over %s. With no stack running, the engine holds %.0f MiB and uses %.1f%% of a core.\n\n",
		manyStacks, joinInts(manyCounts), restartPause, manyRuns, idleSettle, idleWindow, float64(before.engineKiB)/1024, 100*before.cpu)
	b.WriteString("| stacks running | warm start of the last one, median | p90 | its median's ratio to the first's | engine and stacks (PSS) | the CLIs (PSS) | per stack, PSS over the engine alone | per stack, MemAvailable taken | idle CPU, all (% of a core) | idle CPU per stack | targets |\n| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n")
	for _, p := range points {
		perStack := float64(p.use.engineKiB+p.use.cliKiB-before.engineKiB) / float64(p.n) / 1024
		taken := float64(before.availableKiB-p.use.availableKiB) / float64(p.n) / 1024
		target := ""
		if p.n == manyStacks {
			target = "start (median) at most 1.5x the first's; each extra stack at most 300 MB; idle CPU at most 5% a stack"
		}
		fmt.Fprintf(&b, "| %d | %s | %s | %.2f | %.0f MiB | %.0f MiB | %.0f MiB | %.0f MiB | %.1f%% | %.1f%% | %s |\n",
			p.n, secs(median(p.starts)), secs(percentile(p.starts, 90)), float64(median(p.starts))/float64(median(points[0].starts)), float64(p.use.engineKiB)/1024, float64(p.use.cliKiB)/1024,
			perStack, taken, 100*p.use.cpu, 100*(p.use.cpu-before.cpu)/float64(p.n), target)
	}
	last := points[len(points)-1]
	perStackKiB := max((before.availableKiB-last.use.availableKiB)/last.n, (last.use.engineKiB+last.use.cliKiB-before.engineKiB)/last.n)
	fmt.Fprintf(&b, "\nThe first start of each stack, in order (s): %s.", joinDurations(starts))
	for _, p := range points {
		fmt.Fprintf(&b, " The %d starts of stack %d (s): %s.", len(p.starts), p.n, joinDurations(p.starts))
	}
	b.WriteString("\n\n")
	if perStackKiB > 0 {
		more := last.use.availableKiB / perStackKiB
		fmt.Fprintf(&b, "With %d stacks running, the machine had %.1f GiB available (MemAvailable). At %.0f MiB a stack (the larger of the two per-stack figures), memory runs out after about %d more, %d in all, while the CPU at idle would allow about %.0f stacks on %d cores. Not run to that point: an estimate from the figures above.\n",
			last.n, float64(last.use.availableKiB)/(1<<20), float64(perStackKiB)/1024, more, last.n+more,
			float64(runtime.NumCPU())/max((last.use.cpu-before.cpu)/float64(last.n), 0.001), runtime.NumCPU())
	}
	return b.String()
}

// TestBenchmarkManyProjects measures the many-projects rows alone (make
// bench measures them with everything else); it writes no results.
func TestBenchmarkManyProjects(t *testing.T) {
	t.Log(manyProjectsSection(t, copyExample(t)))
}

func joinInts(xs []int) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = strconv.Itoa(x)
	}
	return strings.Join(parts, ", ")
}

// Big repositories: the example with bulkBigFiles files of bulkBigSize
// under data/ and bulkSmallFiles small files under docs/ and hub/ beside
// its service folders, against the plain example, in the same run.
const (
	bulkBigFiles   = 2000
	bulkBigSize    = 1 << 20
	bulkSmallFiles = 10000
	bigRuns        = 6
	bigFirstRuns   = 2
)

// bigRepoSection measures the first and warm `up`s of a project whose
// --src holds much more than its stack reads, against the plain example,
// alternating.
func bigRepoSection(t *testing.T) string {
	t.Helper()
	ports := stackPorts{25600, 25601, 25602, 25603}
	requireFree(t, ports.pg, ports.redis, ports.backend, ports.frontend)
	plain := copyExample(t)
	big := copyExample(t)
	made := time.Now()
	addBulk(t, big, bulkBigFiles, bulkBigSize, bulkSmallFiles)
	t.Logf("made the big tree in %s", secs(time.Since(made)))
	// A first `up` is the first of its folder: the engine has synced no
	// file of it yet (copies of the same trees, hard-linked, at new paths).
	copyOf := func(dir string, n int) string {
		dst := fmt.Sprintf("%s-first-%d", dir, n)
		if out, err := exec.Command("cp", "-al", dir, dst).CombinedOutput(); err != nil {
			t.Fatalf("copy %s: %v\n%s", dir, err, out)
		}
		t.Cleanup(func() { _ = os.RemoveAll(dst) })
		return dst
	}
	args := func(src string) func() []string {
		return func() []string { return stackArgs("bench-big", src, ports, true) }
	}
	var firstPlain, firstBig, warmPlain, warmBig series
	for n := range bigFirstRuns {
		firstPlain.add(measureUps(t, "first plain", 1, args(copyOf(plain, n)), benchPasswords, ports, nil))
		firstBig.add(measureUps(t, "first big", 1, args(copyOf(big, n)), benchPasswords, ports, nil))
	}
	measureUps(t, "warm-up plain", 1, args(plain), benchPasswords, ports, nil)
	measureUps(t, "warm-up big", 1, args(big), benchPasswords, ports, nil)
	for range bigRuns {
		warmPlain.add(measureUps(t, "warm plain", 1, args(plain), benchPasswords, ports, nil))
		warmBig.add(measureUps(t, "warm big", 1, args(big), benchPasswords, ports, nil))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\n## Big repositories\n\n")
	fmt.Fprintf(&b, "The example with %d files of %d MiB under `data/` and %d small files under `docs/` and `hub/` beside its service folders (none of which the stack reads), against the plain example, `up` alternating between the two, passwords given. A first `up` is the first of a folder the engine has never synced (a new hard-linked copy of the same tree each time); the builds are the example's, cached.\n\n",
		bulkBigFiles, bulkBigSize>>20, bulkSmallFiles)
	if limit := engineOpenFiles(); limit != "" {
		fmt.Fprintf(&b, "%d small files, not the 100,000 of a large working copy: the engine holds files of an upload open as it receives them, and this machine's engine may hold %s (the kit asks for 1048576, as Docker gives Dagger's engine, and this machine does not allow it); a first upload of 100,000 files failed here with \"too many open files\".\n\n", bulkSmallFiles, limit)
	}
	b.WriteString("| measurement | median | p90 | slowest | runs | target | reinstalled |\n| --- | --- | --- | --- | --- | --- | --- |\n")
	b.WriteString(firstPlain.row("first `up`, the plain example", ""))
	b.WriteString(firstBig.row("first `up`, the big tree", "within 20% of the plain example's"))
	b.WriteString(warmPlain.row("warm `up`, the plain example", ""))
	b.WriteString(warmBig.row("warm `up`, the big tree", "within 10% of the plain example's"))
	fmt.Fprintf(&b, "\nBig against plain (medians): first `up` %.2fx, warm `up` %.2fx. Runs (s): first plain %s; first big %s; warm plain %s; warm big %s.\n\n",
		float64(median(firstBig.times))/float64(median(firstPlain.times)), float64(median(warmBig.times))/float64(median(warmPlain.times)),
		joinDurations(firstPlain.times), joinDurations(firstBig.times), joinDurations(warmPlain.times), joinDurations(warmBig.times))
	b.WriteString(breakdown([]string{"first `up`, plain", "first `up`, big", "warm `up`, plain", "warm `up`, big"},
		[][][]time.Duration{firstPlain.phases, firstBig.phases, warmPlain.phases, warmBig.phases}))
	return b.String()
}

// TestBenchmarkBigRepository measures the big-repository rows alone (make
// bench measures them with everything else); it writes no results.
func TestBenchmarkBigRepository(t *testing.T) {
	t.Log(bigRepoSection(t))
}

// engineOpenFiles is the kit's engine's limit of open files when it is
// under the 1048576 the kit asks for, else "".
func engineOpenFiles() string {
	pid, ok := enginePID()
	if !ok {
		return ""
	}
	if n := procNumber(fmt.Sprintf("/proc/%d/limits", pid), "Max open files"); n > 0 && n < 1048576 {
		return strconv.Itoa(n)
	}
	return ""
}
