package supervisor

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"dagger/commandcenter/internal/contract"
)

func TestParseDaggerCall(t *testing.T) {
	c, err := parseDaggerCall(strings.Fields("dagger -m ./deps/cc call --project=shop --restart=no with-backend --port 9000 with-worker --name w --command=x with-worker --name=beat --command=y stack --src=. up --ports 15000:5432,15002:9000"))
	if err != nil {
		t.Fatal(err)
	}
	if c.project != "shop" || c.function != "stack" || c.src != "." || len(c.ports) != 2 || c.ports[1] != (portMap{15002, 9000}) {
		t.Errorf("parsed %+v", c)
	}
	if want := strings.Fields("dagger -m ./deps/cc call --project=shop --restart=no"); !slices.Equal(c.module(), want) {
		t.Errorf("module() = %q, want %q", c.module(), want)
	}
	if want := []string{"postgres", "redis", "backend", "frontend", "w", "beat"}; !slices.Equal(c.expected(), want) {
		t.Errorf("expected() = %q, want %q", c.expected(), want)
	}
	if err := c.checkPorts(false); err != nil {
		t.Errorf("ports the stack serves were refused: %v", err)
	}
	for _, bad := range []string{
		"dagger call stack --src=. up --ports 25050:9999",
		"dagger call with-backend --port=9000 stack --src=. up --ports 25050:8000",
	} {
		c, err := parseDaggerCall(strings.Fields(bad))
		if err != nil {
			t.Fatal(err)
		}
		err = c.checkPorts(false)
		if err == nil || !strings.Contains(err.Error(), "serves no port") || !strings.Contains(err.Error(), "5432 (postgres)") {
			t.Errorf("%s: %v, want the ports it serves named", bad, err)
		}
	}
	c, _ = parseDaggerCall(strings.Fields("dagger call stack --src=. up --ports 15000:5432,65433:65433"))
	if err := c.checkPorts(true); err != nil {
		t.Errorf("the sync port under the watcher was refused: %v", err)
	}
	for _, bad := range []string{"dagger up", "dagger call urls", "dagger call stack --src=. up --ports 1:2:3"} {
		if _, err := parseDaggerCall(strings.Fields(bad)); err == nil {
			t.Errorf("parseDaggerCall(%q) took it", bad)
		}
	}
}

func TestCauseNamesTheServiceThatEndedTheStack(t *testing.T) {
	three, one, zero := 3, 1, 0
	now := time.Now()
	rep := statusReport{Services: []contract.ServiceStatus{
		{Name: "postgres", State: contract.StateExited, ExitCode: &one, Since: now.Add(2 * time.Second), Detail: "w ended (exit status 3)"},
		{Name: "backend", State: contract.StateExited, ExitCode: &one, Since: now.Add(time.Second)},
		{Name: "w", State: contract.StateExited, ExitCode: &three, Since: now},
	}}
	c := &control{base: "http://127.0.0.1:1", client: nil}
	c.client = httpClientThatFails()
	why, asked := c.cause(rep)
	if asked || !strings.HasPrefix(why, "w ended (exit status 3)") {
		t.Errorf("cause = %q, %v; want w and its status", why, asked)
	}
	rep.Services[0].Detail, rep.Services[0].ExitCode = stopAsked, &zero
	if _, asked := c.cause(rep); !asked {
		t.Error("a stop asked for was taken for a crash")
	}
}

// httpClientThatFails reaches nothing: the cause has no last lines then.
func httpClientThatFails() *http.Client {
	return &http.Client{Timeout: 100 * time.Millisecond}
}

// While an up of the project runs on this machine, ps, restart and down
// ask the control service it runs (as its record says), with no dagger
// command of their own; a refusal is said, not retried.
func TestHostCommandsAskTheRunningUpsControl(t *testing.T) {
	state := t.TempDir()
	cmd, cmdOut := command("--project", "shop", "--state", state, "--name", "backend", "--",
		"sh", "-c", `trap 'exit 0' TERM; echo "started $$"; while :; do sleep 0.05; done`)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitOutput(t, cmd, cmdOut, "started")
	const token = "the-control-token-0123"
	srvURL := serveForTest(t, controlHandler(contract.Query{State: state, Project: "shop"}, token))
	// The up that runs the project: it ends once the run it holds has
	// ended and it has taken a snapshot (here a second's sleep), as
	// commandcenter up ends after its stack.
	up := exec.Command("sh", "-c", fmt.Sprintf(`while s=$(cut -d' ' -f3 /proc/%d/stat 2>/dev/null) && [ "$s" != Z ]; do sleep 0.05; done; sleep 1`, cmd.Process.Pid))
	if err := up.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = up.Process.Kill(); _ = up.Wait() }()
	t.Setenv("XDG_STATE_HOME", t.TempDir())
	// No dagger on the PATH: a command that runs one fails.
	t.Setenv("PATH", t.TempDir())
	writeRecord(runRecord{Project: "shop", Module: []string{"dagger", "call", "--project=shop"}, PID: up.Process.Pid,
		State: "ready", Control: srvURL, Token: token})

	host := func(args ...string) (string, int) {
		var out strings.Builder
		code := runHost(args, &out, &out)
		return out.String(), code
	}
	if out, code := host("ps", "-p", "shop", "--json"); code != 0 || !strings.Contains(out, `"name": "backend"`) {
		t.Errorf("ps: exit %d\n%s", code, out)
	}
	if out, code := host("restart", "-p", "shop", "backend"); code != 0 || !strings.Contains(out, "restarted backend") {
		t.Errorf("restart: exit %d\n%s", code, out)
	}
	if out, code := host("restart", "-p", "shop", "nope"); code != 1 || !strings.Contains(out, `runs no service "nope"`) || strings.Contains(out, "dagger") {
		t.Errorf("restart of a service that does not run: exit %d\n%s", code, out)
	}
	if out, code := host("down", "-p", "shop"); code != 0 || !strings.Contains(out, "stopped project") {
		t.Errorf("down: exit %d\n%s", code, out)
	}
	// down returns once the project's up has ended: an up right after it
	// starts the project, instead of finding it up already.
	if processAlive(up.Process.Pid) {
		t.Errorf("down returned while the project's up (process %d) still ran", up.Process.Pid)
	}
	// A run that was not stopped is ended here, so the test ends too.
	stopped := time.AfterFunc(30*time.Second, func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) })
	defer stopped.Stop()
	if code := exitStatus(t, cmd); code != 1 || strings.Count(cmdOut.String(), "started ") != 2 {
		t.Errorf("the run after a restart and a stop: exit %d\n%s", code, cmdOut)
	}
	// With its up gone, ps runs the module's status (here: no dagger).
	writeRecord(runRecord{Project: "shop", PID: os.Getpid(), State: "ended", Control: srvURL, Token: token})
	if out, code := host("ps", "-p", "shop"); code != 1 || !strings.Contains(out, "dagger") {
		t.Errorf("ps with no up running: exit %d\n%s", code, out)
	}
}

// The line the host command looks for in Postgres's log is the one the
// module's Postgres start says.
func TestPostgresSaysTheLineTheHostCommandReads(t *testing.T) {
	script, err := os.ReadFile("../entrypoints/postgres.sh")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(script), `say "`+contract.DatabaseCreatedLine+`"`) {
		t.Errorf("entrypoints/postgres.sh does not say %q", contract.DatabaseCreatedLine)
	}
}
