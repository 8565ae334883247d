package main

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// The supervisor of the containers (-tags incontainer) is compiled by the
// engine before a project first starts: it must not bring net/http and the
// TLS stack back, which doubled that compile.
func TestContainersBuildLeavesOutNetHTTP(t *testing.T) {
	out, err := exec.Command("go", "list", "-tags", "incontainer", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	deps := strings.Fields(string(out))
	if !slices.Contains(deps, "dagger/commandcenter/internal/minihttp") {
		t.Fatalf("go list found no internal/minihttp among the supervisor's packages:\n%s", out)
	}
	var heavy []string
	for _, p := range deps {
		if p == "net/http" || strings.HasPrefix(p, "net/http/") || p == "crypto/tls" || p == "crypto/rand" {
			heavy = append(heavy, p)
		}
	}
	if len(heavy) > 0 {
		t.Errorf("the containers' supervisor imports %s: use internal/minihttp, sameSecret and randomBytes (secret.go) instead", strings.Join(heavy, ", "))
	}
}
