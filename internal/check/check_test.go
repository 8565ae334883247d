package check

import (
	"strings"
	"testing"
)

func TestCheckProjectName(t *testing.T) {
	for _, name := range []string{"commandcenter", "a", "my-app-2", strings.Repeat("x", 48)} {
		if err := ProjectName(name); err != nil {
			t.Errorf("ProjectName(%q) = %v, want nil", name, err)
		}
	}
	for _, name := range []string{"", "-x", "x-", "My", "a_b", "a/b", "a b", strings.Repeat("x", 49)} {
		err := ProjectName(name)
		if err == nil || !strings.Contains(err.Error(), "--project") {
			t.Errorf("ProjectName(%q) = %v, want an error naming --project", name, err)
		}
	}
}

func TestCheckPortsNamesTheClash(t *testing.T) {
	err := Ports(PortUse{5432, "Postgres (5432)"}, PortUse{8000, "--backend-port"}, PortUse{8000, "--frontend-port"})
	if err == nil {
		t.Fatal("want an error for two services on port 8000")
	}
	for _, want := range []string{"same port", "--backend-port and --frontend-port are all 8000"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if err := Ports(PortUse{5432, "a"}, PortUse{6379, "b"}, PortUse{8000, "c"}, PortUse{3000, "d"}); err != nil {
		t.Errorf("distinct ports: %v", err)
	}
}

func TestCheckPortRange(t *testing.T) {
	for _, port := range []int{0, -1, 65536, 100000} {
		err := Port(port, "--backend-port")
		if err == nil || !strings.Contains(err.Error(), "--backend-port") || !strings.Contains(err.Error(), "1 to 65535") {
			t.Errorf("Port(%d) = %v, want an out-of-range error naming the option", port, err)
		}
	}
	for _, port := range []int{1, 80, 65535} {
		if err := Port(port, "x"); err != nil {
			t.Errorf("Port(%d) = %v", port, err)
		}
	}
}

func TestCheckSubdir(t *testing.T) {
	for _, dir := range []string{"backend", "apps/web", "./backend"} {
		if err := Subdir(dir, "--backend-dir"); err != nil {
			t.Errorf("Subdir(%q) = %v", dir, err)
		}
	}
	for _, dir := range []string{"", "/etc", "../other", "a/../../b"} {
		if err := Subdir(dir, "--backend-dir"); err == nil || !strings.Contains(err.Error(), "--backend-dir") {
			t.Errorf("Subdir(%q) = %v, want an error naming --backend-dir", dir, err)
		}
	}
}

func TestImageRefListsVersions(t *testing.T) {
	ref, err := ImageRef("postgres", map[string]string{"15": "15-trixie", "16": "16-trixie", "17": "17-trixie"}, "17", "--postgres-version")
	if err != nil || ref != "postgres:17-trixie" {
		t.Fatalf("imageRef(17) = %q, %v", ref, err)
	}
	_, err = ImageRef("postgres", map[string]string{"15": "15-trixie", "16": "16-trixie", "17": "17-trixie"}, "9.6", "--postgres-version")
	if err == nil || !strings.Contains(err.Error(), "--postgres-version") || !strings.Contains(err.Error(), "15, 16, 17") {
		t.Errorf("imageRef(9.6) = %v, want an error naming the option and the versions", err)
	}
}

func TestCheckPackageJSON(t *testing.T) {
	if err := PackageJSON(`{"scripts": {"dev": "vite"}}`, "dev"); err != nil {
		t.Errorf("dev script present: %v", err)
	}
	if err := PackageJSON(`{"scripts": {"build": "vite build"}}`, "dev"); err == nil || !strings.Contains(err.Error(), "with-frontend --command") {
		t.Errorf("no dev script: %v, want an error naming with-frontend --command", err)
	}
	if err := PackageJSON(`{"scripts": `, "dev"); err == nil || !strings.Contains(err.Error(), "not valid JSON") {
		t.Errorf("broken JSON: %v", err)
	}
	if err := PackageJSON(`{}`, ""); err != nil {
		t.Errorf("custom command needs no script: %v", err)
	}
}

func TestCheckNamesOfVariablesServicesAndPostgres(t *testing.T) {
	for _, c := range []struct {
		err    error
		option string
	}{
		{EnvName("9LIVES", "with-env --name"), "with-env --name"},
		{EnvName("A-B", "with-env --name"), "with-env --name"},
		{ServiceName("Celery", "with-worker --name"), "with-worker --name"},
		{ServiceName("a_worker", "with-worker --name"), "with-worker --name"},
		{ServiceName("", "with-worker --name"), "with-worker --name"},
		{Ident("Robert'); DROP", "user", "with-postgres --user"), "with-postgres --user"},
		{App("main"), "--app"},
	} {
		if c.err == nil || !strings.Contains(c.err.Error(), c.option) {
			t.Errorf("got %v, want an error naming %s", c.err, c.option)
		}
	}
	for _, err := range []error{EnvName("SECRET_KEY", "x"), EnvName("_x1", "x"), ServiceName("celery-beat", "x"),
		Ident("commandcenter", "user", "x"), App("app.main:app"), App("pkg.asgi:create_app()")} {
		if err != nil {
			t.Errorf("a good name was refused: %v", err)
		}
	}
}

func TestCheckAbsPath(t *testing.T) {
	for _, p := range []string{"/app/storage", "/data", "/app/rag_storage/"} {
		if err := AbsPath(p, "with-volume --path", "/.commandcenter"); err != nil {
			t.Errorf("AbsPath(%q) = %v", p, err)
		}
	}
	for p, want := range map[string]string{
		"app/storage":             "not absolute",
		"/":                       "not a plain folder path",
		"/app/../etc":             "not a plain folder path",
		"//app":                   "not a plain folder path",
		"/.commandcenter/secrets": "the module's own folder",
	} {
		err := AbsPath(p, "with-volume --path", "/.commandcenter")
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "with-volume --path") {
			t.Errorf("AbsPath(%q) = %v, want an error saying %q and naming the option", p, err, want)
		}
	}
}

func TestMemory(t *testing.T) {
	for in, want := range map[string]int64{"512m": 512 << 20, "512MiB": 512 << 20, "2g": 2 << 30, "1.5GiB": 3 << 29, "2GB": 2 << 30, "8388608": 8 << 20, "4096k": 4 << 20} {
		if got, err := Memory(in, "with-backend --memory"); err != nil || got != want {
			t.Errorf("Memory(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "lots", "1m", "-2g", "2t", "g"} {
		if _, err := Memory(in, "with-backend --memory"); err == nil || !strings.Contains(err.Error(), "with-backend --memory") {
			t.Errorf("Memory(%q): %v, want an error naming the option", in, err)
		}
	}
}

func TestIgnorePatterns(t *testing.T) {
	if err := IgnorePatterns([]string{"tests/", "*.log", "!keep.log", "/build", "src/**/*.test.ts"}, "--watch-ignore"); err != nil {
		t.Errorf("good patterns refused: %v", err)
	}
	for _, bad := range []string{"", " ", "..", "../secrets", "!../x", "/../x"} {
		if err := IgnorePatterns([]string{bad}, "--watch-ignore"); err == nil || !strings.Contains(err.Error(), "--watch-ignore") {
			t.Errorf("IgnorePatterns(%q) = %v, want an error naming the option", bad, err)
		}
	}
}
