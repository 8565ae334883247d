#!/usr/bin/env bash
# Every test of the repository, against the engine `dagger` reaches. The
# README's test command, `make test`, runs it after `make engine`.
#
#   PROGRESS=plain scripts/test.sh   shows every step the engine runs
set -euo pipefail
cd "$(dirname "$0")/.."
PROGRESS=${PROGRESS:-dots}
start=$SECONDS

section() { printf '\n=== %s (%ds)\n' "$*" $((SECONDS - start)); }

section "unit tests: input checks, the backend's launcher, the Stack's forwarder (no engine)"
go test -count=1 ./internal/spec/...
(cd forward && go test -count=1 ./...)

section "engine kit: Go module runtime, stand-in image through the mirror, port forwarding"
(cd enginekit && go test -count=1 -v -timeout 20m ./smoke/)

section "repository CI: lint, module tests, examples (dagger -m .dagger call check)"
# The CI module's dependencies are loaded (generated and built) one at a time
# first: loading it would build them at once, and Dagger v0.19's engine can
# fail to mount its shared Go module cache for two builds at once after it
# was restarted ("failed to mount ... invalid argument").
for mod in . tests examples/go; do
  dagger --progress="$PROGRESS" -m "$mod" functions >/dev/null
done
dagger --progress="$PROGRESS" -m .dagger call check

section "a project's tests against the stack, as the README's CI snippet runs them"
dagger --progress="$PROGRESS" call test --src=examples/commandcenter

section "host tests: the README's stack up --ports, reached from the host"
(cd hosttest && go test -count=1 -v -timeout 30m ./...)

section "all tests passed"
