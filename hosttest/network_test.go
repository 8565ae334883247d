package hosttest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestOnlyRootReachesTheEnginesContainers: with the kit's engine, a
// project's Postgres answers at its container's address on the engine's
// bridge to root (the engine opens `up`'s tunnels from there), and refuses
// every other user of the machine, who reaches it only through the port
// `up` forwards, with the password.
func TestOnlyRootReachesTheEnginesContainers(t *testing.T) {
	const project, port = "hosttest-guard", 25040
	leases := "/var/lib/cni/networks/dagger"
	if os.Getuid() != 0 {
		t.Skip("needs root, to connect as another user")
	}
	if _, err := os.Stat(filepath.Join(kitDir(), "bin")); err != nil {
		t.Skipf("the engine is not the kit's (%v): its network is the engine's own", err)
	}
	requireFree(t, port)
	ctx := context.Background()
	up := upPostgres(t, project, port)
	defer func() {
		stopUp(t, up)
		waitReleased(t, port)
	}()
	connectPostgres(t, ctx, port).Close(ctx)

	files, err := os.ReadDir(leases)
	if err != nil {
		t.Fatalf("the engine's address leases: %v", err)
	}
	var answering []string
	for _, f := range files {
		if net.ParseIP(f.Name()) == nil {
			continue
		}
		addr := net.JoinHostPort(f.Name(), "5432")
		if c, err := net.DialTimeout("tcp", addr, 2*time.Second); err == nil {
			c.Close()
			answering = append(answering, addr)
		}
	}
	if len(answering) == 0 {
		t.Fatalf("no container of %s answers on 5432 to root while Postgres runs: nothing to check against", leases)
	}
	// As nobody: the forwarded port answers (so the user can connect at
	// all), the containers' addresses refuse.
	asNobody := func(addr string) (string, error) {
		host, p, _ := net.SplitHostPort(addr)
		cmd := exec.Command("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--",
			"timeout", "10", "bash", "-c", fmt.Sprintf("exec 3<>/dev/tcp/%s/%s", host, p))
		out, err := cmd.CombinedOutput()
		return strings.TrimSpace(string(out)), err
	}
	if out, err := asNobody(fmt.Sprintf("127.0.0.1:%d", port)); err != nil {
		t.Fatalf("as nobody, the port up forwards (%d) does not answer: %v %s", port, err, out)
	}
	for _, addr := range answering {
		out, err := asNobody(addr)
		if err == nil {
			t.Errorf("as nobody, %s (a container of the engine) answers: any user of the machine reaches the project's services without up", addr)
		} else if !strings.Contains(out, "refused") {
			t.Errorf("as nobody, %s: %v %q; want the connection refused by the kit's rule", addr, err, out)
		}
	}
}

// kitDir is the engine kit's folder.
func kitDir() string {
	if d := os.Getenv("KIT_DIR"); d != "" {
		return d
	}
	return "/var/lib/commandcenter-kit"
}
