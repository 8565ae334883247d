package hosttest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Operating a running stack with the host command, commandcenter: up -d
// returns once every service answers, ps, logs (and their follow), restart
// of one service, a crashed worker started again, a clean down, Ctrl-C as a
// clean stop, and an up that ends, naming the service, when the stack
// ends. Real clients check each step.

// buildHostCommand builds the host command for this machine.
func buildHostCommand(t *testing.T) string {
	t.Helper()
	return exportProgram(t, "cli", "commandcenter")
}

// hostCommand runs the host command to its end, with its records under
// state, and returns its output and exit status.
func hostCommand(t *testing.T, bin, state string, env []string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = repoRoot(t)
	cmd.Env = append(append(os.Environ(), "XDG_STATE_HOME="+state), env...)
	out, err := cmd.CombinedOutput()
	code := 0
	if err != nil {
		var exit *exec.ExitError
		if !errors.As(err, &exit) {
			t.Fatalf("%s %s: %v", bin, strings.Join(args, " "), err)
		}
		code = exit.ExitCode()
	}
	return string(out), code
}

// statusOf is `commandcenter ps --json`'s answer.
type statusOf struct {
	Running  bool `json:"running"`
	Healthy  bool `json:"healthy"`
	Services []struct {
		Name      string `json:"name"`
		State     string `json:"state"`
		Restarts  int    `json:"restarts"`
		Crashes   int    `json:"crashes"`
		HostPorts []int  `json:"host_ports"`
		ExitCode  *int   `json:"exit_code"`
	} `json:"services"`
}

func psJSON(t *testing.T, bin, state, project string) statusOf {
	t.Helper()
	out, code := hostCommand(t, bin, state, nil, "ps", "-p", project, "--json")
	var s statusOf
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatalf("ps --json (exit %d) is not JSON: %v\n%s", code, err, out)
	}
	return s
}

func (s statusOf) service(name string) (state string, restarts, crashes int, hostPorts []int) {
	for _, v := range s.Services {
		if v.Name == name {
			return v.State, v.Restarts, v.Crashes, v.HostPorts
		}
	}
	return "missing", 0, 0, nil
}

const operateProject = "hostop"

var operatePorts = stackPorts{pg: 26000, redis: 26001, backend: 26002, frontend: 26003}

// A worker that crashes once, when the test pushes to the Redis list
// crashList (an event, not a time after its start: a first ps must see it
// ready however long the stack took), and then prints a tick a second. Its
// container's /tmp lasts over the supervisor's restart of it.
var crashOnce = `if [ -e /tmp/crashed ]; then while :; do echo tick; sleep 1; done; else touch /tmp/crashed; python -c '
import os, time, redis
r = redis.Redis.from_url(os.environ["REDIS_URL"])
while True:
    try:
        r.blpop(["` + crashList + `"])
        break
    except redis.ConnectionError:
        time.sleep(0.2)
'; echo crashing; exit 1; fi`

// crashList is the Redis list whose first item makes the worker crash, one
// of this run's own: an item an earlier run left in the project's Redis
// cannot reach it.
var crashList = fmt.Sprintf("hosttest-ticker-crash-%d", time.Now().UnixNano())

func operateUpArgs(src string, extra ...string) []string {
	args := []string{"dagger", "call", "--project=" + operateProject}
	args = append(args, extra...)
	return append(args, "with-postgres", "--password=env:HOSTTEST_PASSWORD", "with-redis", "--password=env:HOSTTEST_PASSWORD",
		"with-worker", "--name=ticker", "--command="+crashOnce,
		"stack", "--src="+src, "up", "--ports", operatePorts.arg())
}

func TestOperateARunningStack(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	p := operatePorts
	requireFree(t, p.pg, p.redis, p.backend, p.frontend)
	bin := buildHostCommand(t)
	state := t.TempDir()
	src := copyExample(t)
	client := &http.Client{Timeout: 10 * time.Second}

	// up -d returns once every service answers: no wait after it.
	out, code := hostCommand(t, bin, state, durableEnv, append([]string{"up", "-d", "--"}, operateUpArgs(src)...)...)
	if code != 0 || !strings.Contains(out, `project "hostop" is up`) {
		t.Fatalf("up -d: exit %d\n%s", code, out)
	}
	t.Cleanup(func() { hostCommand(t, bin, state, nil, "down", "-p", operateProject) })
	conn := connectPostgres(t, ctx, p.pg)
	defer conn.Close(ctx)
	rdb := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", p.redis), Password: durablePassword})
	defer rdb.Close()
	if err := rdb.Ping(ctx).Err(); err != nil {
		t.Errorf("Redis right after up -d: %v", err)
	}
	if err := getHealth(client, fmt.Sprintf("http://127.0.0.1:%d/health", p.backend)); err != nil {
		t.Errorf("the backend right after up -d: %v", err)
	}
	if res, err := get(client, fmt.Sprintf("http://127.0.0.1:%d/", p.frontend)); err != nil || res != http.StatusOK {
		t.Errorf("the frontend right after up -d: %d %v", res, err)
	}

	// ps: every service ready, with its host port.
	s := psJSON(t, bin, state, operateProject)
	for name, port := range map[string]int{"postgres": p.pg, "redis": p.redis, "backend": p.backend, "frontend": p.frontend, "ticker": 0} {
		st, _, _, hostPorts := s.service(name)
		if st != "ready" || port != 0 && (len(hostPorts) != 1 || hostPorts[0] != port) {
			t.Errorf("ps: %s is %s on host ports %v, want ready on %d", name, st, hostPorts, port)
		}
	}

	// logs: a line the backend printed, found by service.
	mark := fmt.Sprintf("/hosttest-mark-%d", time.Now().UnixNano())
	_, _ = get(client, fmt.Sprintf("http://127.0.0.1:%d%s", p.backend, mark))
	waitFor(t, "the backend's log line of "+mark, time.Minute, func() error {
		out, code := hostCommand(t, bin, state, nil, "logs", "-p", operateProject, "--tail", "50", "backend")
		if code != 0 || !strings.Contains(out, mark) || !strings.Contains(out, " backend | ") {
			return fmt.Errorf("exit %d, no %s in:\n%s", code, mark, tail(out, 10))
		}
		return nil
	})

	// logs -f: a line printed after it started.
	follow := exec.Command(bin, "logs", "-f", "-p", operateProject, "backend")
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
	waitFor(t, "logs -f showing the backend's last lines", 5*time.Minute, func() error {
		if !strings.Contains(followed.String(), mark) {
			return fmt.Errorf("not yet:\n%s", tail(followed.String(), 5))
		}
		return nil
	})
	later := fmt.Sprintf("/hosttest-later-%d", time.Now().UnixNano())
	_, _ = get(client, fmt.Sprintf("http://127.0.0.1:%d%s", p.backend, later))
	waitFor(t, "logs -f showing a line printed after it started", time.Minute, func() error {
		if !strings.Contains(followed.String(), later) {
			return fmt.Errorf("not yet:\n%s", tail(followed.String(), 5))
		}
		return nil
	})

	// The worker crashes when told: it is started again, and counted.
	if err := rdb.RPush(ctx, crashList, "now").Err(); err != nil {
		t.Fatalf("tell the worker to crash: %v", err)
	}
	waitFor(t, "the ticker's restart after its crash", time.Minute, func() error {
		st, restarts, crashes, _ := psJSON(t, bin, state, operateProject).service("ticker")
		if st != "ready" || restarts != 1 || crashes != 1 {
			return fmt.Errorf("ticker is %s after %d restarts (%d crashes)", st, restarts, crashes)
		}
		return nil
	})

	// restart backend: it answers again, and a Postgres connection made
	// before is the same server process after it.
	var pid int
	if err := conn.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&pid); err != nil {
		t.Fatal(err)
	}
	if out, code := hostCommand(t, bin, state, nil, "restart", "-p", operateProject, "backend"); code != 0 || !strings.Contains(out, "restarted backend") {
		t.Fatalf("restart backend: exit %d\n%s", code, out)
	}
	waitFor(t, "the backend after its restart", 2*time.Minute, func() error {
		return getHealth(client, fmt.Sprintf("http://127.0.0.1:%d/health", p.backend))
	})
	var after int
	if err := conn.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&after); err != nil || after != pid {
		t.Errorf("the Postgres connection after the backend's restart: pid %d, %v; want the same server process %d", after, err, pid)
	}
	if _, restarts, crashes, _ := psJSON(t, bin, state, operateProject).service("backend"); restarts != 1 || crashes != 0 {
		t.Errorf("ps counts %d restarts (%d crashes) of the backend, want 1 asked for", restarts, crashes)
	}

	// Another project's down does not reach this one.
	if out, code := hostCommand(t, bin, state, nil, "down", "-p", "hostop-other"); code == 0 || !strings.Contains(out, "nothing runs") {
		t.Errorf("down of a project that does not run: exit %d\n%s", code, out)
	}
	if err := getHealth(client, fmt.Sprintf("http://127.0.0.1:%d/health", p.backend)); err != nil {
		t.Errorf("this project after another's down: %v", err)
	}

	// down: a clean stop, from anywhere; the background up ends, the ports
	// are released.
	conn.Close(ctx)
	if out, code := hostCommand(t, bin, state, nil, "down", "-p", operateProject); code != 0 || !strings.Contains(out, "stopped project") {
		t.Fatalf("down: exit %d\n%s", code, out)
	}
	// down returns once the background up has ended (after its snapshot):
	// an up right after it starts the project again.
	if rec, err := os.ReadFile(filepath.Join(state, "commandcenter", "projects", operateProject+".json")); err != nil || !strings.Contains(string(rec), `"state": "ended"`) {
		t.Errorf("the run's record right after down (%v) does not say its up ended:\n%s", err, rec)
	}
	waitReleased(t, p.pg, p.redis, p.backend, p.frontend)
	if out, _ := hostCommand(t, bin, state, nil, "logs", "-p", operateProject, "--tail", "5", "postgres"); !strings.Contains(out, "database system is shut down") {
		t.Errorf("Postgres's last lines after down do not say it shut down:\n%s", out)
	}

	// The next start needs no recovery, and Ctrl-C stops it just as cleanly.
	up := startProgram(t, append(durableEnv, "XDG_STATE_HOME="+state), bin, append([]string{"up", "--"}, operateUpArgs(src)...)...)
	up.waitFor("up in the foreground", 10*time.Minute, func() error {
		if ended, err := up.exited(0); ended {
			t.Fatalf("up ended (%v) before the stack was up:\n%s", err, tail(up.log.String(), 30))
		}
		if !strings.Contains(up.log.String(), `project "hostop" is up`) {
			return fmt.Errorf("not up yet")
		}
		return nil
	})
	if out, _ := hostCommand(t, bin, state, nil, "logs", "-p", operateProject, "postgres"); strings.Contains(out, "not properly shut down") {
		t.Errorf("the start after down recovered from a crash:\n%s", tail(out, 20))
	}
	_ = syscall.Kill(up.cmd.Process.Pid, syscall.SIGINT)
	if ended, err := up.exited(3 * time.Minute); !ended || err != nil {
		t.Fatalf("up after Ctrl-C: ended %v, %v; want exit status 0 after a clean stop\n%s", ended, err, tail(up.log.String(), 20))
	}
	if !strings.Contains(up.log.String(), `project "hostop" stopped`) {
		t.Errorf("up after Ctrl-C does not say the project stopped:\n%s", tail(up.log.String(), 20))
	}
	waitReleased(t, p.pg, p.redis, p.backend, p.frontend)
	if out, _ := hostCommand(t, bin, state, nil, "logs", "-p", operateProject, "--tail", "5", "postgres"); !strings.Contains(out, "database system is shut down") {
		t.Errorf("Postgres's last lines after Ctrl-C do not say it shut down:\n%s", out)
	}
}

// With --restart=no, a worker that ends makes up end, naming it, its exit
// status and its last lines, instead of waiting on a stack that stopped.
func TestUpEndsWhenAWorkerEnds(t *testing.T) {
	t.Parallel()
	p := stackPorts{pg: 26010, redis: 26011, backend: 26012, frontend: 26013}
	requireFree(t, p.pg, p.redis, p.backend, p.frontend)
	bin := buildHostCommand(t)
	state := t.TempDir()
	marker := fmt.Sprintf("giving-up-%d", time.Now().UnixNano())
	up := startProgram(t, append(durableEnv, "XDG_STATE_HOME="+state), bin, "up", "--",
		"dagger", "call", "--project=hostop-ends", "--restart=no",
		"with-postgres", "--password=env:HOSTTEST_PASSWORD", "with-redis", "--password=env:HOSTTEST_PASSWORD",
		"with-worker", "--name=w", "--command=sleep 20; echo "+marker+"; exit 3",
		"stack", "--src=examples/commandcenter", "up", "--ports", p.arg())
	ended, err := up.exited(15 * time.Minute)
	if !ended {
		t.Fatalf("up did not end after its worker ended:\n%s", tail(up.log.String(), 30))
	}
	log := up.log.String()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Errorf("up ended with %v, want exit status 1", err)
	}
	// The worker may end before or after every service is ready (the start
	// takes as long as the machine makes it): up ends either way.
	for _, want := range []string{"w ended (exit status 3)", marker} {
		if !strings.Contains(log, want) {
			t.Errorf("up's output does not say %q:\n%s", want, tail(log, 30))
		}
	}
	waitReleased(t, p.pg, p.redis, p.backend, p.frontend)
}

// get fetches url and returns its status code.
func get(client *http.Client, url string) (int, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	req.Host = "localhost"
	res, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	res.Body.Close()
	return res.StatusCode, nil
}
