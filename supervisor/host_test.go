package main

import (
	"net/http"
	"slices"
	"strings"
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
