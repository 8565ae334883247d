//go:build bench

package hosttest

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Runs of each operating measurement.
const (
	upDownRuns  = 5
	psRuns      = 10
	restartRuns = 5
	followRuns  = 10
)

// operateSection measures operating a running stack the way the README
// shows it, with the host command: `commandcenter down` and `commandcenter
// up -d` again right after it, each to its return (as a hub restarts an
// instance), `commandcenter ps` to its answer, a
// `commandcenter restart backend` to the backend answering on its host port
// again, and how soon `commandcenter logs -f backend` shows a line the
// backend printed. The stack runs under `commandcenter up -d` on ports.
func operateSection(t *testing.T, src string, ports stackPorts) string {
	t.Helper()
	const project = "bench-operate"
	bin := buildHostCommand(t)
	state := t.TempDir()
	args := append([]string{"up", "-d", "--", "dagger"}, stackArgs(project, src, ports, true)...)
	if out, code := hostCommand(t, bin, state, benchEnv, args...); code != 0 {
		t.Fatalf("commandcenter up -d: exit %d\n%s", code, out)
	}
	defer func() {
		if out, code := hostCommand(t, bin, state, nil, "down", "-p", project); code != 0 {
			t.Errorf("commandcenter down: exit %d\n%s", code, out)
		}
		waitReleased(t, ports.pg, ports.redis, ports.backend, ports.frontend)
	}()
	client := &http.Client{Timeout: 5 * time.Second}
	health := fmt.Sprintf("http://127.0.0.1:%d/health", ports.backend)

	// down returns once the project's up has ended, and up -d once every
	// service answers on its host port.
	var down, upAgain series
	for run := 0; run < upDownRuns; run++ {
		start := time.Now()
		if out, code := hostCommand(t, bin, state, nil, "down", "-p", project); code != 0 {
			t.Fatalf("commandcenter down: exit %d\n%s", code, out)
		}
		down.times = append(down.times, time.Since(start))
		start = time.Now()
		if out, code := hostCommand(t, bin, state, benchEnv, args...); code != 0 {
			t.Fatalf("commandcenter up -d right after down: exit %d\n%s", code, out)
		}
		upAgain.times = append(upAgain.times, time.Since(start))
		if err := getHealth(client, health); err != nil {
			t.Fatalf("the backend right after up -d: %v", err)
		}
	}

	var ps series
	for run := 0; run < psRuns; run++ {
		start := time.Now()
		out, code := hostCommand(t, bin, state, nil, "ps", "-p", project)
		ps.times = append(ps.times, time.Since(start))
		if code != 0 || !strings.Contains(out, "backend") {
			t.Fatalf("commandcenter ps: exit %d\n%s", code, out)
		}
	}

	var restart series
	for run := 0; run < restartRuns; run++ {
		start := time.Now()
		if out, code := hostCommand(t, bin, state, nil, "restart", "-p", project, "backend"); code != 0 {
			t.Fatalf("commandcenter restart backend: exit %d\n%s", code, out)
		}
		pollFine(t, "the backend after its restart", 2*time.Minute, func() error { return getHealth(client, health) })
		restart.times = append(restart.times, time.Since(start))
	}

	follow := exec.Command(bin, "logs", "-f", "-p", project, "backend")
	follow.Env = append(os.Environ(), "XDG_STATE_HOME="+state)
	followed := &syncBuffer{}
	follow.Stdout, follow.Stderr = followed, followed
	follow.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := follow.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = syscall.Kill(-follow.Process.Pid, syscall.SIGINT)
		_ = follow.Wait()
	}()
	first := fmt.Sprintf("/bench-follow-first-%d", time.Now().UnixNano())
	_, _ = get(client, fmt.Sprintf("http://127.0.0.1:%d%s", ports.backend, first))
	waitFor(t, "logs -f showing its first line", 5*time.Minute, func() error {
		if !strings.Contains(followed.String(), first) {
			return fmt.Errorf("not yet:\n%s", tail(followed.String(), 5))
		}
		return nil
	})
	var delay series
	for run := 0; run < followRuns; run++ {
		mark := fmt.Sprintf("/bench-follow-%d-%d", run, time.Now().UnixNano())
		start := time.Now()
		if _, err := get(client, fmt.Sprintf("http://127.0.0.1:%d%s", ports.backend, mark)); err != nil {
			t.Fatalf("GET %s: %v", mark, err)
		}
		pollFine(t, "logs -f showing "+mark, time.Minute, func() error {
			if !strings.Contains(followed.String(), mark) {
				return fmt.Errorf("not yet:\n%s", tail(followed.String(), 5))
			}
			return nil
		})
		delay.times = append(delay.times, time.Since(start))
	}

	var b strings.Builder
	b.WriteString("## Operating a running stack\n\nThe stack of the example project under `commandcenter up -d`, operated from a second terminal with the host command as the README shows it, warm: `down`, then `up -d` again at once, then the rest on the last `up -d`. `ps` and `restart` ask the control service of the running `up` (its address and token in the run's record), with no `dagger call`.\n\n")
	b.WriteString("| measurement | median | p90 | slowest | runs | target | |\n| --- | --- | --- | --- | --- | --- | --- |\n")
	b.WriteString(down.row("`commandcenter down`, called to its return (the stack stopped cleanly and its `up` ended)", ""))
	b.WriteString(upAgain.row("`commandcenter up -d` right after it, called to its return (every service answering on its host port)", ""))
	b.WriteString(ps.row("`commandcenter ps`, called to its answer", ""))
	b.WriteString(restart.row("`commandcenter restart backend`, called to the backend answering /health on its host port again", ""))
	b.WriteString(delay.row("`commandcenter logs -f backend`: a request to the backend, to its log line shown", "at most 1 s"))
	fmt.Fprintf(&b, "\nRuns (s): down %s; up -d %s; ps %s; restart %s; follow %s.\n\n", joinDurations(down.times), joinDurations(upAgain.times), joinDurations(ps.times), joinDurations(restart.times), joinDurations(delay.times))
	return b.String()
}

// pollFine is waitFor with a 20 ms poll, for times measured to a tenth of
// a second.
func pollFine(t *testing.T, what string, timeout time.Duration, check func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var err error
	for time.Now().Before(deadline) {
		if err = check(); err == nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s not ready after %s: %v", what, timeout, err)
}
