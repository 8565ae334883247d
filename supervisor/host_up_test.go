package supervisor

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"dagger/commandcenter/internal/contract"
	"dagger/commandcenter/internal/minihttp"
)

// The test binary runs the host command when SUPERVISOR_TEST_HOST=1: a test
// runs up as a process of its own, as a person does.
func init() {
	if os.Getenv("SUPERVISOR_TEST_HOST") == "1" {
		os.Exit(runHost(os.Args[1:], os.Stdout, os.Stderr))
	}
}

// fakeDagger stands in for the dagger CLI, with the test binary doing the
// work:
//   - `... control ... up --ports P:...` forwards P to the test's control
//     handler, and leaves the token up gave it in $TOKEN_FILE for the
//     handler;
//   - `... up --ports HOST:...` runs the service under a supervisor, ready
//     at once (no port, no health check), and listens on HOST only
//     $PORT_DELAY seconds later, as the CLI opens its tunnels only after
//     the engine has checked the service's ports; like dagger's up, it
//     goes on after the service has ended.
const fakeDagger = `#!/bin/sh
ports= prev= control=
for a; do
  [ "$prev" = --ports ] && ports=$a
  [ "$a" = control ] && control=1
  prev=$a
done
host=${ports%%:*}
if [ -n "$control" ]; then
  eval "printf %s \"\$$TOKEN_VAR\"" >"$TOKEN_FILE"
  exec env -u SUPERVISOR_TEST_HOST SUPERVISOR_TEST_RUN=1 "$TEST_BIN" --route "$host=$CONTROL_TARGET" -- sleep 1000
fi
env -u SUPERVISOR_TEST_HOST SUPERVISOR_TEST_RUN=1 "$TEST_BIN" --state "$TEST_STATE" --project shop --name postgres -- \
  sh -c 'sleep "$PORT_DELAY"; exec env -u SUPERVISOR_TEST_HOST SUPERVISOR_TEST_RUN=1 "$TEST_BIN" --route "'"$host"'=$CONTROL_TARGET" -- sleep 1000'
# dagger's up goes on after its service has ended
exec sleep 1000
`

// up says the project is up once its services are ready and the host
// ports listen, even when the ports come after the last change of the
// services' status (no event to wake it then).
func TestUpIsReadyWhenThePortsListenAfterTheServices(t *testing.T) {
	state := t.TempDir()
	tokenFile := filepath.Join(t.TempDir(), "token")
	srvURL := serveForTest(t, func(w *minihttp.ResponseWriter, r *minihttp.Request) {
		token, _ := os.ReadFile(tokenFile)
		controlHandler(contract.Query{State: state, Project: "shop"}, string(token))(w, r)
	})
	bin := t.TempDir()
	if err := os.WriteFile(filepath.Join(bin, "dagger"), []byte(fakeDagger), 0o755); err != nil {
		t.Fatal(err)
	}
	hostPort, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	up := exec.Command(os.Args[0], "up", "--timeout", "30s", "--snapshot-every=0", "--",
		"dagger", "call", "--project=shop", "postgres", "up", "--ports", fmt.Sprintf("%d:5432", hostPort))
	up.Env = append(os.Environ(), "SUPERVISOR_TEST_HOST=1", "XDG_STATE_HOME="+t.TempDir(),
		"PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"),
		"TEST_BIN="+os.Args[0], "TEST_STATE="+state, "PORT_DELAY=1",
		"CONTROL_TARGET="+strings.TrimPrefix(srvURL, "http://"),
		"TOKEN_VAR="+contract.ControlTokenEnv, "TOKEN_FILE="+tokenFile, contract.StackTokenEnv+"="+testToken)
	out := &syncBuffer{}
	up.Stdout, up.Stderr = out, out
	up.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	up.WaitDelay = 2 * time.Second
	if err := up.Start(); err != nil {
		t.Fatal(err)
	}
	ended := make(chan error, 1)
	go func() { ended <- up.Wait() }()
	defer func() { _ = syscall.Kill(-up.Process.Pid, syscall.SIGKILL) }()

	// up ends by itself at its --timeout if it never sees the ports.
	for !strings.Contains(out.String(), `project "shop" is up`) {
		select {
		case err := <-ended:
			t.Fatalf("up ended (%v) without saying the project is up:\n%s", err, out)
		case <-time.After(20 * time.Millisecond):
		}
	}
	// Ctrl-C: a clean stop through the control service, and up ends.
	_ = up.Process.Signal(syscall.SIGINT)
	select {
	case err := <-ended:
		if err != nil || !strings.Contains(out.String(), `project "shop" stopped`) {
			t.Errorf("up after Ctrl-C: %v\n%s", err, out)
		}
	case <-time.After(time.Minute):
		t.Fatalf("up did not end within a minute of Ctrl-C:\n%s", out)
	}
}
