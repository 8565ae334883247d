package contract

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"testing"
)

// Every +ignore pragma of the module's functions (the root package, two
// folders up) is SourceIgnore: a pragma must be a literal, so the list is
// written in each, and this keeps them equal to the watcher's.
func TestIgnorePragmasAreSourceIgnore(t *testing.T) {
	files, err := filepath.Glob("../../*.go")
	if err != nil {
		t.Fatal(err)
	}
	pragma := regexp.MustCompile(`(?m)^\s*// \+ignore=(\[.*\])\s*$`)
	found := 0
	for _, f := range files {
		text, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range pragma.FindAllStringSubmatch(string(text), -1) {
			found++
			var list []string
			if err := json.Unmarshal([]byte(m[1]), &list); err != nil {
				t.Errorf("%s: +ignore=%s is not a JSON list: %v", f, m[1], err)
				continue
			}
			if !slices.Equal(list, SourceIgnore) {
				t.Errorf("%s: +ignore=%s, want SourceIgnore %q", f, m[1], SourceIgnore)
			}
		}
	}
	if found == 0 {
		t.Fatal("no +ignore pragma found in the root package: is it two folders up?")
	}
}
