package spec

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

func TestCheckRequirements(t *testing.T) {
	good := strings.Join([]string{
		"# web",
		"fastapi>=0.110",
		"uvicorn[standard] >= 0.29, <1",
		"pg8000==1.31.2  # pure Python driver",
		"redis",
		"typing_extensions; python_version < \"3.11\"",
		"mypkg @ https://example.invalid/mypkg.tar.gz",
		"-r dev-requirements.txt",
		"--index-url https://mirror.invalid/simple",
		"",
	}, "\n")
	if err := Requirements(good); err != nil {
		t.Errorf("Requirements(good) = %v", err)
	}
	for _, bad := range []string{"fastapi >>= 1", "not a requirement", "flask==", "==1.0", "redis=5"} {
		err := Requirements("fastapi\n" + bad + "\n")
		if err == nil || !strings.Contains(err.Error(), "line 2") {
			t.Errorf("Requirements(%q) = %v, want an error naming line 2", bad, err)
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
	if err := PackageJSON(`{"scripts": {"build": "vite build"}}`, "dev"); err == nil || !strings.Contains(err.Error(), "--frontend-command") {
		t.Errorf("no dev script: %v, want an error naming --frontend-command", err)
	}
	if err := PackageJSON(`{"scripts": `, "dev"); err == nil || !strings.Contains(err.Error(), "not valid JSON") {
		t.Errorf("broken JSON: %v", err)
	}
	if err := PackageJSON(`{}`, ""); err != nil {
		t.Errorf("custom command needs no script: %v", err)
	}
}
