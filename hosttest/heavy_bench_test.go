//go:build bench

package hosttest

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Runs of each heavy-backend measurement, alternating with the example's.
const heavyRuns = 6

// heavyModel is the heavy backend's model module: the packages AI backends
// carry, imported and used at the app's start, as such backends load their
// models. It says how long its imports took.
const heavyModel = `"""A small model fitted at import, as AI backends load theirs at start."""

import time

_started = time.perf_counter()
import numpy as np  # noqa: E402
import scipy.stats  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402

IMPORT_SECONDS = time.perf_counter() - _started

_rng = np.random.default_rng(0)
_x = _rng.normal(size=(500, 8))
_y = (_x[:, 0] + scipy.stats.norm.ppf(0.5) * _x[:, 1] > 0).astype(int)
MODEL = LogisticRegression().fit(_x, _y)


def score():
    return float(MODEL.score(_x, _y))
`

// makeHeavyBackend is a copy of the example whose backend needs numpy, scipy
// and scikit-learn and imports them at start (its /health reports the
// model's score and how long the imports took).
func makeHeavyBackend(t *testing.T) string {
	t.Helper()
	src := copyExample(t)
	appendLine(t, filepath.Join(src, "backend", "requirements.txt"), "numpy>=1.26\nscipy>=1.11\nscikit-learn>=1.4")
	if err := os.WriteFile(filepath.Join(src, "backend", "app", "model.py"), []byte(heavyModel), 0o644); err != nil {
		t.Fatal(err)
	}
	main := filepath.Join(src, "backend", "app", "main.py")
	text, err := os.ReadFile(main)
	if err != nil {
		t.Fatal(err)
	}
	edited := string(text)
	for _, edit := range [][2]string{
		{"from app.migrate import migrate\n", "from app.migrate import migrate\nfrom app import model\n"},
		{`    report["status"] = "ok" if ok else "degraded"` + "\n",
			`    report["model_score"] = f"{model.score():.3f}"` + "\n" + `    report["import_seconds"] = f"{model.IMPORT_SECONDS:.3f}"` + "\n" +
				`    report["status"] = "ok" if ok else "degraded"` + "\n"},
	} {
		if !strings.Contains(edited, edit[0]) {
			t.Fatalf("the example's backend/app/main.py has no %q: make the heavy backend from what it has now", edit[0])
		}
		edited = strings.Replace(edited, edit[0], edit[1], 1)
	}
	if err := os.WriteFile(main, []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	return src
}

// heavyHealth is the heavy backend's /health: its model's score and how
// long the app took to import numpy, scipy and scikit-learn.
func heavyHealth(t *testing.T, port int) (score, importSeconds float64) {
	t.Helper()
	client := &http.Client{Timeout: 10 * time.Second}
	res, err := client.Get(fmt.Sprintf("http://127.0.0.1:%d/health", port))
	if err != nil {
		t.Fatalf("the heavy backend's /health: %v", err)
	}
	defer res.Body.Close()
	// Strings, as every value of the example's /health.
	var report map[string]string
	if err := json.NewDecoder(res.Body).Decode(&report); err != nil {
		t.Fatalf("the heavy backend's /health: %v", err)
	}
	score, err1 := strconv.ParseFloat(report["model_score"], 64)
	importSeconds, err2 := strconv.ParseFloat(report["import_seconds"], 64)
	if err := errors.Join(err1, err2); err != nil {
		t.Fatalf("the heavy backend's /health %v has no model_score or import_seconds (%v): it runs the example's app, not the heavy one", report, err)
	}
	return score, importSeconds
}

// heavyBackendSection measures a backend of the AI kind against the plain
// example, alternating: warm `up`, one backend file changed, and live
// reload.
func heavyBackendSection(t *testing.T) string {
	t.Helper()
	ports := stackPorts{25700, 25701, 25702, 25703}
	requireFree(t, ports.pg, ports.redis, ports.backend, ports.frontend)
	plain, heavy := copyExample(t), makeHeavyBackend(t)
	args := func(src string) func() []string {
		return func() []string { return stackArgs("bench-heavy", src, ports, true) }
	}
	change := func(src string) func(int) {
		return func(run int) {
			appendLine(t, filepath.Join(src, "backend", "app", "main.py"), fmt.Sprintf("# bench change %d %d", run, time.Now().UnixNano()))
		}
	}
	var warmPlain, warmHeavy, changedPlain, changedHeavy series
	// The first `up` of each builds its image (pip sees the heavy packages
	// where the image carries them, and installs them where it does not).
	first := measureUps(t, "first heavy", 1, args(heavy), benchPasswords, ports, nil)
	measureUps(t, "warm-up plain", 1, args(plain), benchPasswords, ports, nil)
	for range heavyRuns {
		warmPlain.add(measureUps(t, "warm plain", 1, args(plain), benchPasswords, ports, nil))
		warmHeavy.add(measureUps(t, "warm heavy", 1, args(heavy), benchPasswords, ports, nil))
	}
	for run := range heavyRuns {
		changedPlain.add(measureUps(t, "changed plain", 1, args(plain), benchPasswords, ports, func(int) { change(plain)(run) }))
		changedHeavy.add(measureUps(t, "changed heavy", 1, args(heavy), benchPasswords, ports, func(int) { change(heavy)(run) }))
	}

	// Live reload of the heavy backend: the app restarts with its imports.
	live := startLiveOn(t, "bench-heavy-live", makeHeavyBackend(t), stackPorts{25710, 25711, 25712, 25713}, 25719)
	score, imports := heavyHealth(t, 25712)
	var edits series
	for n := 1; n <= liveRuns; n++ {
		edits.times = append(edits.times, live.editBackend(t, n))
	}
	stopUp(t, live.up)
	waitReleased(t, 25710, 25711, 25712, 25713, 25719)

	var b strings.Builder
	fmt.Fprintf(&b, "\n## A heavy backend\n\n")
	fmt.Fprintf(&b, "The example with numpy, scipy and scikit-learn in its requirements, imported by the app at start, where it fits a small model (`/health` reports its score, %.2f, and how long the imports took in the running backend: %.2f s), against the plain example, `up` alternating between the two, passwords given. On this machine the Python image carries Debian's builds of the three (PyPI is out of reach), so pip finds them installed; with PyPI, pip downloads their wheels on the first `up` and never after, as for any requirement. torch is not among them: Debian's build pins a sympy that Debian does not ship, so the offline image cannot carry it.\n\n", score, imports)
	b.WriteString("| measurement | median | p90 | slowest | runs | target | reinstalled |\n| --- | --- | --- | --- | --- | --- | --- |\n")
	b.WriteString(first.row("the heavy backend's first `up` of this run", ""))
	b.WriteString(warmPlain.row("warm `up`, the plain example", ""))
	b.WriteString(warmHeavy.row("warm `up`, the heavy backend", "no slower than the plain example's"))
	b.WriteString(changedPlain.row("one backend source file changed, the plain example", ""))
	b.WriteString(changedHeavy.row("one backend source file changed, the heavy backend", "no slower than the plain example's, nothing reinstalled"))
	b.WriteString(edits.row("live reload of the heavy backend: a backend file saved, to its new answer on the backend's port", "under 2 s"))
	fmt.Fprintf(&b, "\nHeavy against plain (medians): warm `up` %.2fx, one file changed %.2fx. Runs (s): warm plain %s; warm heavy %s; changed plain %s; changed heavy %s; live reload %s.\n\n",
		float64(median(warmHeavy.times))/float64(median(warmPlain.times)), float64(median(changedHeavy.times))/float64(median(changedPlain.times)),
		joinDurations(warmPlain.times), joinDurations(warmHeavy.times), joinDurations(changedPlain.times), joinDurations(changedHeavy.times), joinDurations(edits.times))
	b.WriteString(breakdown([]string{"warm `up`, plain", "warm `up`, heavy", "one file changed, plain", "one file changed, heavy"},
		[][][]time.Duration{warmPlain.phases, warmHeavy.phases, changedPlain.phases, changedHeavy.phases}))
	return b.String()
}

// TestBenchmarkHeavyBackend measures the heavy-backend rows alone (make
// bench measures them with everything else); it writes no results.
func TestBenchmarkHeavyBackend(t *testing.T) {
	t.Log(heavyBackendSection(t))
}
