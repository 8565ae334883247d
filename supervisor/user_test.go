package supervisor

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCommandRunsAsItsUser: with --user, the command and the prestart
// command run as that user, with a home of its own and an entry in the
// passwd and group files; the persistent folders root wrote become its own,
// so that it writes in them.
func TestCommandRunsAsItsUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("only root starts a process as another user")
	}
	dir := t.TempDir()
	// The user reaches the folders through the test's temporary folders.
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	accounts := filepath.Join(dir, "accounts")
	keep := filepath.Join(dir, "keep")
	folder := filepath.Join(keep, "files-app.uploads")
	for _, d := range []string{accounts, filepath.Join(keep, "secrets"), filepath.Join(folder, "old")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for name, text := range map[string]string{
		filepath.Join(accounts, "passwd"):    "root:x:0:0:root:/root:/bin/sh\n",
		filepath.Join(accounts, "group"):     "root:x:0:\n",
		filepath.Join(folder, "old", "kept"): "from a root run\n",
	} {
		if err := os.WriteFile(name, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd, out := command("--user", "4321:4322", "--secrets", filepath.Join(keep, "secrets"), "--folder", "files-app.uploads",
		"--prestart", "echo prestart as $(id -u)",
		"--", "sh", "-c", `echo "command as $(id -u):$(id -g) home=$HOME user=$USER cache=$YARN_CACHE_FOLDER other=$OTHER"; mkdir -p "$YARN_CACHE_FOLDER/v6" && echo more >> `+filepath.Join(folder, "old", "kept")+` && touch `+filepath.Join(folder, "new")+` && touch $HOME/mine && echo wrote`)
	// A path in root's home, as an image's package manager cache (yarn
	// makes it at each run), is the user's home's; another is kept.
	cmd.Env = append(cmd.Env, "SUPERVISOR_TEST_ACCOUNTS="+accounts, "HOME=/root", "YARN_CACHE_FOLDER=/root/.cache/yarn", "OTHER=/rootless/x")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if code := exitStatus(t, cmd); code != 0 {
		t.Fatalf("exit status %d, want 0\n%s", code, out)
	}
	home := filepath.Join(accounts, "home", "app")
	for _, want := range []string{
		"prestart as 4321\n",
		"command as 4321:4322 home=" + home + " user=app cache=" + home + "/.cache/yarn other=/rootless/x\n",
		"wrote\n",
		"made 3 files of the persistent folder " + folder + " the app user's (4321:4322), which root wrote",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the output does not say %q:\n%s", want, out)
		}
	}
	passwd, _ := os.ReadFile(filepath.Join(accounts, "passwd"))
	if !strings.Contains(string(passwd), "app:x:4321:4322:") {
		t.Errorf("the passwd file has no entry of user 4321:\n%s", passwd)
	}
	group, _ := os.ReadFile(filepath.Join(accounts, "group"))
	if !strings.Contains(string(group), ":x:4322:") {
		t.Errorf("the group file has no entry of group 4322:\n%s", group)
	}
}

// TestBadUserIsRefused: a user that is not UID:GID stops the run before
// anything starts, saying what to give.
func TestBadUserIsRefused(t *testing.T) {
	for _, bad := range []string{"app", "0:0", "1000", "1000:x"} {
		cmd, out := command("--user", bad, "--", "sh", "-c", "echo the-command-ran")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		if code := exitStatus(t, cmd); code != 2 {
			t.Errorf("--user %s: exit status %d, want 2\n%s", bad, code, out)
		}
		if strings.Contains(out.String(), "the-command-ran") || !strings.Contains(out.String(), "want UID:GID, numbers, such as 1000:1000") {
			t.Errorf("--user %s: the run started, or the message does not say what to give:\n%s", bad, out)
		}
	}
}

// TestServerOfItsUserIsSeenListening: a command run as its user, which
// the supervisor cannot look into as root without CAP_SYS_PTRACE (a
// container's root), is seen listening on its port, by the user of the
// socket: the service becomes ready instead of being stopped for not
// listening.
func TestServerOfItsUserIsSeenListening(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("only root starts a process as another user")
	}
	if _, err := exec.LookPath("setpriv"); err != nil {
		t.Skip("no setpriv (util-linux) to drop CAP_SYS_PTRACE with")
	}
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	accounts, state := filepath.Join(dir, "accounts"), filepath.Join(dir, "state")
	for _, d := range []string{accounts, state} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(accounts, "passwd"), []byte("root:x:0:0:root:/root:/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(unusedTarget(t))
	cmd, out := command("--state", state, "--name", "backend", "--user", "4321:4321", "--expect-port", port, "--",
		"perl", "-MIO::Socket::INET", "-e", `$|=1; my $s = IO::Socket::INET->new(LocalAddr => "0.0.0.0", LocalPort => `+port+`, Listen => 5, ReuseAddr => 1) or die "listen: $!"; print "listening\n"; sleep 600`)
	// As a container's root: without CAP_SYS_PTRACE, which the engine
	// does not give.
	cmd.Args = append([]string{"setpriv", "--bounding-set", "-sys_ptrace", cmd.Path}, cmd.Args[1:]...)
	cmd.Path, _ = exec.LookPath("setpriv")
	cmd.Env = append(cmd.Env, "SUPERVISOR_TEST_ACCOUNTS="+accounts)
	cmd.Dir = dir
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ended := make(chan struct{})
	defer func() {
		select {
		case <-ended:
		default:
			killAll(cmd) // the supervisor and its server, before they are waited for
			<-ended
		}
	}()
	go func() { cmd.Wait(); close(ended) }()
	// Ready, or stopped by the supervisor for not listening (after its
	// --start-timeout), whichever comes first.
	for {
		all, _ := readStatus(state)
		if len(all) == 1 && all[0].State == stateReady {
			return
		}
		select {
		case <-ended:
			t.Fatalf("the server of user 4321 was not seen listening on port %s:\n%s", port, out)
		case <-time.After(50 * time.Millisecond):
		}
	}
}
