package supervisor

import (
	"fmt"
	"io"
	"os"
	"strings"

	"dagger/commandcenter/internal/minihttp"
)

// hasToken says whether r carries token (Authorization: Bearer TOKEN), the
// way the control service and the sync port take requests.
func hasToken(r *minihttp.Request, token string) bool {
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && sameSecret(got, token)
}

// sameSecret says whether got is want, in a time that does not depend on
// where they first differ (only on want's length).
func sameSecret(got, want string) bool {
	diff := len(got) ^ len(want)
	for i := 0; i < len(want); i++ {
		var g byte
		if i < len(got) {
			g = got[i]
		}
		diff |= int(g ^ want[i])
	}
	return diff == 0
}

// randomBytes fills b from the kernel's random source. (crypto/rand would
// do, but brings a part of the TLS stack's packages into every container's
// supervisor, which the engine compiles before a project first starts.)
func randomBytes(b []byte) error {
	f, err := os.Open("/dev/urandom")
	if err != nil {
		return fmt.Errorf("random bytes: %w", err)
	}
	defer f.Close()
	if _, err := io.ReadFull(f, b); err != nil {
		return fmt.Errorf("random bytes: %w", err)
	}
	return nil
}
