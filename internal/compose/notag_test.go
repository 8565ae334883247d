//go:build !composeloader

package compose

import "testing"

// The reading of compose files and its tests build only with the
// composeloader tag (see the package's doc): without it, they would be
// skipped without a word.
func TestNeedsTheComposeloaderTag(t *testing.T) {
	t.Fatal("the compose reader's tests need the composeloader tag: go test -tags composeloader ./internal/compose")
}
