package manifest

import (
	"reflect"
	"strings"
	"testing"
)

func TestRequirementsFindsLocalFilesAndFolders(t *testing.T) {
	text := "\ufeff# web\n" +
		"fastapi==0.115  # pinned\n" +
		"-r requirements/base.txt\n" +
		"--requirement=more.txt\n" +
		"-cconstraints.txt\n" +
		"-e ../libs/knowledgebeast  # editable, from the monorepo\n" +
		"--editable=../libs/other[dev]\n" +
		"./vendor/pkg[extra]\n" +
		"-e git+https://example.invalid/x.git#egg=x\n" +
		"uvicorn[standard]==0.27.0 \\\n" +
		"    --hash=sha256:abc \\\n" +
		"    --hash=sha256:def\n" +
		"--find-links ./wheels\n" +
		"--index-url https://mirror.invalid/simple\n" +
		"name @ https://example.invalid/n.tar.gz\n" +
		"-e file:../libs/third\n"
	got := Requirements(text)
	want := []Ref{
		{Path: "requirements/base.txt", Include: true, Line: 4},
		{Path: "more.txt", Include: true, Line: 5},
		{Path: "constraints.txt", Include: true, Line: 6},
		{Path: "../libs/knowledgebeast", Line: 7},
		{Path: "../libs/other", Line: 8},
		{Path: "./vendor/pkg", Line: 9},
		{Path: "./wheels", Line: 14},
		{Path: "../libs/third", Line: 17},
	}
	// Line numbers count the BOM line as line 1, the continued requirement
	// as the line it starts on.
	for i := range want {
		want[i].Line -= 1
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Requirements:\n got %+v\nwant %+v", got, want)
	}
}

func TestResolveStaysInsideSrc(t *testing.T) {
	p, err := Resolve(Ref{Path: "../libs/x"}, "backend", "backend/requirements.txt")
	if err != nil || p != "libs/x" {
		t.Errorf("Resolve(../libs/x from backend) = %q, %v", p, err)
	}
	p, err = Resolve(Ref{Path: "base.txt", Include: true}, "backend/requirements", "x")
	if err != nil || p != "backend/requirements/base.txt" {
		t.Errorf("Resolve(base.txt) = %q, %v", p, err)
	}
	for _, bad := range []string{"../../outside", "/abs/path"} {
		_, err := Resolve(Ref{Path: bad, Line: 3}, "backend", "backend/requirements.txt")
		if err == nil || !strings.Contains(err.Error(), "backend/requirements.txt line 3") || !strings.Contains(err.Error(), bad) {
			t.Errorf("Resolve(%q) = %v, want an error naming the file, line and path", bad, err)
		}
	}
}

func TestPyprojectListsDependencies(t *testing.T) {
	text := `
[project]
name = "api"
dependencies = ["fastapi>=0.110", "sqlalchemy[asyncio]>=2"]
[project.optional-dependencies]
test = ["pytest"]
`
	got, err := Pyproject(text, []string{"test"})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"fastapi>=0.110\n", "sqlalchemy[asyncio]>=2\n", "pytest\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("requirements %q lack %q", got, want)
		}
	}
	if _, err := Pyproject(text, []string{"docs"}); err == nil || !strings.Contains(err.Error(), `"docs"`) || !strings.Contains(err.Error(), "test") {
		t.Errorf("unknown extra: %v", err)
	}
}

func TestPyprojectRefusesWhatPipCannotReadWithoutTheSource(t *testing.T) {
	for text, want := range map[string]string{
		`[project]` + "\nname=\"x\"\ndynamic=[\"dependencies\"]\n": "dynamic",
		"[tool.poetry]\nname=\"x\"\n":                              "Poetry",
		"[build-system]\nrequires=[]\n":                            "no [project] table",
		"[project\n":                                               "not valid TOML",
	} {
		if _, err := Pyproject(text, nil); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Pyproject(%q) = %v, want an error saying %q", text, err, want)
		}
	}
}

func TestHoldsCredentialsFindsTokensInURLs(t *testing.T) {
	for _, text := range []string{
		"--index-url https://__token__:glpat-secret@gitlab.example/api/v4/projects/1/packages/pypi/simple\nfastapi\n",
		"--extra-index-url=https://user:pass@pypi.example/simple\n",
		"mylib @ git+https://ghp_secret@github.example/org/mylib.git\n",
		"-e git+ssh://deploy@git.example/org/lib.git#egg=lib\n",
	} {
		if !HoldsCredentials(text) {
			t.Errorf("HoldsCredentials(%q) = false: its URL carries credentials", text)
		}
	}
	for _, text := range []string{
		"fastapi>=0.110\nuvicorn[standard]>=0.29\n",
		"--index-url https://pypi.example/simple\n--extra-index-url ${PIP_EXTRA_INDEX_URL}\n",
		"mylib @ git+https://github.example/org/mylib.git@v1.2\n",
		"# contact: team@example.org\n-r base.txt\n-e ../libs/core\n",
	} {
		if HoldsCredentials(text) {
			t.Errorf("HoldsCredentials(%q) = true: no URL in it carries credentials", text)
		}
	}
}
