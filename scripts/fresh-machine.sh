#!/usr/bin/env bash
# Runs CI (.ci/run), or the benchmarks, as on a fresh machine, and
# records the result.
#
#   scripts/fresh-machine.sh --yes [--bench] [--cold-go] [--cold-npm] [--busy=N]
#
# It takes this machine back to the state of a new one, as far as the kit
# is concerned: the engine kit is uninstalled with its data
# (KIT_UNINSTALL_DATA=yes: the engine, its state and cache, every project's
# data on it, the image mirror, the stand-in images, the packages the kit
# installed). Go's caches (build and modules) and npm's are kept unless
# --cold-go or --cold-npm removes them too. Then it clones this checkout's
# HEAD into a new folder and runs `CI=true bash .ci/run` there, as root,
# which installs and starts everything again and runs the README's test
# command. It prints the result and appends it to bench/fresh-machine.md.
#
# With --bench it runs `make bench BENCH_PRUNE=yes
# COMMANDCENTER_ENGINE_TESTS=yes` there instead (the kit built and started
# as on a new machine first, by make), and copies the clone's
# bench/results.md, which says it was measured so, over this checkout's.
#
# With --busy=N, N loops of its own keep N cores busy from the uninstall to
# the script's end, as on a slower or busier machine than this one: no
# verdict of the tests may depend on how fast the machine is. (Benchmarks
# run so measure the loops too.)
#
# It deletes every project's data on this machine's kit engine: --yes says
# you mean it. Run it on a machine you can spare, as root.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

yes= bench= cold_go= cold_npm= busy=0
for arg in "$@"; do
  case $arg in
  --yes) yes=1 ;;
  --bench) bench=1 ;;
  --cold-go) cold_go=1 ;;
  --cold-npm) cold_npm=1 ;;
  --busy=*) busy=${arg#--busy=} ;;
  *)
    echo "usage: scripts/fresh-machine.sh --yes [--bench] [--cold-go] [--cold-npm] [--busy=N]" >&2
    exit 2
    ;;
  esac
done
if ! [[ $busy =~ ^[0-9]+$ ]] || ((busy > $(nproc))); then
  echo "fresh-machine.sh: --busy=$busy: give the number of cores to keep busy, at most $(nproc) (this machine's cores)" >&2
  exit 2
fi
say() { printf '==> %s\n' "$*" >&2; }
if [[ $(id -u) != 0 ]]; then
  echo "fresh-machine.sh: run it as root (the kit installs packages and an engine)" >&2
  exit 2
fi
if [[ -z $yes ]]; then
  echo "fresh-machine.sh removes the kit's engine with every project's data on it: give --yes to go on" >&2
  exit 2
fi

machine="$(nproc) cores"
loops=()
if ((busy > 0)); then
  machine+=", $busy kept busy"
  say "keep $busy of the $(nproc) cores busy until this script ends (loops of its own)"
  for ((i = 0; i < busy; i++)); do
    (while :; do :; done) &
    loops+=($!)
  done
  # They end with the script. A loop that is gone already is no failure.
  trap 'kill "${loops[@]}" 2>/dev/null || true' EXIT
fi

kept="Go and npm caches kept"
say "uninstall the engine kit, with its data (the engine's state and cache, the mirror, the images)"
KIT_UNINSTALL_DATA=yes bash enginekit/kit.sh uninstall
if [[ -n $cold_go ]] && command -v go >/dev/null; then
  say "remove Go's build and module caches"
  go clean -cache -modcache
  kept=${kept/Go and /}
fi
if [[ -n $cold_npm ]]; then
  say "remove npm's cache"
  rm -rf "${npm_config_cache:-$HOME/.npm}"
  kept=${kept/ and npm/}
fi
[[ -n $cold_go && -n $cold_npm ]] && kept="no caches kept"

clone=$(mktemp -d)/commandcenter
commit=$(git rev-parse --short HEAD)
say "clone $commit into $clone"
git clone -q "$repo" "$clone"
what="CI"
run=(env CI=true bash .ci/run)
if [[ -n $bench ]]; then
  what="make bench"
  run=(env BENCH_FRESH="$kept" make bench BENCH_PRUNE=yes COMMANDCENTER_ENGINE_TESTS=yes)
fi
log=$clone.log
say "${run[*]} (output in $log)"
start=$(date +%s)
set +e
(cd "$clone" && "${run[@]}") >"$log" 2>&1
code=$?
set -e
took=$(($(date +%s) - start))
result="passed"
[[ $code == 0 ]] || result="FAILED (exit $code)"
if [[ -n $bench && $code == 0 ]]; then
  cp "$clone/bench/results.md" bench/results.md
  result="passed; results in bench/results.md"
fi
line="| $(date -u '+%Y-%m-%d %H:%M') UTC | $commit | $what | $machine | $kept | $result | $took s |"
record=bench/fresh-machine.md
if [[ ! -f $record ]]; then
  printf '# CI and benchmarks on a fresh machine\n\nRuns of `scripts/fresh-machine.sh`: the engine kit removed with its data, then `.ci/run` (or, with --bench, `make bench`) on a new clone.\n\n| when | commit | run | machine | caches | result | time |\n| --- | --- | --- | --- | --- | --- | --- |\n' >"$record"
fi
echo "$line" >>"$record"
say "$what on a fresh machine: $result in $took s ($kept); recorded in $record"
if [[ $code != 0 ]]; then
  echo "its last lines ($log):" >&2
  tail -n 40 "$log" >&2
fi
exit "$code"
