package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"dagger/commandcenter/internal/boot"
	"dagger/commandcenter/internal/contract"
)

// The module's binary is every container's supervisor (supervisor.go):
// started under the supervisor's name, with no engine session, it must run
// the supervisor, and the placeholder session that lets it start
// (internal/boot) must not reach the service's command.
func TestModuleBinaryRunsAsTheSupervisor(t *testing.T) {
	if got := filepath.Base(contract.SupervisorPath); got != boot.SupervisorName {
		t.Fatalf("contract.SupervisorPath is named %q, internal/boot starts the supervisor as %q", got, boot.SupervisorName)
	}
	bin := filepath.Join(t.TempDir(), boot.SupervisorName)
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build of the module: %v\n%s", err, out)
	}
	// No engine session, as in a service's container.
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "DAGGER_SESSION_") })
	cmd := exec.Command(bin, "--", "sh", "-c", "echo command ran; env")
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the module's binary as %s: %v\n%s", boot.SupervisorName, err, out)
	}
	if !strings.Contains(string(out), "command ran\n") {
		t.Errorf("the module's binary as %s did not run its command:\n%s", boot.SupervisorName, out)
	}
	if strings.Contains(string(out), "DAGGER_SESSION_") {
		t.Errorf("the command's environment has a DAGGER_SESSION_ variable the supervisor did not get:\n%s", out)
	}

	// What the module's engine client read at its start is given back
	// (boot.ReleaseStartupPages): the supervisor's read-only segments, which
	// hold about 12 MB after that start, hold what it reads since.
	cmd = exec.Command(bin, "--", "sh", "-c", "sleep 1; cat /proc/$PPID/smaps")
	cmd.Env = env
	out, err = cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the module's binary as %s: %v\n%s", boot.SupervisorName, err, out)
	}
	var kB, mappings int
	inExe := false
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) >= 6 && strings.Contains(f[0], "-") {
			inExe = f[5] == bin && f[1][1] == '-'
			if inExe {
				mappings++
			}
			continue
		}
		if n, ok := strings.CutPrefix(line, "Rss:"); ok && inExe {
			v, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(n), " kB"))
			if err != nil {
				t.Fatalf("smaps line %q: %v", line, err)
			}
			kB += v
		}
	}
	if mappings == 0 {
		t.Fatalf("found no read-only mapping of %s in the supervisor's smaps:\n%s", bin, out)
	}
	if kB > 6*1024 {
		t.Errorf("the supervisor holds %d kB of its read-only segments (%d mappings), more than 6 MB: the pages its start read were not given back", kB, mappings)
	}
}
