package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"dagger/commandcenter/internal/check"
	"dagger/commandcenter/internal/contract"
	"dagger/commandcenter/internal/dagger"
)

// Urls prints the addresses of a running stack's services as seen from the
// host, with the project's passwords, one VARIABLE=URL a line. Give it the
// host ports you forwarded with `up --ports`.
//
// +cache="never"
func (m *Commandcenter) Urls(
	ctx context.Context,
	// Host port forwarded to Postgres (5432).
	// +optional
	// +default=15000
	postgresPort int,
	// Host port forwarded to Redis (6379).
	// +optional
	// +default=15001
	redisPort int,
	// Host port forwarded to the backend.
	// +optional
	// +default=15002
	backendPort int,
	// Host port forwarded to the frontend.
	// +optional
	// +default=15003
	frontendPort int,
) (string, error) {
	if err := check.Ports(
		check.PortUse{Port: postgresPort, Option: "--postgres-port"}, check.PortUse{Port: redisPort, Option: "--redis-port"},
		check.PortUse{Port: backendPort, Option: "--backend-port"}, check.PortUse{Port: frontendPort, Option: "--frontend-port"},
	); err != nil {
		return "", fmt.Errorf("urls: %w", err)
	}
	if err := m.checkSettings(); err != nil {
		return "", fmt.Errorf("urls: %w", err)
	}
	pw, err := m.readPasswords(ctx)
	if err != nil {
		return "", err
	}
	var notes []string
	shown := func(p password, what, option string) string {
		if p.source == "given to the stack" {
			notes = append(notes, fmt.Sprintf("# the project's %s last ran with a password given to it (%s): urls cannot know it; give urls the same %s", what, option, option))
			return "GIVEN-PASSWORD"
		}
		return contract.EscapePassword(p.plain)
	}
	out := fmt.Sprintf("DATABASE_URL=%s\nREDIS_URL=%s\nBACKEND_URL=http://localhost:%d\nFRONTEND_URL=http://localhost:%d\n",
		m.databaseURL(shown(pw.pg, "Postgres", "with-postgres --password"), "localhost", postgresPort),
		redisURL(shown(pw.rd, "Redis", "with-redis --password"), "localhost", redisPort), backendPort, frontendPort)
	for _, n := range notes {
		out += n + "\n"
	}
	return out, nil
}

// Wipe deletes the project's data on purpose: its databases (every Postgres
// version), its Redis data, its persistent folders and its generated
// passwords. Stop the project's services first: a wipe while they run fails
// and deletes nothing. The next `up` starts from an empty database, with new
// generated passwords.
//
// +cache="never"
func (m *Commandcenter) Wipe(
	ctx context.Context,
	// Must be the project's name, to confirm which project's data goes.
	confirm string,
) (string, error) {
	if confirm != m.Project {
		return "", fmt.Errorf("wipe: --confirm=%q does not name this project: pass --confirm=%s to delete the data of project %q",
			confirm, m.Project, m.Project)
	}
	kinds, err := m.dataKinds(ctx)
	if err != nil {
		return "", err
	}
	var script []string
	for _, kind := range kinds {
		script = append(script, fmt.Sprintf("find %s -mindepth 1 -delete", keepPath(kind)))
	}
	if _, err := m.dataOp(kinds, "wipe", []string{"sh", "-ec", strings.Join(script, "\n")}, nil).Sync(ctx); err != nil {
		return "", opError(err, fmt.Sprintf("wipe project %q", m.Project))
	}
	names := make([]string, len(kinds))
	for i, kind := range kinds {
		names[i] = m.volumeName(kind)
	}
	return fmt.Sprintf("wiped the data of project %q: %s\n", m.Project, strings.Join(names, ", ")), nil
}

// dataKinds are the kinds of every volume of the project's data: a database
// for each Postgres version, Redis, the secrets, and the persistent folders
// the project has used (recorded in its secrets volume) or has now.
func (m *Commandcenter) dataKinds(ctx context.Context) ([]string, error) {
	var kinds []string
	for _, version := range check.SortedKeys(postgresTags) {
		kinds = append(kinds, "postgres-"+version)
	}
	kinds = append(kinds, "redis", secretsKind)
	recorded, err := uncached(m.withVolumes(dag.Container().From(helperImage), secretsKind), "READ").
		WithExec([]string{"sh", "-c", "mkdir -p /out && cat " + keepPath("secrets") + "/folders >/out/folders 2>/dev/null || : >/out/folders"}).
		File("/out/folders").
		Contents(ctx)
	if err != nil {
		return nil, fmt.Errorf("read the persistent folders of project %q: %w", m.Project, err)
	}
	seen := map[string]bool{}
	for _, kind := range strings.Fields(recorded) {
		if strings.HasPrefix(kind, "files-") && !seen[kind] {
			seen[kind] = true
			kinds = append(kinds, kind)
		}
	}
	for _, f := range m.Folders {
		if kind := folderKind(f); !seen[kind] {
			seen[kind] = true
			kinds = append(kinds, kind)
		}
	}
	return kinds, nil
}

// dataOp runs command (a wipe, a snapshot, a restore: name) in the helper
// image with the project's volumes of kinds mounted, under the supervisor,
// which holds the locks of the project's data while it runs: it fails at
// once when a service of the project holds them, and a start of the
// project meanwhile fails the same way. It runs each time it is asked for.
func (m *Commandcenter) dataOp(kinds []string, name string, command []string, in *dagger.Directory) *dagger.Container {
	var locks []string
	for _, kind := range kinds {
		if kind == "redis" || strings.HasPrefix(kind, "postgres-") {
			locks = append(locks, kind)
		}
	}
	run := contract.Run{Name: name, Project: m.Project, State: keepPath(stateKind), Locks: locks, Quiet: true, Command: command}
	ctr := withProgram(m.withVolumes(dag.Container().From(helperImage), append([]string{stateKind}, kinds...)...), "snapshot.sh", snapshotPath).
		WithFile(contract.SupervisorPath, supervisorProgram()).
		WithEnvVariable("KEEP", keepRoot).
		WithEnvVariable("VOLUMES", m.volumeName(""))
	if in != nil {
		ctr = ctr.WithMountedDirectory("/in", in)
	}
	return uncached(ctr, strings.ToUpper(name)).WithExec(run.Args())
}

// opError is the error of a data operation (what): the supervisor's
// message when the project is in use, else err with what.
func opError(err error, what string) error {
	var exec *dagger.ExecError
	if errors.As(err, &exec) && exec.ExitCode == exitInUse {
		for _, line := range strings.Split(exec.Stderr, "\n") {
			if msg, ok := strings.CutPrefix(line, "commandcenter-supervisor: "); ok && strings.Contains(msg, "is in use") {
				return errors.New(msg)
			}
		}
	}
	return fmt.Errorf("%s: %w", what, err)
}

// snapshotPath is where data operations have entrypoints/snapshot.sh.
const snapshotPath = "/usr/local/bin/commandcenter-snapshot"

// exitInUse is the supervisor's exit status when the project's data is
// held by another run (supervisor/project.go).
const exitInUse = 75
