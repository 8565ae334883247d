#!/usr/bin/env bash
# Measurements of the stack on the engine `dagger` reaches, from the host:
#   scripts/measure.sh bench   start-up times, rebuilds, the ports' cost, memory -> bench/results.md
#   scripts/measure.sh load    pgbench, redis-benchmark and HTTP load      -> bench/load.md
# `make bench` and `make load` run them after `make engine`. They install the
# clients they need (redis-tools and chromium from apt; pgbench unpacked from Debian's
# PostgreSQL server package, which is not installed, so no server starts).
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:?usage: scripts/measure.sh bench|load}
tools=${KIT_DIR:-/var/lib/commandcenter-kit}/tools

say() { printf '==> %s\n' "$*" >&2; }

# The live-reload rows watch the page in a real browser: Debian's chromium,
# headless.
if [[ $what == bench ]] && ! command -v chromium >/dev/null; then
  say "apt: install chromium (a browser for the live-reload rows)"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi
if ! command -v redis-benchmark >/dev/null; then
  say "apt: install redis-tools (redis-benchmark)"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends redis-tools >/dev/null
fi
if ! pgbench --version >/dev/null 2>&1; then
  pgbench=$(ls "$tools"/postgresql/usr/lib/postgresql/*/bin/pgbench 2>/dev/null | tail -n1 || true)
  if [[ -z $pgbench ]]; then
    pkg=$(apt-cache search --names-only '^postgresql-[0-9]+$' | awk '{print $1}' | sort -V | tail -n1)
    [[ -n $pkg ]] || { echo "no postgresql-N package in the apt sources: install pgbench and run again" >&2; exit 1; }
    say "unpack pgbench from $pkg into $tools/postgresql"
    command -v psql >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql-client >/dev/null
    mkdir -p "$tools" && (cd "$tools" && rm -f ./*.deb && apt-get download "$pkg" >/dev/null && dpkg -x ./"$pkg"_*.deb postgresql && rm -f ./*.deb)
    pgbench=$(ls "$tools"/postgresql/usr/lib/postgresql/*/bin/pgbench | tail -n1)
  fi
  export PGBENCH=$pgbench
fi

case $what in
bench) (cd hosttest && go test -tags bench -count=1 -v -timeout 60m -run TestBenchmarkStack .) ;;
load) (cd hosttest && go test -tags load -count=1 -v -timeout 30m -run TestLoadThroughStack .) ;;
*) echo "usage: scripts/measure.sh bench|load" >&2; exit 2 ;;
esac
