package main

import (
	"os/exec"
	"strings"
	"testing"
)

// The Go SDK compiles the module before a project's first start: the
// compose specification's library, which only the compose planner
// (composeplan) needs, must stay out of it, as it added about 6 s to
// every compile.
func TestModuleLeavesOutTheComposeLibrary(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 10 || deps[len(deps)-1] != "dagger/commandcenter" {
		t.Fatalf("go list did not list the module's packages:\n%s", out)
	}
	var heavy []string
	for _, p := range deps {
		if strings.HasPrefix(p, "github.com/compose-spec/") || strings.HasPrefix(p, "go.yaml.in/") || strings.HasPrefix(p, "github.com/santhosh-tekuri/jsonschema") {
			heavy = append(heavy, p)
		}
	}
	if len(heavy) > 0 {
		t.Errorf("the module imports %s: read compose files in the compose planner (composeplan, internal/compose with the composeloader tag) instead", strings.Join(heavy, ", "))
	}
}
