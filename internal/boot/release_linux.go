package boot

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// ReleaseStartupPages gives back the pages of the program's read-only
// segments (its code and constant data) that it has read so far. The
// module's binary carries the engine client and its telemetry, whose
// package initializations read about 10 MB of them when the supervisor
// starts, and which it never runs again: dropped, those pages no longer
// count in the supervisor's memory, and the ones it still needs are read
// back from the file when it first touches them. Writable segments are
// left alone (dropping them would lose their contents). Errors are
// ignored: the pages are then only kept.
func ReleaseStartupPages() {
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return
	}
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// START-END PERMS OFFSET DEV INODE PATH
		fields := strings.Fields(sc.Text())
		if len(fields) < 6 || fields[5] != exe || fields[1][0] != 'r' || fields[1][1] != '-' {
			continue
		}
		start, end, ok := strings.Cut(fields[0], "-")
		if !ok {
			continue
		}
		lo, err1 := strconv.ParseUint(start, 16, 64)
		hi, err2 := strconv.ParseUint(end, 16, 64)
		if err1 != nil || err2 != nil || hi <= lo {
			continue
		}
		syscall.Syscall(syscall.SYS_MADVISE, uintptr(lo), uintptr(hi-lo), syscall.MADV_DONTNEED)
	}
}
