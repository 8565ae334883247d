package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"dagger/commandcenter/internal/dagger"
)

// snapshotManifest is snapshot.json, the description of a snapshot.
type snapshotManifest struct {
	// Module says what made it.
	Module string `json:"module"`
	// Project it was taken of.
	Project string `json:"project"`
	// Taken is when, in RFC 3339.
	Taken string `json:"taken"`
	// Kinds of the volumes it holds, one KIND.tar.gz each: postgres-17,
	// redis, secrets, files-... (the volumes are commandcenter-PROJECT-KIND).
	Kinds []string `json:"kinds"`
}

const snapshotModule = "commandcenter snapshot 1"

// Snapshot saves the project's data as a folder: every Postgres version's
// database, Redis's data, the generated passwords and the persistent
// folders, a tar.gz each, with checksums and a snapshot.json that says what
// they are. Export it to the host:
//
//	dagger call --project=PROJECT snapshot export --path=./snapshots/PROJECT
//
// The project must not be running (its data is then complete and
// consistent). The files hold the data as it is, passwords included: keep
// them as you keep the database. Restore them with restore.
//
// +cache="never"
func (m *Commandcenter) Snapshot(ctx context.Context) (*dagger.Directory, error) {
	kinds, err := m.dataKinds(ctx)
	if err != nil {
		return nil, err
	}
	out := m.dataOp(kinds, "snapshot", append([]string{snapshotPath, "save"}, kinds...), nil).Directory("/out")
	saved, err := out.File("kinds").Contents(ctx)
	if err != nil {
		return nil, opError(err, fmt.Sprintf("snapshot of project %q", m.Project))
	}
	if strings.TrimSpace(saved) == "" {
		return nil, fmt.Errorf("snapshot: project %q has no data (it never ran, or it was wiped), so there is nothing to save: check --project", m.Project)
	}
	manifest, err := json.MarshalIndent(snapshotManifest{
		Module:  snapshotModule,
		Project: m.Project,
		Taken:   time.Now().UTC().Format(time.RFC3339),
		Kinds:   strings.Fields(saved),
	}, "", "  ")
	if err != nil {
		return nil, err
	}
	return out.WithoutFile("kinds").WithNewFile("snapshot.json", string(manifest)+"\n"), nil
}

// Restore loads a snapshot (snapshot) into the project, which must have no
// data: a project that was never used, one that was wiped, or one whose
// engine lost its cache. The snapshot may be of another project: its data,
// and its passwords, become this project's.
//
//	dagger call --project=PROJECT restore --from=./snapshots/PROJECT
//
// +cache="never"
func (m *Commandcenter) Restore(
	ctx context.Context,
	// The snapshot's folder (snapshot.json and the files it names).
	from *dagger.Directory,
) (string, error) {
	text, err := from.File("snapshot.json").Contents(ctx)
	if err != nil {
		return "", fmt.Errorf("restore: --from has no snapshot.json: give the folder `snapshot export` wrote (%w)", err)
	}
	var s snapshotManifest
	if err := json.Unmarshal([]byte(text), &s); err != nil || s.Module != snapshotModule {
		return "", fmt.Errorf("restore: --from's snapshot.json is not a commandcenter snapshot: give the folder `snapshot export` wrote")
	}
	known, err := m.dataKinds(ctx)
	if err != nil {
		return "", err
	}
	for _, kind := range s.Kinds {
		if !slices.Contains(known, kind) && !strings.HasPrefix(kind, "files-") {
			return "", fmt.Errorf("restore: the snapshot holds a volume of kind %q, which this module does not know: restore it with the version of the module that took it", kind)
		}
	}
	_, err = m.dataOp(s.Kinds, "restore", append([]string{snapshotPath, "load"}, s.Kinds...), from).Sync(ctx)
	var exec *dagger.ExecError
	switch {
	case errors.As(err, &exec) && exec.ExitCode == exitInUse:
		return "", opError(err, "restore")
	case errors.As(err, &exec) && exec.ExitCode == 3:
		return "", fmt.Errorf("restore: project %q has data (%s): restore into a project without data, or wipe this one first (dagger call --project=%s wipe --confirm=%s)",
			m.Project, strings.TrimSpace(strings.TrimPrefix(exec.Stderr, "commandcenter: ")), m.Project, m.Project)
	case errors.As(err, &exec) && exec.ExitCode == 4:
		return "", fmt.Errorf("restore: the snapshot's files do not match their checksums (SHA256SUMS): it is damaged or incomplete; restore another")
	case err != nil:
		return "", opError(err, fmt.Sprintf("restore into project %q", m.Project))
	}
	return fmt.Sprintf("restored the snapshot of project %q taken %s into project %q: %s\n",
		s.Project, s.Taken, m.Project, strings.Join(s.Kinds, ", ")), nil
}
