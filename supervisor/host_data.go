package supervisor

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"dagger/commandcenter/internal/contract"
)

// What the host command keeps of a project's data outside the engine, so
// that a loss inside it is never silent: a record that the project had a
// database (written when a run became ready), and snapshots taken at clean
// stops. The engine's garbage collector, a prune or a new engine can empty
// the project's volumes; the next up then finds its database created anew,
// which Postgres's start says (contract.DatabaseCreatedLine), and says
// loudly that the data is gone and how to bring back the last snapshot.

// dataRecord is what this machine knows of a project's data.
type dataRecord struct {
	Project string `json:"project"`
	// HadData: a run of the project was ready here, with its database.
	HadData   bool      `json:"had_data"`
	LastReady time.Time `json:"last_ready"`
}

func dataRecordFile(project string) string {
	return filepath.Join(stateHome(), "projects", project+".data.json")
}

func readDataRecord(project string) dataRecord {
	var r dataRecord
	if text, err := os.ReadFile(dataRecordFile(project)); err == nil {
		_ = json.Unmarshal(text, &r)
	}
	r.Project = project
	return r
}

func writeDataRecord(r dataRecord) {
	_ = os.MkdirAll(filepath.Dir(dataRecordFile(r.Project)), 0o700)
	text, _ := json.MarshalIndent(r, "", "  ")
	_ = writeFileAtomic(dataRecordFile(r.Project), append(text, '\n'), 0o600)
}

// snapshotRoot is where up keeps a project's automatic snapshots, one
// folder each, named for the time it was taken (snapshotStamp, in UTC).
func snapshotRoot(project string) string {
	return filepath.Join(stateHome(), "snapshots", project)
}

const snapshotStamp = "20060102T150405Z"

// snapshots are the project's automatic snapshots, oldest first.
func snapshots(project string) []string {
	entries, _ := os.ReadDir(snapshotRoot(project))
	var all []string
	for _, e := range entries {
		if _, err := time.Parse(snapshotStamp, e.Name()); err == nil && e.IsDir() {
			all = append(all, filepath.Join(snapshotRoot(project), e.Name()))
		}
	}
	slices.Sort(all)
	return all
}

func snapshotTime(dir string) time.Time {
	t, _ := time.Parse(snapshotStamp, filepath.Base(dir))
	return t
}

// createdDatabase says whether this run's Postgres created its database,
// as its log since start says.
func (c *control) createdDatabase(start time.Time) (bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	q := url.Values{"service": {"postgres"}, "since": {start.UTC().Format(time.RFC3339)}}
	res, err := c.get(ctx, "/logs?"+q.Encode())
	if err != nil {
		return false, err
	}
	defer res.Body.Close()
	text, err := io.ReadAll(res.Body)
	if err != nil {
		return false, err
	}
	return strings.Contains(string(text), contract.DatabaseCreatedLine), nil
}

// lossWarning is what up says when a project that had data came up with a
// database created anew.
func lossWarning(project string, module []string, had dataRecord) string {
	var b strings.Builder
	fmt.Fprintf(&b, "WARNING: project %q came up with a NEW, EMPTY database. It had one when it last ran on this machine (%s): the engine no longer has its data (its garbage collector, a prune of its cache, or another engine). Passwords the project generated are new too.\n",
		project, had.LastReady.Local().Format("2006-01-02 15:04"))
	all := snapshots(project)
	if len(all) == 0 {
		fmt.Fprintf(&b, "There is no automatic snapshot of it here (%s). If you kept one: stop the stack, then\n  %s wipe --confirm=%s\n  %s restore --from=SNAPSHOT\n",
			snapshotRoot(project), strings.Join(module, " "), project, strings.Join(module, " "))
		return b.String()
	}
	last := all[len(all)-1]
	fmt.Fprintf(&b, "Its last snapshot was taken %s: %s. To bring it back, stop the stack, then\n  %s wipe --confirm=%s\n  %s restore -p %s\n",
		snapshotTime(last).Local().Format("2006-01-02 15:04"), last, strings.Join(module, " "), project, hostName, project)
	return b.String()
}

// autoSnapshot takes a snapshot of the project after a clean stop, when
// the last one is older than every, into snapshotRoot, and keeps the last
// keep of them.
func autoSnapshot(project string, module []string, every time.Duration, keep int, logger *log.Logger) {
	if every <= 0 {
		return
	}
	all := snapshots(project)
	if n := len(all); n > 0 && time.Since(snapshotTime(all[n-1])) < every {
		return
	}
	dir := filepath.Join(snapshotRoot(project), time.Now().UTC().Format(snapshotStamp))
	logger.Printf("taking a snapshot of project %q into %s (at most one every %s, the last %d kept; --snapshot-every=0 takes none)", project, dir, every, keep)
	if err := os.MkdirAll(snapshotRoot(project), 0o700); err != nil {
		logger.Printf("no snapshot: %v", err)
		return
	}
	start := time.Now()
	if _, err := daggerOutput(append(slices.Clone(module), "snapshot", "export", "--path="+dir)); err != nil {
		_ = os.RemoveAll(dir)
		logger.Printf("the snapshot failed: %v", err)
		return
	}
	logger.Printf("snapshot taken in %.1fs", time.Since(start).Seconds())
	all = snapshots(project)
	for len(all) > keep {
		_ = os.RemoveAll(all[0])
		all = all[1:]
	}
}

// hostRestore is restore: a snapshot (the project's latest automatic one
// by default) loaded into the project, which must have no data.
func hostRestore(args []string, stdout io.Writer, logger *log.Logger) int {
	fs := flag.NewFlagSet(hostName+" restore", flag.ContinueOnError)
	var pf projectFlags
	pf.define(fs)
	from := fs.String("from", "", "the snapshot's folder (default: the project's latest automatic snapshot)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	project, module := pf.command()
	if *from == "" {
		all := snapshots(project)
		if len(all) == 0 {
			logger.Printf("project %q has no automatic snapshot in %s: give --from=FOLDER", project, snapshotRoot(project))
			return 1
		}
		*from = all[len(all)-1]
	}
	logger.Printf("restoring %s into project %q", *from, project)
	out, err := daggerOutput(append(module, "restore", "--from="+*from))
	if err != nil {
		logger.Print(err)
		return 1
	}
	fmt.Fprint(stdout, out)
	return 0
}
