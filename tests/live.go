package main

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"dagger/tests/internal/dagger"
)

// liveClient sends a batch to a service's sync port and then polls url
// until its answer has want: what the host's watcher and a developer's
// browser do, from a container of the session.
const liveClient = `
import json, sys, time, urllib.request, urllib.error, os
sync, batch_file, url, want = sys.argv[1:5]
batch = open(batch_file).read()
def post(token):
    req = urllib.request.Request(sync, data=batch.encode(), method="POST",
                                 headers={"Content-Type": "application/json", "Authorization": "Bearer " + token})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
print("without the token:", post("not-the-token-but-long")[0])
code, body = post(os.environ["TOKEN"])
print("with the token:", code, body)
start = time.time()
while time.time() - start < 60:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            text = r.read().decode()
            if want in text:
                print("new answer:", text)
                sys.exit(0)
    except Exception:
        pass
    time.sleep(0.05)
print("no new answer from", url, file=sys.stderr)
sys.exit(1)
`

// LiveReloadReachesTheBackendAlone: with with-live-reload, the backend
// alone takes a changed source file on its sync port (with the token only)
// and answers with it after its restart, as the watcher makes it; the
// restart is the launcher's, with the packages imported already; the sync
// port lists the files the watcher must not send, --watch-ignore's among
// them.
//
// +cache="never"
func (m *Tests) LiveReloadReachesTheBackendAlone(ctx context.Context) error {
	token := secret("live-token")
	cc, err := emptyProject(ctx, "live-backend")
	if err != nil {
		return err
	}
	svc := cc.WithBackend(dagger.CommandcenterWithBackendOpts{WatchIgnore: []string{"scratch/", "*.tmp"}}).WithLiveReload(token).Backend(m.Example)
	if _, err := svc.Start(ctx); err != nil {
		return withOutput(err)
	}
	main, err := m.Example.File("backend/app/main.py").Contents(ctx)
	if err != nil {
		return err
	}
	const line = `    report["status"] = "ok" if ok else "degraded"`
	if !strings.Contains(main, line) {
		return fmt.Errorf("the example's main.py has no %q to change", line)
	}
	edited := strings.Replace(main, line, line+"\n    report[\"live\"] = \"edited\"", 1)
	batch, err := json.Marshal(map[string]any{"files": []map[string]any{{"path": "app/main.py", "data": []byte(edited), "mode": 0o644}}})
	if err != nil {
		return err
	}
	client := fresh(dag.Container().From(httpImage)).
		WithServiceBinding("backend", svc).
		WithSecretVariable("TOKEN", token)
	listing, err := client.WithExec([]string{"python3", "-c", `import os, urllib.request
req = urllib.request.Request("http://backend:65433/sync", headers={"Authorization": "Bearer " + os.environ["TOKEN"]})
print(urllib.request.urlopen(req, timeout=30).read().decode())`}).Stdout(ctx)
	if err != nil {
		return withOutput(err)
	}
	var services struct {
		Services []struct {
			Name   string   `json:"name"`
			Ignore []string `json:"ignore"`
		} `json:"services"`
	}
	if err := json.Unmarshal([]byte(listing), &services); err != nil || len(services.Services) != 1 ||
		!slices.Contains(services.Services[0].Ignore, "scratch/") || !slices.Contains(services.Services[0].Ignore, "*.tmp") {
		return fmt.Errorf("the sync port's listing has not --watch-ignore's patterns (%v):\n%s", err, listing)
	}
	out, err := client.
		WithNewFile("/batch.json", string(batch)).
		WithExec([]string{"python3", "-c", liveClient, "http://backend:65433/sync/backend", "/batch.json",
			"http://backend:8000/health", `"live":"edited"`}).
		Stdout(ctx)
	if err != nil {
		return withOutput(err)
	}
	if !strings.Contains(out, "without the token: 401") {
		return fmt.Errorf("the sync port took a batch without the token:\n%s", out)
	}
	if !strings.Contains(out, `with the token: 200`) || !strings.Contains(out, `"restarted":true`) {
		return fmt.Errorf("the batch with the token was not applied with a restart:\n%s", out)
	}
	// The new server came from the launcher, which kept the packages the
	// first one imported: the process was not restarted as a whole.
	preloaded := regexp.MustCompile(`the backend restarted with ([1-9][0-9]*) modules of its packages imported already`)
	logs, ok, err := pollLog(ctx, cc, "backend", preloaded.MatchString)
	if err != nil {
		return err
	}
	if !ok || strings.Contains(logs, "restarting backend") {
		return fmt.Errorf("a code change did not start the backend again from its launcher's imports:\n%s", logs)
	}
	return nil
}
