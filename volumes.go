package main

import (
	"fmt"
	"path"
	"strings"

	"dagger/commandcenter/internal/check"
	"dagger/commandcenter/internal/dagger"
)

// A project's data lives in cache volumes named for it,
// commandcenter-PROJECT-KIND (commandcenter-PROJECT-KEYID-KIND for a
// project with a key): a database for each Postgres version
// (postgres-17), Redis's (redis), the generated passwords (secrets), each
// persistent folder (files-...), and, not data, what runs (state: locks,
// status, logs).

// keepRoot is where containers mount the cache volumes that hold a project's
// data. Engine GC policies tell them from caches by this path, which the
// engine records when it creates a volume (see the README's "Data that
// lasts"): keep it in one place.
const keepRoot = "/.commandcenter"

// keepPath is where a container mounts the project's volume of one kind.
func keepPath(kind string) string { return keepRoot + "/" + kind }

// Kinds of the project's volumes that every service mounts.
const (
	secretsKind = "secrets"
	stateKind   = "state"
)

// volume is the cache volume that holds one kind of this project's data.
func (m *Commandcenter) volume(kind string) *dagger.CacheVolume {
	return dag.CacheVolume(m.volumeName(kind))
}

func (m *Commandcenter) volumeName(kind string) string {
	if m.KeyID != "" {
		return fmt.Sprintf("commandcenter-%s-%s-%s", m.Project, m.KeyID, kind)
	}
	return fmt.Sprintf("commandcenter-%s-%s", m.Project, kind)
}

// withVolumes mounts the project's volumes of kinds at their keep paths.
// They are shared: a run that holds data takes its lock in the state
// volume (contract.Run.Locks), which tells a second run at once that the
// project is in use, where a locked mount would make it wait, for ever.
func (m *Commandcenter) withVolumes(ctr *dagger.Container, kinds ...string) *dagger.Container {
	for _, kind := range kinds {
		ctr = ctr.WithMountedCache(keepPath(kind), m.volume(kind))
	}
	return ctr
}

// WithVolume keeps a folder of the backend and its workers across runs, per
// project, as a compose named volume does (such as /app/storage): the
// backend and every worker see the same files. Wipe deletes it with the rest
// of the project's data.
func (m *Commandcenter) WithVolume(
	// Absolute path of the folder in the backend's and workers' containers.
	path string,
) (*Commandcenter, error) {
	if err := check.AbsPath(path, "with-volume --path", keepRoot); err != nil {
		return nil, err
	}
	for _, f := range m.Folders {
		if f == path {
			return m, nil
		}
	}
	m.Folders = append(m.Folders, path)
	return m, nil
}

// folderKind names the volume of a persistent folder: the path, with dots
// for slashes.
func folderKind(p string) string {
	return "files-" + strings.ReplaceAll(strings.Trim(path.Clean(p), "/"), "/", ".")
}

// folderKinds are the kinds of the persistent folders' volumes.
func (m *Commandcenter) folderKinds() []string {
	var kinds []string
	for _, f := range m.Folders {
		kinds = append(kinds, folderKind(f))
	}
	return kinds
}

// withFolders mounts the persistent folders, each at its path (a link to
// its keep path).
func (m *Commandcenter) withFolders(ctr *dagger.Container) *dagger.Container {
	for _, f := range m.Folders {
		kind := folderKind(f)
		ctr = m.withVolumes(ctr, kind).WithSymlink(keepPath(kind), f)
	}
	return ctr
}
