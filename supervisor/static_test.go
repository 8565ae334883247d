package supervisor

import (
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"dagger/commandcenter/internal/contract"
)

func TestServeStaticServesTheBuildAndSendsApiOn(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{
		"index.html":    "<!doctype html><title>built page</title>",
		"assets/app.js": "console.log('built')",
	} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "backend saw "+r.URL.Path)
	}))
	defer backend.Close()
	api, err := contract.ParseProxy("/api=" + backend.URL)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(staticHandler(dir, []contract.Proxy{api}, log.New(io.Discard, "", 0)))
	defer srv.Close()
	for path, want := range map[string]string{
		"/":                "built page",
		"/assets/app.js":   "console.log('built')",
		"/notes/42":        "built page", // a route of the app
		"/api/health":      "backend saw /api/health",
		"/api/notes?x=1":   "backend saw /api/notes",
		"/assets/":         "built page",
		"/../../etc/hosts": "built page",
	} {
		res, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 || !strings.Contains(string(body), want) {
			t.Errorf("GET %s: %d %q, want 200 and %q", path, res.StatusCode, body, want)
		}
	}
}

func TestServeStaticSaysWhatIsMissing(t *testing.T) {
	var out strings.Builder
	if code := serveStatic([]string{"--dir", t.TempDir(), "--port", "0"}, &out); code != 2 || !strings.Contains(out.String(), "has no index.html") {
		t.Errorf("a folder without index.html: %d %q", code, out.String())
	}
	if code := serveStatic([]string{"--dir", t.TempDir(), "--proxy", "api=backend:8000"}, &out); code != 2 || !strings.Contains(out.String(), "such as /api=http://backend:8000") {
		t.Errorf("a bad --proxy: %d %q", code, out.String())
	}
}
