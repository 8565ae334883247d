package supervisor

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// A run with --memory holds its command to a memory limit where the engine
// sets none (Dagger v0.19 gives a container no limit of its own, and inside
// it the cgroup files are read-only): the supervisor reads the memory its
// command's processes hold, each second, and ends the command as a crash
// once they hold more than the limit together. The figure is their
// anonymous resident memory (RssAnon in /proc/PID/status, which the
// supervisor reads for a process of any user): the heap and stacks the
// processes use, without the files they map or the memory they share
// (Postgres's shared buffers). A child forked from a parent counts the
// pages it shares with it again, so prefork servers count high.

// memoryInterval is how often the memory is read.
const memoryInterval = time.Second

// memoryLoop checks the memory of the command (pid: its process ID, 0
// before it runs) from start on, until done, and sends why to over when it
// holds more than limit bytes.
func memoryLoop(limit int64, pid func() int, start, done <-chan struct{}, over chan<- string) {
	select {
	case <-start:
	case <-done:
		return
	}
	for {
		if held, n := memoryOf(pid()); held > limit {
			select {
			case over <- fmt.Sprintf("its %d processes hold %s of memory, over its limit of %s", n, bytesText(held), bytesText(limit)):
			default:
			}
		}
		select {
		case <-time.After(memoryInterval):
		case <-done:
			return
		}
	}
}

// memoryOf is the anonymous resident memory process pid and its
// descendants hold together, in bytes, and how many they are.
func memoryOf(pid int) (int64, int) {
	tree, ok := processTree(pid)
	if !ok {
		return 0, 0
	}
	var sum int64
	for _, p := range tree {
		sum += rssAnon(p)
	}
	return sum, len(tree)
}

// rssAnon is the RssAnon of process pid in bytes (0 for one that ended).
func rssAnon(pid int) int64 {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "RssAnon:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb * 1024
		}
	}
	return 0
}

// bytesText is n bytes for people: 512 MiB, 1.5 GiB.
func bytesText(n int64) string {
	switch {
	case n >= 1<<30:
		return strings.TrimSuffix(fmt.Sprintf("%.1f", float64(n)/(1<<30)), ".0") + " GiB"
	case n >= 1<<20:
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d KiB", n>>10)
}
