//go:build composeloader

package compose

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
)

// mapSource is a project's source in memory.
type mapSource fstest.MapFS

func (m mapSource) Read(p string) ([]byte, error) { return fs.ReadFile(fstest.MapFS(m), p) }
func (m mapSource) Exists(p string) bool {
	_, err := fs.Stat(fstest.MapFS(m), p)
	return err == nil
}

// A project shaped like CommandCenter: pgvector, Redis, a backend built in
// the repository's root from backend/Dockerfile, Celery worker, beat and
// flower from the same build, a Vite frontend, nats, a Node service built
// in the root, a .env that the file interpolates.
const devCompose = `
services:
  postgres:
    image: pgvector/pgvector:pg16
    environment:
      POSTGRES_USER: hub
      POSTGRES_PASSWORD: ${DB_PASSWORD:-changeme}
      POSTGRES_DB: hubdb
    volumes:
      - postgres_data:/var/lib/postgresql/data
    ports:
      - "15432:5432"
    healthcheck:
      test: ["CMD-SHELL", "pg_isready -U hub"]
      interval: 5s
  redis:
    image: redis:7-alpine
    ports:
      - "16379:6379"
  backend:
    build:
      context: .
      dockerfile: backend/Dockerfile
    env_file:
      - .env
    environment:
      DATABASE_URL: postgresql+asyncpg://hub:${DB_PASSWORD:-changeme}@postgres:5432/hubdb
      LOG_LEVEL: ${LOG_LEVEL:-info}
    ports:
      - "8000:8000"
    volumes:
      - ./backend:/app
      - rag_storage:/app/rag_storage
    depends_on:
      postgres:
        condition: service_healthy
      redis:
        condition: service_started
  celery-worker:
    build:
      context: .
      dockerfile: backend/Dockerfile
    command: celery -A app.tasks worker --loglevel=info
    volumes:
      - rag_storage:/app/rag_storage
  celery_beat:
    build:
      context: .
      dockerfile: backend/Dockerfile
    command: ["celery", "-A", "app.tasks", "beat"]
  flower:
    build:
      context: .
      dockerfile: backend/Dockerfile
    command: celery -A app.tasks flower --port=5555
    ports:
      - "5555:5555"
  frontend:
    build: ./frontend
    ports:
      - "3000:3000"
  nats:
    image: nats:2
    command: ["-js", "-sd", "/data"]
    volumes:
      - nats_data:/data
    ports:
      - "4222:4222"
  orchestration:
    build:
      context: .
      dockerfile: orchestration/Dockerfile
      args:
        NODE_ENV: development
    ports:
      - "9002:9002"
    privileged: true
volumes:
  postgres_data:
  rag_storage:
  nats_data:
`

// The production file merged over it: limits, a restart policy, and a
// monitoring profile.
const prodCompose = `
services:
  backend:
    restart: always
    deploy:
      resources:
        limits:
          cpus: "2"
          memory: 1g
  prometheus:
    image: prom/prometheus:v2.54.1
    ports:
      - "9090:9090"
  grafana:
    image: grafana/grafana:11.2.0
    profiles: ["monitoring"]
    ports:
      - "3001:3000"
`

func commandcenterSource(files map[string]string) mapSource {
	src := mapSource{
		"backend/requirements.txt":   {Data: []byte("fastapi\n")},
		"backend/Dockerfile":         {Data: []byte("FROM python:3.11-slim\nRUN apt-get update && apt-get install -y gcc libpq-dev\n")},
		"frontend/package.json":      {Data: []byte(`{"scripts": {"dev": "vite"}}`)},
		"orchestration/Dockerfile":   {Data: []byte("FROM node:20\n")},
		"orchestration/package.json": {Data: []byte(`{}`)},
		".env":                       {Data: []byte("DB_PASSWORD=from-dotenv\nSECRET_KEY=abc\n")},
	}
	for name, text := range files {
		src[name] = &fstest.MapFile{Data: []byte(text)}
	}
	return src
}

func TestCommandCenterShapedFilePlans(t *testing.T) {
	src := commandcenterSource(map[string]string{"docker-compose.yml": devCompose})
	p, err := Load(context.Background(), src, Options{Env: map[string]string{"LOG_LEVEL": "debug"}})
	if err != nil {
		t.Fatal(err)
	}
	if pg := p.Postgres; pg == nil || pg.Service != "postgres" || pg.Version != "16" || !slices.Equal(pg.Extensions, []string{"vector"}) ||
		pg.User != "hub" || pg.Database != "hubdb" || pg.Password != "from-dotenv" {
		t.Errorf("postgres: %+v, want pgvector 16, hub/hubdb, the password from .env", pg)
	}
	if rd := p.Redis; rd == nil || rd.Version != "7" {
		t.Errorf("redis: %+v, want version 7", rd)
	}
	if be := p.Backend; be == nil || be.Service != "backend" || be.Dir != "backend" || be.Context != "." || be.Dockerfile != "backend/Dockerfile" || be.Port != 8000 {
		t.Errorf("backend: %+v, want built from backend (context ., backend/Dockerfile) on 8000", be)
	}
	// Its Dockerfile's apt-get install, for the module's build.
	if be := p.Backend; be == nil || !slices.Equal(be.Packages, []string{"gcc", "libpq-dev"}) || !strings.Contains(strings.Join(p.Args(), " "), "--packages=gcc,libpq-dev") {
		t.Errorf("backend's packages: %+v, %q; want gcc and libpq-dev from its Dockerfile", p.Backend, p.Args())
	}
	var workers []string
	for _, w := range p.Workers {
		workers = append(workers, w.Service+"="+w.Command)
	}
	// In the order of compose's names (celery-worker before celery_beat).
	want := []string{"celery-worker=celery -A app.tasks worker --loglevel=info", "celery-beat=celery -A app.tasks beat", "flower=celery -A app.tasks flower --port=5555"}
	if !slices.Equal(workers, want) {
		t.Errorf("workers: %q, want %q", workers, want)
	}
	if !slices.Contains(p.Info, "service celery_beat: named celery-beat in the module (lowercase letters, digits and dashes, at most 20)") {
		t.Errorf("the renamed service is not said: %q", p.Info)
	}
	if i := slices.IndexFunc(p.Workers, func(w Worker) bool { return w.Service == "flower" }); i < 0 || p.Workers[i].Port != 5555 {
		t.Errorf("flower's port: %+v, want 5555", p.Workers)
	}
	if fe := p.Frontend; fe == nil || fe.Dir != "frontend" || fe.Port != 3000 {
		t.Errorf("frontend: %+v, want frontend on 3000", fe)
	}
	if len(p.Extras) != 2 || p.Extras[0].Service != "nats" || p.Extras[0].Image != "nats:2" || p.Extras[0].Volume != "/data" || !slices.Equal(p.Extras[0].Args, []string{"-js", "-sd", "/data"}) ||
		p.Extras[1].Service != "orchestration" || p.Extras[1].Context != "." || p.Extras[1].Dockerfile != "orchestration/Dockerfile" ||
		!slices.Equal(p.Extras[1].BuildArgs, []string{"NODE_ENV=development"}) {
		t.Errorf("extras: %+v, want nats from its image with /data, orchestration built in the root", p.Extras)
	}
	if !slices.Equal(p.Folders, []string{"/app/rag_storage"}) {
		t.Errorf("folders: %q, want the backend's named volume", p.Folders)
	}
	if got := p.UpPorts(); got != "15432:5432,8000:8000,3000:3000,4222:4222,9002:9002,16379:6379,5555:5555" && !samePorts(got, "15432:5432,16379:6379,8000:8000,5555:5555,3000:3000,4222:4222,9002:9002") {
		t.Errorf("up --ports %s", got)
	}
	env := map[string]string{}
	for _, e := range p.Env {
		env[e.Service+" "+e.Name] = e.Value
	}
	if env["backend DATABASE_URL"] != "postgresql+asyncpg://hub:from-dotenv@postgres:5432/hubdb" || env["backend LOG_LEVEL"] != "debug" {
		t.Errorf("backend env: %v, want the interpolated URL and LOG_LEVEL from the given env", env)
	}
	if !slices.Equal(p.EnvFiles, []EnvFile{{Service: "backend", Path: ".env"}}) {
		t.Errorf("env files: %+v", p.EnvFiles)
	}
	notes := strings.Join(p.Notes, "\n")
	for _, want := range []string{"service backend: volumes ", "./backend", "host bind mount", "service orchestration: privileged: not honoured"} {
		if !strings.Contains(notes, want) {
			t.Errorf("not honoured lines do not say %q:\n%s", want, notes)
		}
	}
	if n := len(p.Notes); n != 2 {
		t.Errorf("%d not honoured lines, want 2 (the bind mount, privileged):\n%s", n, notes)
	}
	args := strings.Join(p.Args(), " ")
	for _, want := range []string{
		"with-postgres --version=16 --extensions=vector --user=hub --database=hubdb --password=env:POSTGRES_PASSWORD",
		"with-redis --version=7", "with-backend --dir=backend --port=8000",
		"with-worker --name=flower --command=celery -A app.tasks flower --port=5555 --port=5555",
		"with-frontend --dir=frontend --port=3000",
		"with-service --name=nats --image=nats:2 --args=-js,-sd,/data --port=4222 --volume=/data",
		"with-service --name=orchestration --context=. --dockerfile=orchestration/Dockerfile --build-args=NODE_ENV=development --port=9002",
		"with-volume --path=/app/rag_storage", "with-env-file --file=file:.env --service=backend",
	} {
		if !strings.Contains(args, want) {
			t.Errorf("the calls do not have %q:\n%s", want, args)
		}
	}
	if text := p.String(); !strings.Contains(text, "dagger call with-postgres") || !strings.Contains(text, "--command='celery -A app.tasks worker --loglevel=info'") {
		t.Errorf("the plan's command is not one a shell runs as meant:\n%s", text)
	}
}

func samePorts(a, b string) bool {
	x, y := strings.Split(a, ","), strings.Split(b, ",")
	slices.Sort(x)
	slices.Sort(y)
	return slices.Equal(x, y)
}

func TestFilesMergeAndProfilesSelect(t *testing.T) {
	src := commandcenterSource(map[string]string{"docker-compose.yml": devCompose, "docker-compose.prod.yml": prodCompose})
	files := []string{"docker-compose.yml", "docker-compose.prod.yml"}
	p, err := Load(context.Background(), src, Options{Files: files})
	if err != nil {
		t.Fatal(err)
	}
	names := func(p Plan) []string {
		var n []string
		for _, e := range p.Extras {
			n = append(n, e.Service)
		}
		return n
	}
	if got := names(p); !slices.Equal(got, []string{"nats", "orchestration", "prometheus"}) {
		t.Errorf("extras %q: want prometheus from the second file, no grafana without its profile", got)
	}
	if !strings.Contains(strings.Join(p.Notes, "\n"), "service backend: deploy.resources.limits (cpus, pids): not honoured") {
		t.Errorf("the merged CPU limit is not named:\n%s", strings.Join(p.Notes, "\n"))
	}
	if p.Backend == nil || p.Backend.Memory != 1<<30 || !slices.Contains(p.Args(), "--memory=1073741824") {
		t.Errorf("the merged memory limit of 1g is not the backend's --memory: %+v, %q", p.Backend, p.Args())
	}
	p, err = Load(context.Background(), src, Options{Files: files, Profiles: []string{"monitoring"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := names(p); !slices.Contains(got, "grafana") {
		t.Errorf("extras %q: want grafana with its profile", got)
	}
	_, err = Load(context.Background(), src, Options{Files: files, Strict: true})
	if err == nil || !strings.Contains(err.Error(), "--strict: 3 keys") || !strings.Contains(err.Error(), "privileged") {
		t.Errorf("strict: %v, want an error naming the 3 keys", err)
	}
}

func TestMalformedFilesFailWithTheirPlace(t *testing.T) {
	for name, c := range map[string]struct {
		compose string
		want    []string
	}{
		"a bad YAML line":                  {"services:\n  backend:\n    image: x\n   bad: [\n", []string{"docker-compose.yml", "line"}},
		"an unknown service in depends_on": {"services:\n  backend:\n    image: x\n    depends_on: [nope]\n", []string{"nope"}},
		"a missing env_file":               {"services:\n  backend:\n    build: ./backend\n    env_file: [backend/.env.local]\n", []string{"service backend", "env_file backend/.env.local", "no such file"}},
		"a missing compose file":           {"", []string{"compose file docker-compose.yml", "give --file"}},
	} {
		files := map[string]string{"docker-compose.yml": c.compose}
		if c.compose == "" {
			files = nil
		}
		_, err := Load(context.Background(), commandcenterSource(files), Options{})
		if err == nil {
			t.Errorf("%s: no error", name)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %v; want it to say %q", name, err, w)
			}
		}
	}
}

// A file that names its services its own way (db, cache, api, web, a
// network alias) and whose frontend's Dockerfile ends in nginx on port 80.
const namedCompose = `
services:
  db:
    image: postgres:17
  cache:
    image: redis:8
  api:
    build: ./backend
    command: uvicorn app.main:app --host 0.0.0.0 --port 8000
    ports: ["8000:8000"]
    networks:
      default:
        aliases: [api-internal, Not_A_Name]
  web:
    build: ./frontend
    ports: ["3000:80"]
`

func TestNamesPortsAndDockerfilesOfAFileOfItsOwn(t *testing.T) {
	src := mapSource{
		"docker-compose.yml":       {Data: []byte(namedCompose)},
		"backend/requirements.txt": {Data: []byte("fastapi\n")},
		"frontend/package.json":    {Data: []byte(`{"scripts": {"dev": "vite", "build": "tsc && vite build"}}`)},
		"frontend/Dockerfile":      {Data: []byte("FROM node:24 AS build\nRUN npm run build\nFROM nginx:1\n")},
	}
	p, err := Load(context.Background(), src, Options{BackendPort: 8000, FrontendPort: 3000})
	if err != nil {
		t.Fatal(err)
	}
	want := []HostName{{"api", "backend"}, {"api-internal", "backend"}, {"cache", "redis"}, {"db", "postgres"}, {"web", "frontend"}}
	if !slices.Equal(p.HostNames, want) {
		t.Errorf("host names: %v, want %v", p.HostNames, want)
	}
	if !slices.ContainsFunc(p.Info, func(l string) bool {
		return strings.Contains(l, "the host name Not_A_Name is not one the module gives")
	}) {
		t.Errorf("the alias the module cannot give is not said: %q", p.Info)
	}
	// The module's own frontend serves on its port: the published 3000 goes
	// there, not to nginx's 80.
	if fe := p.Frontend; fe == nil || fe.Port != 0 || fe.FromDockerfile {
		t.Errorf("frontend: %+v, want the module's build on its own port", fe)
	}
	if got := p.UpPorts(); got != "8000:8000,3000:3000" {
		t.Errorf("up --ports %s, want 8000:8000,3000:3000", got)
	}
	if !slices.ContainsFunc(p.Info, func(l string) bool { return strings.HasPrefix(l, "service web: port 80 is its Dockerfile's server") }) {
		t.Errorf("the port's move is not said: %q", p.Info)
	}
	args := strings.Join(p.Args(), " ")
	for _, a := range []string{"with-host-name --name=db --service=postgres", "with-host-name --name=web --service=frontend", "with-frontend --dir=frontend with-"} {
		if !strings.Contains(args, a) {
			t.Errorf("the call lacks %q: %s", a, args)
		}
	}

	// With --dockerfiles, both are built as compose builds them, nginx on
	// 80 behind the published 3000.
	p, err = Load(context.Background(), src, Options{BackendPort: 8000, FrontendPort: 3000, Dockerfiles: true})
	if err != nil {
		t.Fatal(err)
	}
	if fe := p.Frontend; fe == nil || fe.Port != 80 || !fe.FromDockerfile {
		t.Errorf("frontend: %+v, want its Dockerfile's build on 80", fe)
	}
	if got := p.UpPorts(); got != "8000:8000,3000:80" {
		t.Errorf("up --ports %s, want 8000:8000,3000:80", got)
	}
	args = strings.Join(p.Args(), " ")
	for _, a := range []string{"with-frontend --dir=frontend --port=80 --context=frontend --dockerfile=Dockerfile", "with-backend --dir=backend --port=8000 --command=uvicorn app.main:app --host 0.0.0.0 --port 8000 --context=backend --dockerfile=Dockerfile"} {
		if !strings.Contains(args, a) {
			t.Errorf("the call lacks %q: %s", a, args)
		}
	}
}

// A file with develop.watch, as compose's docs write it.
const watchCompose = `
services:
  backend:
    build: ./backend
    develop:
      watch:
        - action: sync+restart
          path: ./backend
          target: /code
          ignore: [tests/, "*.log"]
        - action: rebuild
          path: ./backend/requirements.txt
        - action: sync
          path: ./libs
          target: /libs
  worker:
    build: ./backend
    command: celery -A app.tasks worker
    develop:
      watch:
        - action: sync+exec
          path: ./backend/app
          target: /code/app
          exec:
            command: kill -HUP 1
          ignore: [scratch/]
  frontend:
    build: ./frontend
    develop:
      watch:
        - action: sync
          path: ./frontend/src
          target: /app/src
          ignore: ["*.test.ts"]
  nats:
    image: nats:2
    develop:
      watch:
        - action: restart
          path: ./nats.conf
`

func TestDevelopWatchMapsToLiveReload(t *testing.T) {
	src := mapSource{
		"docker-compose.yml":       {Data: []byte(watchCompose)},
		"backend/requirements.txt": {Data: []byte("fastapi\n")},
		"frontend/package.json":    {Data: []byte(`{"scripts": {"dev": "vite"}}`)},
	}
	p, err := Load(context.Background(), src, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := p.Backend.WatchIgnore, []string{"tests/", "*.log", "app/scratch"}; !slices.Equal(got, want) {
		t.Errorf("backend's ignores: %q, want %q (relative to its folder, the worker's too)", got, want)
	}
	if got, want := p.Frontend.WatchIgnore, []string{"src/*.test.ts"}; !slices.Equal(got, want) {
		t.Errorf("frontend's ignores: %q, want %q", got, want)
	}
	args := strings.Join(p.Args(), " ")
	for _, a := range []string{"with-backend --dir=backend --watch-ignore=tests/,*.log,app/scratch", "with-frontend --dir=frontend --watch-ignore=src/*.test.ts"} {
		if !strings.Contains(args, a) {
			t.Errorf("the call lacks %q: %s", a, args)
		}
	}
	has := func(lines []string, prefix string) bool {
		return slices.ContainsFunc(lines, func(l string) bool { return strings.HasPrefix(l, prefix) })
	}
	for _, want := range []string{
		"service backend: develop.watch: sync+restart ./backend, rebuild ./backend/requirements.txt (a changed manifest",
		"service frontend: develop.watch: sync ./frontend/src: live reload does it",
	} {
		if !has(p.Info, want) {
			t.Errorf("no note %q in %q", want, p.Info)
		}
	}
	for _, want := range []string{
		"service backend: develop.watch sync ./libs: not honoured: the watcher sends the files of the service's folder (backend) only",
		"service worker: develop.watch sync+exec ./backend/app: not honoured: the exec command is not run",
		"service nats: develop.watch: not honoured: a service run from an image",
	} {
		if !has(p.Notes, want) {
			t.Errorf("no line %q in %q", want, p.Notes)
		}
	}
	// Built from the Dockerfiles, nothing is sent.
	p, err = Load(context.Background(), src, Options{Dockerfiles: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Backend.WatchIgnore) != 0 || !has(p.Notes, "service backend: develop.watch: not honoured: a service run from an image or built from its Dockerfile") {
		t.Errorf("--dockerfiles: %q, %q", p.Backend.WatchIgnore, p.Notes)
	}
}

// dirSource is a folder of the repository.
type dirSource string

func (d dirSource) Read(p string) ([]byte, error) { return os.ReadFile(filepath.Join(string(d), p)) }
func (d dirSource) Exists(p string) bool {
	_, err := os.Stat(filepath.Join(string(d), p))
	return err == nil
}

// TestTheComposeExamplePlansWithNothingLeftOut: examples/compose, the
// README's project written for docker compose, maps in full: every key
// honoured, each service where the README says.
func TestTheComposeExamplePlansWithNothingLeftOut(t *testing.T) {
	p, err := Load(context.Background(), dirSource("../../examples/compose"), Options{BackendPort: 8000, FrontendPort: 3000})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Notes) > 0 {
		t.Errorf("keys not honoured: %q", p.Notes)
	}
	var workers, extras []string
	for _, w := range p.Workers {
		workers = append(workers, w.Service)
	}
	for _, e := range p.Extras {
		extras = append(extras, e.Service)
	}
	if p.Postgres == nil || !p.Postgres.HasPasswordLiteral || p.Redis == nil || p.Backend == nil || p.Frontend == nil ||
		!slices.Equal(workers, []string{"status", "worker"}) || !slices.Equal(extras, []string{"nats", "search"}) {
		t.Fatalf("the example's services: %+v", p)
	}
	if !slices.Equal(p.Backend.Packages, []string{"libpq5"}) || !slices.Equal(p.Backend.WatchIgnore, []string{"tests/"}) {
		t.Errorf("backend: %+v, want libpq5 from its Dockerfile and tests/ from its develop.watch", p.Backend)
	}
	if got := p.UpPorts(); got != "8000:8000,3000:3000,4222:4222,5432:5432,7700:7700,5555:5555" {
		t.Errorf("up --ports %s", got)
	}
}
