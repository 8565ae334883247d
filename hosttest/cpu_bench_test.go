//go:build bench

package hosttest

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// Where a start's CPU goes: every process's CPU time read from /proc at
// the command's start and again when every service answers, summed by the
// program it belongs to. A process that began and ended in between (the
// runs of runc and of the engine's network plugins) is in none of them:
// "other" is the machine's busy time that no process used (interrupts,
// and those processes). Reaped children's time is left out on purpose:
// the engine reaps a stopped container's runc with the whole container's
// time in it, which the start before used.

// cpuGroups are the programs a start's CPU is summed by, in the results'
// order.
var cpuGroups = []string{"the dagger CLI", "the engine", "runc and the containers' init", "the module's supervisors",
	"Postgres", "Redis", "the backend (Python)", "the frontend (npm, Vite)", "the benchmark's checks", "the kernel's threads", "other: interrupts, and processes that began and ended in the start (runc's runs, the network plugins)"}

// cpuOther is the group of what no named program used.
var cpuOther = cpuGroups[len(cpuGroups)-1]

// cpuGroupOf names a process's program by its command name; "" when the
// name does not tell (a shell, a helper), and its parent's then counts.
func cpuGroupOf(comm string) string {
	switch {
	case comm == "dagger":
		return "the dagger CLI"
	case comm == "engine" || comm == "dnsmasq":
		return "the engine"
	case comm == "runc" || comm == ".init":
		return "runc and the containers' init"
	case strings.HasPrefix(comm, "commandcenter-s"):
		return "the module's supervisors"
	case comm == "postgres" || strings.HasPrefix(comm, "commandcenter-p") || strings.HasPrefix(comm, "docker-entrypoi") || comm == "gosu":
		return "Postgres"
	case strings.HasPrefix(comm, "redis-server") || strings.HasPrefix(comm, "ld-linux"):
		return "Redis"
	case strings.HasPrefix(comm, "python") || comm == "uvicorn":
		return "the backend (Python)"
	case strings.HasPrefix(comm, "npm") || comm == "node" || comm == "MainThread" || comm == "esbuild" || comm == "vite":
		return "the frontend (npm, Vite)"
	}
	return ""
}

// procCPU is one process's own CPU time so far, in clock ticks.
type procCPU struct {
	comm  string
	ppid  int
	start string // its start time since boot: a PID used again is another process
	own   int
}

// cpuSnap is every process's CPU time, and the machine's busy time (all
// cores), at one moment.
type cpuSnap struct {
	procs map[int]procCPU
	busy  int
}

func takeCPU() cpuSnap {
	s := cpuSnap{procs: map[int]procCPU{}}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		comm, f := procStat(pid)
		if len(f) < 20 {
			continue
		}
		n := func(i int) int { v, _ := strconv.Atoi(f[i]); return v }
		s.procs[pid] = procCPU{comm: comm, ppid: n(1), start: f[19], own: n(11) + n(12)}
	}
	if data, err := os.ReadFile("/proc/stat"); err == nil {
		line, _, _ := strings.Cut(string(data), "\n")
		// user nice system idle iowait irq softirq steal guest guest_nice:
		// busy is all but idle and iowait; a guest's time is in user's and
		// nice's already, and steal is the hypervisor's.
		for i, v := range strings.Fields(line)[1:] {
			if i < 7 && i != 3 && i != 4 {
				x, _ := strconv.Atoi(v)
				s.busy += x
			}
		}
	}
	return s
}

// cpuUse is the CPU time, in seconds, used between two snapshots: the
// machine's busy time, and each program's.
type cpuUse struct {
	busy, wall float64
	by         map[string]float64
}

// cpuBetween is what was used from a to b, by program; self is the
// benchmark's own process.
func cpuBetween(a, b cpuSnap, wall time.Duration, self int) cpuUse {
	u := cpuUse{busy: float64(b.busy-a.busy) / userHZ, wall: wall.Seconds(), by: map[string]float64{}}
	groupOf := func(pid int) string {
		for range 64 {
			p, ok := b.procs[pid]
			if !ok {
				return cpuOther
			}
			if pid == self {
				return "the benchmark's checks"
			}
			if pid == 2 { // kthreadd, the kernel threads' parent
				return "the kernel's threads"
			}
			if g := cpuGroupOf(p.comm); g != "" {
				return g
			}
			pid = p.ppid
		}
		return cpuOther
	}
	named := 0.0
	for pid, p := range b.procs {
		used := p.own
		if was, ok := a.procs[pid]; ok && was.start == p.start {
			used -= was.own
		}
		if used <= 0 {
			continue
		}
		secs := float64(used) / userHZ
		u.by[groupOf(pid)] += secs
		named += secs
	}
	// What processes that began and ended between the two used.
	if rest := u.busy - named; rest > 0 {
		u.by[cpuOther] += rest
	}
	return u
}

// cpuRow is the medians of starts' CPU use by program, as a table row
// (name first), with the machine's busy time and its share of the cores
// over the start.
func cpuRow(name string, uses []cpuUse) string {
	if len(uses) == 0 {
		return ""
	}
	med := func(f func(cpuUse) float64) float64 {
		vs := make([]float64, len(uses))
		for i, u := range uses {
			vs[i] = f(u)
		}
		return medianFloat(vs)
	}
	cells := []string{name}
	for _, g := range cpuGroups {
		cells = append(cells, fmt.Sprintf("%.2f", med(func(u cpuUse) float64 { return u.by[g] })))
	}
	busy := med(func(u cpuUse) float64 { return u.busy })
	share := med(func(u cpuUse) float64 { return u.busy / (u.wall * float64(runtime.NumCPU())) })
	cells = append(cells, fmt.Sprintf("%.2f", busy), fmt.Sprintf("%.0f%%", 100*share))
	return "| " + strings.Join(cells, " | ") + " |\n"
}

// cpuHeader is the header of cpuRow's table.
func cpuHeader() string {
	cols := append(append([]string{"start"}, cpuGroups...), "the machine, busy", "of its cores, over the start")
	return "| " + strings.Join(cols, " | ") + " |\n|" + strings.Repeat(" --- |", len(cols)) + "\n"
}
