package hosttest

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// A project whose --src holds much more than the stack reads (a data folder
// of big files, thousands of docs, another app's tree) comes up as the
// plain example does, and a file changed outside the service folders
// between two `up`s rebuilds nothing: no dependency install runs again.
func TestBigSourceTreeRebuildsNothingForFilesOutside(t *testing.T) {
	t.Parallel()
	ports := stackPorts{25500, 25501, 25502, 25503}
	requireFree(t, ports.pg, ports.redis, ports.backend, ports.frontend)
	src := copyExample(t)
	addBulk(t, src, 200, 1<<20, 10000)
	env := []string{"BIG_PG=big-src-postgres-password", "BIG_REDIS=big-src-redis-password"}
	args := []string{"--progress=plain", "call", "--project=hosttest-big",
		"with-postgres", "--password=env:BIG_PG", "with-redis", "--password=env:BIG_REDIS",
		"stack", "--src=" + src, "up", "--ports", ports.arg()}
	httpc := &http.Client{Timeout: 10 * time.Second}
	up := func(what string) string {
		t.Helper()
		p := startUp(t, env, args...)
		// /health answers ok once the backend reaches Postgres and Redis.
		p.waitFor(what+": backend /health", 10*time.Minute, func() error {
			return getHealth(httpc, fmt.Sprintf("http://127.0.0.1:%d/health", ports.backend))
		})
		p.waitFor(what+": frontend /api/health", 2*time.Minute, func() error {
			return getHealth(httpc, fmt.Sprintf("http://127.0.0.1:%d/api/health", ports.frontend))
		})
		stopUp(t, p)
		waitReleased(t, ports.pg, ports.redis, ports.backend, ports.frontend)
		return p.log.String()
	}
	up("the first up")

	for _, changed := range []string{filepath.Join("docs", "part-0000", "page-000000.md"), filepath.Join("hub", "part-0001", "page-000201.md"), "NOTES.md"} {
		f, err := os.OpenFile(filepath.Join(src, changed), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		_, err = fmt.Fprintf(f, "changed at %s\n", time.Now().Format(time.RFC3339Nano))
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if ran := installsIn(up("the up after files outside the service folders changed")); ran != "none" {
		t.Errorf("files outside the service folders changed, and the next up ran %s again: nothing it reads changed", ran)
	}
}
