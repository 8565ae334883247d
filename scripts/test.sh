#!/usr/bin/env bash
# Every test of the repository, against the engine `dagger` reaches. The
# README's test command, `make test`, runs it after `make engine`.
#
#   PROGRESS=plain scripts/test.sh   shows every step the engine runs
set -euo pipefail
cd "$(dirname "$0")/.."
PROGRESS=${PROGRESS:-dots}
start=$SECONDS
# At the end of a session the engine stops every service the session
# started; after the module's tests, dozens at once. On 2 cores that took
# 15 s, and the CLI gives the engine 10 s before it fails a call whose
# every result came back ("close dagger session: ... context deadline
# exceeded"). The verdict must not depend on how busy the engine is then.
export _EXPERIMENTAL_DAGGER_SHUTDOWN_TIMEOUT=${_EXPERIMENTAL_DAGGER_SHUTDOWN_TIMEOUT:-2m}

section() { printf '\n=== %s (%ds)\n' "$*" $((SECONDS - start)); }

# Everything the steps print is kept too. When one fails, what failed is
# printed again at the end, where the tail of a CI log shows it: the
# failures of Go tests, the errors of dagger's tree, and what the CI
# module's check said of each failed check (its "▼ Ci.check" block: of an
# error, the CLI shows only the exec where it began).
output=$(mktemp)
failed() {
  local status=${1:-$?}
  # The copy is whole once tee has read to the end.
  exec 1>&3 2>&4
  for _ in $(seq 50); do kill -0 "$tee_pid" 2>/dev/null || break; sleep 0.1; done
  [[ $status == 0 ]] && { rm -f "$output"; return; }
  printf '\n=== failed (exit %d, after %ds): what failed, again\n' "$status" $((SECONDS - start))
  sed 's/\x1b\[[0-9;]*m//g' "$output" | awk '
    /^▼ / { block = /^▼ Ci\./; if (block) print; next }
    block && (/^$/ || /^(✔|✘|\$|▶)/) { block = 0 }
    block || /^✘ |^! |^--- FAIL|^FAIL([ \t:]|$)|^ +[A-Za-z0-9_]*_test\.go:[0-9]+:/ { print }
  ' | tail -n 120
  rm -f "$output"
  exit "$status"
}
trap failed EXIT
exec 3>&1 4>&2 > >(tee -a "$output") 2>&1
tee_pid=$!

section "unit tests: input checks, manifests, env files, the supervisor, the launcher (no engine)"
# The launcher's tests run a real Redis: Debian's redis-tools carries the
# server program (as redis-check-rdb), and starts no service.
if ! command -v redis-check-rdb >/dev/null && ! command -v redis-server >/dev/null; then
  echo "apt: install redis-tools (a Redis server for the launcher's tests)"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends redis-tools >/dev/null
fi
# The compose reader builds only with its tag (internal/compose's doc).
go test -count=1 -tags composeloader ./internal/... ./supervisor/...
# The same program is the host command and the live-reload watcher, built
# for macOS too.
GOOS=darwin go vet ./supervisor/...
python3 -m unittest discover -s entrypoints -v 2>&1 | tail -n 15

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
# The monorepo example's backend reads asyncpg URLs and a SECRET_KEY from a
# secret env file; a fresh one for the run.
secrets=$(mktemp)
trap 'status=$?; rm -f "$secrets"; failed "$status"' EXIT
printf 'SECRET_KEY=test-%s\n' "$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')" >"$secrets"
dagger --progress="$PROGRESS" call with-backend --database-scheme=postgresql+asyncpg \
  with-secret-env-file --file="file:$secrets" test --src=examples/monorepo

section "host tests: the README's stack up --ports, reached from the host"
# The live-reload test checks hot updates in a real browser: Debian's
# chromium, headless.
if ! command -v chromium >/dev/null; then
  echo "apt: install chromium (a browser for the live-reload test)"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi
# Two at a time, those with ports and projects of their own (t.Parallel):
# one at a time left a core idle for a third of the section.
(cd hosttest && go test -count=1 -v -timeout 40m -parallel 2 -skip '^(TestPrune|TestStackOnASharedEngine$)' ./...)

section "a shared engine: two developer hosts (network namespaces) run the stack on one engine over tcp://"
# It restarts the engine (on a TCP address, then back), which stops every
# service on it: .ci/run asks for it; elsewhere, COMMANDCENTER_ENGINE_TESTS=yes.
if [[ ${COMMANDCENTER_ENGINE_TESTS:-} == yes ]]; then
  (cd hosttest && go test -count=1 -v -timeout 30m -run '^TestStackOnASharedEngine$' ./...)
else
  echo "skipped: it restarts the engine, stopping every service on it (run as root with COMMANDCENTER_ENGINE_TESTS=yes make test)"
fi

section "data that lasts: the engine's GC with the kit's policies, a snapshot restored after a prune"
# They prune an engine of their own: the kit's engine restarted on an empty
# state, then back on its own, which keeps every project's data and the
# images and builds the engine has. The restarts stop every service on the
# engine: .ci/run asks for them; elsewhere, COMMANDCENTER_PRUNE_TESTS=yes.
if [[ ${COMMANDCENTER_PRUNE_TESTS:-} == yes ]]; then
  (cd hosttest && go test -count=1 -v -timeout 40m -run '^TestPrune' ./...)
else
  echo "skipped: they restart the engine (on an empty state of their own, then back), stopping every service on it (run as root with COMMANDCENTER_PRUNE_TESTS=yes make test)"
fi

section "all tests passed"
