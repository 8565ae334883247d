package supervisor

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"dagger/commandcenter/internal/contract"
)

// A second run of a project fails at once while the first holds its data,
// naming the holder; once the first has ended (killed, here), the lock is
// free again with nothing to clean up.
func TestASecondRunOfAProjectFailsAtOnce(t *testing.T) {
	state := t.TempDir()
	first, firstOut := command("--project", "shop", "--state", state, "--lock", "postgres-17", "--lock", "redis", "--name", "postgres", "--",
		"sh", "-c", "echo holding; while :; do sleep 0.05; done")
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	waitOutput(t, first, firstOut, "holding")
	start := time.Now()
	second, secondOut := command("--project", "shop", "--state", state, "--lock", "redis", "--name", "postgres", "--", "sh", "-c", "echo started; exit 0")
	if err := second.Start(); err != nil {
		t.Fatal(err)
	}
	if code := exitStatus(t, second); code != exitInUse {
		t.Errorf("the second run exited %d, want %d (in use)\n%s", code, exitInUse, secondOut)
	}
	took := time.Since(start)
	for _, want := range []string{`project "shop" is in use`, "its redis data", "held by postgres (in ", "Stop that first"} {
		if !strings.Contains(secondOut.String(), want) {
			t.Errorf("the second run's message has no %q:\n%s", want, secondOut)
		}
	}
	if strings.Contains(secondOut.String(), "started") {
		t.Errorf("the second run started its command:\n%s", secondOut)
	}
	t.Logf("refused in %s", took)
	// SIGKILL of all of it, as a container's end: no last word, and the
	// kernel frees the lock.
	killAll(first)
	first.Wait()
	third, thirdOut := command("--project", "shop", "--state", state, "--lock", "postgres-17", "--lock", "redis", "--name", "postgres", "--", "sh", "-c", "echo third ran")
	if err := third.Start(); err != nil {
		t.Fatal(err)
	}
	if code := exitStatus(t, third); code != 0 || !strings.Contains(thirdOut.String(), "third ran") {
		t.Errorf("a run after the holder was killed: exit %d\n%s", code, thirdOut)
	}
}

// Passwords: made once in the secrets volume, the same for every run after;
// a given one wins; they reach the command's variables, and never its
// output, nor the log.
func TestPasswordsAreMadeOnceAndMasked(t *testing.T) {
	state, secrets := t.TempDir(), t.TempDir()
	run := func(env ...string) (string, string) {
		cmd, out := command("--project", "shop", "--state", state, "--secrets", secrets, "--name", "backend",
			"--env", "DATABASE_URL=postgresql://u:{{postgres|url}}@db:5432/x", "--env", "REDIS_PASSWORD={{redis}}",
			"--folder", "files-app.storage", "--",
			"sh", "-c", `echo "url=$DATABASE_URL redis=$REDIS_PASSWORD"; printf '%s' "$DATABASE_URL" > `+filepath.Join(state, "seen"))
		cmd.Env = append(cmd.Env, env...)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		if code := exitStatus(t, cmd); code != 0 {
			t.Fatalf("exit %d\n%s", code, out)
		}
		seen, err := os.ReadFile(filepath.Join(state, "seen"))
		if err != nil {
			t.Fatal(err)
		}
		return out.String(), string(seen)
	}
	out1, url1 := run()
	_, url2 := run()
	pg, err := os.ReadFile(filepath.Join(secrets, "postgres"))
	if err != nil || len(pg) != 32 {
		t.Fatalf("the generated password: %q, %v", pg, err)
	}
	if url1 != url2 || !strings.Contains(url1, string(pg)) {
		t.Errorf("the command saw %q then %q; want the same generated password %q in both", url1, url2, pg)
	}
	if strings.Contains(out1, string(pg)) || !strings.Contains(out1, "url=postgresql://u:***@db:5432/x redis=***") {
		t.Errorf("the output shows a password, or not masked as ***:\n%s", out1)
	}
	log, err := os.ReadFile(filepath.Join(state, "logs", "backend.log"))
	if err != nil || strings.Contains(string(log), string(pg)) || !strings.Contains(string(log), "url=postgresql://u:***@db") {
		t.Errorf("the log shows a password, or not the line: %v\n%s", err, log)
	}
	folders, _ := os.ReadFile(filepath.Join(secrets, "folders"))
	if strings.TrimSpace(string(folders)) != "files-app.storage" {
		t.Errorf("folders recorded: %q", folders)
	}
	_, url3 := run(contract.GivenPasswordEnv("postgres") + "=given p@ss")
	if !strings.Contains(url3, "given%20p%40ss") {
		t.Errorf("with a given password the command saw %q, want it URL-escaped", url3)
	}
	if src, _ := os.ReadFile(filepath.Join(secrets, "postgres.source")); strings.TrimSpace(string(src)) != "given" {
		t.Errorf("postgres.source after a given password: %q", src)
	}
}

// The status of a run: starting, then ready once its check first passes;
// exited with its code when it ends; and, when its supervisor is killed
// without a word, gone.
func TestStatusFollowsTheRun(t *testing.T) {
	state := t.TempDir()
	port := testPort(t)
	cmd, out := command("--project", "shop", "--state", state, "--name", "worker",
		"--health", fmt.Sprintf("worker=127.0.0.1:%d", port), "--",
		"python3", "-c", fmt.Sprintf("import socket,time; time.sleep(1); s=socket.socket(); s.bind(('127.0.0.1', %d)); s.listen(); print('up', flush=True); time.sleep(60)", port))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	statusNow := func() contract.ServiceStatus {
		deadline := time.Now().Add(10 * time.Second)
		for {
			all, err := readStatus(state)
			if err == nil && len(all) == 1 {
				return all[0]
			}
			if time.Now().After(deadline) {
				t.Fatalf("status: %v, %d services", err, len(all))
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for statusNow().State != contract.StateReady {
		if time.Now().After(deadline) {
			s := statusNow()
			t.Fatalf("not ready after its check passed: %+v %+v\n%s", s, s.Health, out)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if s := statusNow(); s.Health == nil || !s.Health.OK || s.PID == 0 {
		t.Errorf("a ready service: %+v", s)
	}
	killAll(cmd)
	cmd.Wait()
	if s := statusNow(); s.State != contract.StateGone {
		t.Errorf("after its supervisor was killed: %s, want gone", s.State)
	}
	ended, endedOut := command("--project", "shop", "--state", state, "--name", "worker", "--", "sh", "-c", "exit 4")
	if err := ended.Start(); err != nil {
		t.Fatal(err)
	}
	exitStatus(t, ended)
	if s := statusNow(); s.State != contract.StateExited || s.ExitCode == nil || *s.ExitCode != 4 {
		t.Errorf("after an exit 4: %+v\n%s", s, endedOut)
	}
	// The last run's log is kept as the previous one.
	if _, err := os.Stat(filepath.Join(state, "logs", "worker.previous.log")); err != nil {
		t.Errorf("no previous log: %v", err)
	}
}

// A process that never passed its health check is starting, not
// unhealthy: it is not ended as a crash (Postgres creating its database).
func TestAProcessThatNeverPassedIsNotUnhealthy(t *testing.T) {
	state := t.TempDir()
	port := testPort(t)
	cmd, out := command("--project", "shop", "--state", state, "--name", "postgres", "--health-retries", "2",
		"--health", fmt.Sprintf("postgres=127.0.0.1:%d", port), "--", "sh", "-c", "sleep 2; echo still here")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if code := exitStatus(t, cmd); code != 0 || strings.Contains(out.String(), "unhealthy") {
		t.Errorf("exit %d; a process that never answered was taken for unhealthy:\n%s", code, out)
	}
}

// A command that ends by itself after its service was ready is started
// again with the restart policy, and counted; past the policy's count the
// run ends, saying so.
func TestRestartPolicyStartsACrashedCommandAgain(t *testing.T) {
	state := t.TempDir()
	count := filepath.Join(t.TempDir(), "runs")
	cmd, out := command("--project", "shop", "--state", state, "--name", "worker", "--restart", "on-failure", "--restart-max", "2", "--",
		"sh", "-c", "echo run >> "+count+"; sleep 0.3; exit 5")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	timer := time.AfterFunc(30*time.Second, func() { killAll(cmd) })
	defer timer.Stop()
	if code := exitStatus(t, cmd); code != 5 {
		t.Errorf("exit %d, want the command's 5 after it crashed past the policy\n%s", code, out)
	}
	runs, _ := os.ReadFile(count)
	if n := strings.Count(string(runs), "run"); n != 3 {
		t.Errorf("the command ran %d times, want 3 (the first and 2 restarts)\n%s", n, out)
	}
	for _, want := range []string{"restarting it in 1s (restart 1 of 2)", "restarting it in 2s (restart 2 of 2)", "after 2 restarts: giving up"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("no %q in:\n%s", want, out)
		}
	}
	all, _ := readStatus(state)
	if len(all) != 1 || all[0].Crashes != 2 || all[0].Restarts != 2 || all[0].State != contract.StateExited {
		t.Errorf("status after the crashes: %+v", all)
	}
	// With --restart=no the first end is the run's.
	cmd, out = command("--project", "shop", "--state", t.TempDir(), "--name", "worker", "--", "sh", "-c", "exit 5")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if code := exitStatus(t, cmd); code != 5 || strings.Contains(out.String(), "restarting") {
		t.Errorf("--restart=no: exit %d\n%s", code, out)
	}
}

// Requests through the state volume: a restart of the command, and a
// stop, carried out by the run that has the service; nothing running
// fails at once.
func TestRequestsRestartAndStop(t *testing.T) {
	state := t.TempDir()
	var out strings.Builder
	if code := runRequest([]string{"--state", state, "--project", "shop", "--action", "stop"}, &out, &out); code != exitNotRunning || !strings.Contains(out.String(), "nothing runs") {
		t.Errorf("a stop with nothing running: exit %d %q", code, out.String())
	}
	cmd, cmdOut := command("--project", "shop", "--state", state, "--name", "backend", "--",
		"sh", "-c", `trap 'exit 0' TERM; echo "started $$"; while :; do sleep 0.05; done`)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitOutput(t, cmd, cmdOut, "started")
	out.Reset()
	if code := runRequest([]string{"--state", state, "--project", "shop", "--action", "restart", "--service", "backend", "--timeout", "20s"}, &out, &out); code != 0 {
		t.Fatalf("restart: exit %d %q\n%s", code, out.String(), cmdOut)
	}
	// The answer comes once the new process runs; its first line may come
	// a little later.
	for deadline := time.Now().Add(10 * time.Second); strings.Count(cmdOut.String(), "started ") < 2 && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	if n := strings.Count(cmdOut.String(), "started "); n != 2 {
		t.Errorf("the command started %d times, want 2 after a restart:\n%s", n, cmdOut)
	}
	out.Reset()
	if code := runRequest([]string{"--state", state, "--project", "shop", "--action", "restart", "--service", "nope"}, &out, &out); code != 2 || !strings.Contains(out.String(), "runs no service \"nope\"") {
		t.Errorf("restart of a service that does not run: exit %d %q", code, out.String())
	}
	out.Reset()
	if code := runRequest([]string{"--state", state, "--project", "shop", "--action", "stop", "--timeout", "20s"}, &out, &out); code != 0 || !strings.Contains(out.String(), "stopped project") {
		t.Errorf("stop: exit %d %q", code, out.String())
	}
	if code := exitStatus(t, cmd); code != 1 || !strings.Contains(cmdOut.String(), stopAsked) {
		t.Errorf("the run after a stop: exit %d\n%s", code, cmdOut)
	}
}

// The control service takes requests with its token only.
func TestControlTakesItsTokenOnly(t *testing.T) {
	srvURL := serveForTest(t, controlHandler(contract.Query{State: t.TempDir(), Project: "shop"}, "the-control-token-0123"))
	for token, want := range map[string]int{"": 401, "another-project-token-99": 401, "the-control-token-0123": 200, "the-control-token-01234": 401, "the-control-token-012": 401} {
		req, err := http.NewRequest("GET", srvURL+"/status", nil)
		if err != nil {
			t.Fatal(err)
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(res.Body)
		res.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if res.StatusCode != want {
			t.Errorf("GET /status with token %q: %d, want %d", token, res.StatusCode, want)
		}
		if want == 200 {
			var rep statusReport
			if err := json.Unmarshal(body, &rep); err != nil || rep.Running {
				t.Errorf("status of a project that never ran: %v %+v", err, rep)
			}
		}
	}
}

// A stop is carried out by every run of the project, also by those that
// see it after the first has answered.
func TestAStopEndsEveryRunOfTheProject(t *testing.T) {
	state := t.TempDir()
	var runs []*exec.Cmd
	var outs []*syncBuffer
	for _, name := range []string{"backend", "worker", "frontend"} {
		cmd, out := command("--project", "shop", "--state", state, "--name", name, "--",
			"sh", "-c", `trap 'exit 0' TERM; echo "`+name+` up"; while :; do sleep 0.05; done`)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		waitOutput(t, cmd, out, name+" up")
		runs, outs = append(runs, cmd), append(outs, out)
	}
	var out strings.Builder
	if code := runRequest([]string{"--state", state, "--project", "shop", "--action", "stop", "--timeout", "60s"}, &out, &out); code != 0 || !strings.Contains(out.String(), "stopped project") {
		t.Errorf("stop: exit %d %q", code, out.String())
	}
	for i, cmd := range runs {
		// One that never saw the stop is killed, and fails the test.
		timer := time.AfterFunc(30*time.Second, func() { killAll(cmd) })
		if code := exitStatus(t, cmd); code != 1 || !strings.Contains(outs[i].String(), stopAsked) {
			t.Errorf("run %d after the stop: exit %d (-1: it never saw the stop)\n%s", i, code, outs[i])
		}
		timer.Stop()
	}
}

// Writers of one file at once (the supervisors of a Stack's containers
// answering one stop, whose PIDs are often the same number, each in its
// own container: here, goroutines of one process) each leave the file
// whole: a reader sees one writer's text or another's, never a mix.
func TestWritersOfOneFileAtOnceNeverMixIt(t *testing.T) {
	file := filepath.Join(t.TempDir(), "answer.result")
	const writers, writes = 6, 300
	var texts [][]byte
	for w := range writers {
		texts = append(texts, []byte(fmt.Sprintf(`{"ok":true,"by":"%s"}`, strings.Repeat("w", w+1))))
	}
	whole := func(text []byte) bool {
		return slices.ContainsFunc(texts, func(t []byte) bool { return bytes.Equal(t, text) })
	}
	var (
		mu       sync.Mutex
		failures int
		first    string
	)
	fail := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		if failures++; failures == 1 {
			first = err.Error()
		}
	}
	var wg sync.WaitGroup
	for _, text := range texts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range writes {
				if err := writeFileAtomic(file, text, 0o644); err != nil {
					fail(err)
				}
			}
		}()
	}
	written := make(chan struct{})
	go func() {
		wg.Wait()
		close(written)
	}()
	reads := 0
	for reading := true; reading; {
		select {
		case <-written:
			reading = false
		default:
		}
		if text, err := os.ReadFile(file); err == nil {
			reads++
			if !whole(text) {
				fail(fmt.Errorf("read %q, which no writer wrote", text))
			}
		}
	}
	if failures > 0 {
		t.Fatalf("%d of %d writes and %d reads went wrong; the first: %s", failures, writers*writes, reads, first)
	}
	if reads == 0 {
		t.Fatal("the file was never there to read")
	}
	if text, err := os.ReadFile(file); err != nil || !whole(text) {
		t.Fatalf("the file at the end: %q, %v", text, err)
	}
	if left, _ := filepath.Glob(file + ".*.tmp"); len(left) > 0 {
		t.Fatalf("temporary files left: %v", left)
	}
}
