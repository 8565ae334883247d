package main

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"strings"

	"dagger/commandcenter/internal/check"
	"dagger/commandcenter/internal/contract"
	"dagger/commandcenter/internal/dagger"
)

// Stack starts the project's services together as one service that listens
// on 5432 (Postgres), 6379 (Redis), the backend's port (8000) and the
// frontend's port (3000), so that `up --ports` forwards any of them to the
// host:
//
//	dagger call stack --src=. up --ports 15000:5432,15001:6379,15002:8000,15003:3000
//
// The workers of with-worker run in it too. The service is the Postgres
// container, which serves 5432 itself and runs Redis next to Postgres, with
// the module's supervisor forwarding the other ports to the backend and the
// frontend. They all start at once and reach each other by host names of the
// session; the backend and workers wait until Postgres takes logins and
// Redis has loaded its data. The service is ready, and `up` forwards its
// ports, once every port answers. A backend or worker that crashes later is
// started again (see --restart); when one ends for good (a failed prestart
// command, a server that does not listen on its port), the Stack stops, and
// its output names the service. A second Stack of a project that runs fails
// at once, saying that the project is in use.
//
// The call is cached by its inputs, as Dagger caches functions: the same
// settings and source give the same service, so a warm `up` does not run
// the module's code again.
func (m *Commandcenter) Stack(
	ctx context.Context,
	// The project's source folder, with the backend and frontend folders.
	// +ignore=[".git", "**/node_modules", "**/.venv", "**/__pycache__", "**/.pytest_cache", "**/.mypy_cache", "**/dist", "**/.next"]
	src *dagger.Directory,
) (*dagger.Service, error) {
	if err := m.checkSettings(); err != nil {
		return nil, fmt.Errorf("stack: %w", err)
	}
	ports := []check.PortUse{
		{Port: postgresPort, Option: "Postgres (5432)"}, {Port: redisPort, Option: "Redis (6379)"},
		{Port: m.Be.Port, Option: "with-backend --port"}, {Port: m.Fe.Port, Option: "with-frontend --port"},
		{Port: contract.ControlPort, Option: "the Stack's control port (65432)"},
	}
	if m.LiveToken != nil {
		ports = append(ports, check.PortUse{Port: contract.SyncPort, Option: "the live-reload port (65433)"})
	}
	for _, w := range m.Workers {
		if w.Port != 0 {
			ports = append(ports, check.PortUse{Port: w.Port, Option: "with-worker " + w.Name + " --port"})
		}
	}
	for _, x := range m.Extras {
		if x.Port != 0 {
			ports = append(ports, check.PortUse{Port: x.Port, Option: "with-service " + x.Name + " --port"})
		}
	}
	if err := check.Ports(ports...); err != nil {
		return nil, fmt.Errorf("stack: %w", err)
	}
	r, err := m.prepare(ctx, src, needs{postgres: true, redisRuntime: true, backend: true, frontend: true})
	if err != nil {
		return nil, err
	}

	st, err := m.newStack(ctx, src, r.supervisor)
	if err != nil {
		return nil, err
	}
	st.liveToken = m.LiveToken
	links := m.projectLinks(st.peers)
	members := []service{
		m.backend(r.backend, links, r.env),
		m.frontend(r.frontend, st.peers, r.env),
	}
	for _, w := range m.Workers {
		members = append(members, m.worker(r.backend, w, links, r.env))
	}
	extras, err := m.extras(ctx, src, r.env)
	if err != nil {
		return nil, err
	}
	members = append(members, extras...)
	// Redis runs in the front too, next to Postgres: its port is served
	// with no hop in between, and one container fewer starts.
	return m.stackService(st, m.withRedis(m.postgres(r.postgres, true), r.redisRuntime), members), nil
}

// A stack runs services as one: the front (Postgres and Redis) is the
// service `up` forwards, and each of the others (the members) is bound to
// it, so that the engine starts them when it starts the front. They reach
// each other by host names of the session.
type stack struct {
	// hash of the project, its settings and its source, in the host names:
	// two stacks in one session never share one, of two projects or of
	// one project with other settings (a member of the one before may
	// still run there for a while, as the engine detaches a stopped
	// service's bindings after a grace period); the same Stack has the
	// same names at each `up`, so the call can be cached.
	hash       string
	peers      peers
	supervisor *dagger.File
	// liveToken, with live reload on, is the sync port's token: the front
	// passes the watcher's files on to the members that take them.
	liveToken *dagger.Secret
}

// frontName is the front's name in messages, and its host name in the
// session (with the hash).
const frontName = "stack"

// newStack is the Stack of the project's settings and src. The token the
// members' reports to the front carry (supervisor/control.go) is not in
// it: their supervisors read the project's own from its secrets volume,
// made at its first Stack, so that nothing in the service is new at each
// call.
func (m *Commandcenter) newStack(ctx context.Context, src *dagger.Directory, supervisor *dagger.File) (stack, error) {
	settings, err := json.Marshal(m)
	if err != nil {
		return stack{}, fmt.Errorf("stack: read the settings: %w", err)
	}
	source, err := src.ID(ctx)
	if err != nil {
		return stack{}, fmt.Errorf("stack: read --src: %w", err)
	}
	hash := fmt.Sprintf("%x", sha256.Sum256([]byte(m.Project+"\x00"+string(settings)+"\x00"+string(source))))[:10]
	st := stack{hash: hash, supervisor: supervisor}
	// Postgres and Redis run in the front, whose host name is the Stack's.
	st.peers = peers{postgres: st.host(frontName), redis: st.host(frontName), backend: st.host("backend")}
	return st, nil
}

// host is a service's host name in the session. Host names are short:
// sethostname takes at most 64 characters with the session's domain.
func (st stack) host(name string) string { return name + "-" + st.hash }

// stackService runs front and members as one service.
//
// The members start at once with the front: their ports skip the engine's
// health check, which would hold the front back until they answer (and the
// backend answers only once Postgres, in the front, does). Instead the
// front's supervisor opens each member's port only when the member answers,
// so that the engine's health check of the front, and with it `up`, still
// waits for all of them. The engine does not stop a service when a service
// bound to it ends, so each member's supervisor tells the front when its
// command ends, and the front then stops.
func (m *Commandcenter) stackService(st stack, front service, members []service) *dagger.Service {
	run := m.supervision(front)
	run.Name, run.LogAs, run.Control = frontName, front.name, contract.ControlPort
	ctr := m.prepared(front, st.supervisor).
		WithExposedPort(front.port, dagger.ContainerWithExposedPortOpts{Description: front.name})
	for _, a := range front.also {
		if a.Name == "redis" {
			ctr = ctr.WithExposedPort(redisPort, dagger.ContainerWithExposedPortOpts{Description: "redis"})
		}
	}
	aliases, peers := m.hostAliases(st, members), st.localPeers(members)
	for _, s := range members {
		ctr = ctr.WithServiceBinding(s.name, m.member(st, s, aliases, peers))
		if s.port != 0 {
			ctr = ctr.WithExposedPort(s.port, dagger.ContainerWithExposedPortOpts{Description: s.name + ", forwarded"})
			run.Routes = append(run.Routes, routeTo(st.host(s.name), s.port))
		}
		if s.sync != nil && st.liveToken != nil {
			run.Sync.Routes = append(run.Sync.Routes, contract.NamedTarget{Name: s.name, Target: fmt.Sprintf("%s:%d", st.host(s.name), contract.SyncPort)})
		}
	}
	if len(run.Sync.Routes) > 0 {
		run.Sync.Port = contract.SyncPort
		ctr = ctr.
			WithSecretVariable(contract.SyncTokenEnv, st.liveToken).
			WithExposedPort(contract.SyncPort, dagger.ContainerWithExposedPortOpts{Description: "live reload"})
	}
	return ctr.
		AsService(dagger.ContainerAsServiceOpts{Args: run.Args()}).
		WithHostname(st.host(frontName))
}

// hostAliasesPath is where a member's container has the Stack's compose
// host names, for HOSTALIASES.
const hostAliasesPath = "/usr/local/share/commandcenter/hostaliases"

// hostAliases are the host names compose's network gives a project's
// services (postgres, redis, backend, frontend, each worker's name, and
// the names of with-host-name), each
// with the Stack's host of that service, in the format of glibc's
// HOSTALIASES file ("ALIAS HOST" lines). A member's container gets them
// through HOSTALIASES: its programs that resolve names with glibc
// (Python, Node, nginx on Debian) reach `postgres` and `backend:8000` as
// under compose, with no write to /etc/hosts, which the engine mounts
// read-only.
func (m *Commandcenter) hostAliases(st stack, members []service) string {
	hosts := map[string]string{"postgres": st.peers.postgres, "redis": st.peers.redis}
	names := []string{"postgres", "redis"}
	for _, s := range members {
		hosts[s.name] = st.host(s.name)
		names = append(names, s.name)
	}
	var lines []string
	for _, name := range names {
		lines = append(lines, name+" "+hosts[name])
		for _, alias := range m.hostNamesOf(name) {
			lines = append(lines, alias+" "+hosts[name])
		}
	}
	return strings.Join(lines, "\n") + "\n"
}

// routeTo forwards port to the same port of host.
func routeTo(host string, port int) contract.Route {
	return contract.Route{Port: port, Target: fmt.Sprintf("%s:%d", host, port)}
}

// A localPeer is a service of the Stack as a program written for a
// developer's machine calls it: at localhost:PORT.
type localPeer struct {
	name  string
	route contract.Route
}

// localPeers are the Stack's services with a port (Postgres, Redis, the
// backend, the frontend, workers with a port), each at its host.
func (st stack) localPeers(members []service) []localPeer {
	peers := []localPeer{
		{"postgres", routeTo(st.peers.postgres, postgresPort)},
		{"redis", routeTo(st.peers.redis, redisPort)},
	}
	for _, s := range members {
		if s.port != 0 {
			peers = append(peers, localPeer{s.name, routeTo(st.host(s.name), s.port)})
		}
	}
	return peers
}

// member runs s under the supervisor, which reports its end to the front.
// Its programs reach the other services at localhost too, as on a
// developer's machine (the frontend's dev server proxying to
// localhost:8000), on every port but its own.
func (m *Commandcenter) member(st stack, s service, aliases string, peers []localPeer) *dagger.Service {
	var resolve []string
	for _, p := range peers {
		if p.name != s.name && p.route.Port != s.port {
			s.local = append(s.local, p.route)
		}
		// The other members' names, as compose's network has them from
		// the start: a program that looks a peer up as it starts (nginx's
		// upstreams) finds it. Not Postgres and Redis: they are the front,
		// which starts after its members (and which the backend waits for).
		if p.name != s.name && p.name != "postgres" && p.name != "redis" {
			resolve = append(resolve, st.host(p.name))
		}
	}
	run := m.supervision(s)
	run.Resolve = resolve
	run.Report = fmt.Sprintf("%s:%d", st.peers.postgres, contract.ControlPort)
	ctr := m.prepared(s, st.supervisor).
		WithNewFile(hostAliasesPath, aliases).
		WithEnvVariable("HOSTALIASES", hostAliasesPath)
	if s.port != 0 {
		ctr = ctr.WithExposedPort(s.port, dagger.ContainerWithExposedPortOpts{ExperimentalSkipHealthcheck: true})
	}
	return ctr.
		AsService(dagger.ContainerAsServiceOpts{Args: run.Args()}).
		WithHostname(st.host(s.name))
}
