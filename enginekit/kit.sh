#!/usr/bin/env bash
# Engine kit: build and run a real Dagger engine, its Go module runtime and a
# local image mirror on a bare Debian machine (no Docker, no registry).
#
#   kit.sh up       build what is missing, start what is not running (idempotent)
#   kit.sh stop     stop the engine, its dnsmasq and the registry
#   kit.sh status   say what runs and which versions
#   kit.sh uninstall  remove what the kit added to the host (enginekit/README.md)
#
# Settings (environment): KIT_DIR (state and caches, default
# /var/lib/commandcenter-kit), KIT_REGISTRY_PORT (default 5000),
# KIT_ENGINE_TIMEOUT (seconds to wait for the engine, default 90),
# KIT_ENGINE_TCP (HOST:PORT[,HOST:PORT...]: the engine listens there too, in
# plain text, for CLIs on other machines; kept until given again, empty to
# take it off), KIT_ENGINE_STATE (the engine's state folder, default
# /var/lib/dagger: for this start only). See enginekit/README.md.
set -Eeuo pipefail
# A command that fails where nothing checks it ends the kit (set -e): say
# which, so that no failure is silent.
trap '_kit_rc=$?; [[ $- == *e* ]] && printf "enginekit: error: \"%s\" failed (exit %d) at line %d of %s\n" "$BASH_COMMAND" "$_kit_rc" "$LINENO" "${BASH_SOURCE[0]}" >&2' ERR

KIT_SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=versions.env
source "$KIT_SRC/versions.env"

KIT_DIR=${KIT_DIR:-/var/lib/commandcenter-kit}
KIT_REGISTRY_PORT=${KIT_REGISTRY_PORT:-5000}
KIT_ENGINE_TIMEOUT=${KIT_ENGINE_TIMEOUT:-90}
# The engine's limit of open files (see start_engine).
ENGINE_NOFILE=1048576
# KIT_ENGINE_TCP is kept in KIT_DIR until it is given again (empty: none), so
# that a later `make engine` or `make up` on the engine's machine does not
# restart the engine off its TCP address under the CLIs that use it.
ENGINE_TCP_FILE=$KIT_DIR/engine-tcp
if [[ -n ${KIT_ENGINE_TCP+set} ]]; then
  KIT_ENGINE_TCP_GIVEN=yes
else
  KIT_ENGINE_TCP_GIVEN=
  KIT_ENGINE_TCP=$(cat "$ENGINE_TCP_FILE" 2>/dev/null || true)
fi
# The engine's garbage collector (see write_engine_config): caches unused
# for KIT_GC_KEEP go, and the oldest once the engine's state passes
# KIT_GC_CACHE_SPACE; other records unused for 60 days go, and the oldest
# past KIT_GC_SPACE. A policy's maxUsedSpace is measured against everything
# the engine holds, whatever its filters: with 10GB, an engine holding more
# than that in images, builds and project data collected every cache at
# each collection (its start among them), and each run rebuilt them.
KIT_GC_KEEP=${KIT_GC_KEEP:-48h}
KIT_GC_CACHE_SPACE=${KIT_GC_CACHE_SPACE:-40GB}
KIT_GC_SPACE=${KIT_GC_SPACE:-50GB}

LOG_DIR=$KIT_DIR/logs
RUN_DIR=$KIT_DIR/run
BIN_DIR=$KIT_DIR/bin/$DAGGER_VERSION
SDK_DIR=$KIT_DIR/sdk/$DAGGER_VERSION
ROOTFS=$KIT_DIR/rootfs/$STANDIN_SUITE
ENGINE_SOCK=/run/dagger/engine.sock
# The engine's state: its cache and every project's data. Another folder
# is for this start only: a later `make engine` without KIT_ENGINE_STATE
# restarts the engine on the default, so that the machine's projects never
# come up on a folder someone gave once (the prune tests give an empty one,
# so that their prunes delete nothing of anyone's).
ENGINE_STATE_DEFAULT=/var/lib/dagger
ENGINE_STATE=${KIT_ENGINE_STATE:-$ENGINE_STATE_DEFAULT}
[[ $ENGINE_STATE == /* && $ENGINE_STATE != *[[:space:]]* ]] || { printf 'enginekit: error: KIT_ENGINE_STATE: "%s" is not an absolute path without spaces (such as /srv/dagger)\n' "$ENGINE_STATE" >&2; exit 2; }
ENGINE_CONFIG=/etc/dagger/engine.json
CONTENT_DIR=/usr/local/share/dagger/content
DNSMASQ_PIDFILE=/var/run/containers/cni/dnsname/dagger/pidfile
# The machine's own CA certificates (a TLS-inspecting proxy's, say). The kit
# builds them into its images; its engine sees this folder empty, or it would
# install them into every container it starts (about a second each).
MACHINE_CA_DIR=/usr/local/share/ca-certificates
NO_CA_DIR=$KIT_DIR/run/no-ca-certificates
WRAPPER=/usr/local/bin/dagger
WRAPPER_MARK="installed by the commandcenter engine kit"
PACKAGES=(runc containernetworking-plugins dnsmasq-base iptables iproute2
  debootstrap docker-registry ca-certificates curl git tar xz-utils)

export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:$PATH

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'enginekit: error: %s\n' "$*" >&2; exit 1; }

# step TITLE LOG CMD...: run one long step with its output in LOG, print how
# long it took, and on failure name the step and show the end of its log.
step() {
  local title=$1 log=$2 start=$SECONDS rc=0
  shift 2
  mkdir -p "$(dirname "$log")"
  printf '\n=== %s: %s\n' "$(date -u +%FT%TZ)" "$title" >>"$log"
  say "$title ..."
  set +e
  (set -Eeuo pipefail; "$@") >>"$log" 2>&1
  rc=$?
  set -e
  if ((rc != 0)); then
    printf 'enginekit: step "%s" failed (exit %d) after %ds. End of %s:\n' \
      "$title" "$rc" $((SECONDS - start)) "$log" >&2
    tail -n 30 "$log" | sed 's/^/    /' >&2
    exit 1
  fi
  say "$title: done in $((SECONDS - start))s"
}

need_root() {
  [[ $(id -u) == 0 ]] || die "the engine kit must run as root (it installs packages and runs containers): run it with sudo"
}

# pid_alive PIDFILE: the process runs (a zombie left by a kill does not count).
pid_alive() {
  local pid state
  [[ -f $1 ]] || return 1
  pid=$(cat "$1")
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) || return 1
  [[ -n $state && $state != Z && $state != X ]]
}

# A dagger CLI on PATH that is not the kit's own wrapper.
foreign_dagger() {
  local d
  d=$(command -v dagger 2>/dev/null) || return 1
  grep -qs "$WRAPPER_MARK" "$d" && return 1
  printf '%s\n' "$d"
}

# engine_answers DAGGER: the engine that DAGGER talks to runs a query.
engine_answers() {
  local out
  out=$(echo '{version}' | timeout "${KIT_QUERY_TIMEOUT:-20}" "$@" query 2>/dev/null) || return 1
  [[ $out == *version* ]]
}

# ---------------------------------------------------------------- packages --

install_packages() {
  command -v apt-get >/dev/null ||
    die "apt-get not found: the engine kit needs Debian (12 or newer). On a machine with Docker, install the dagger CLI instead; the module needs no kit there."
  local missing=() p
  for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  command -v go >/dev/null || die "go not found on PATH: the kit builds Dagger from source with Go 1.24 or newer"
  command -v npm >/dev/null || missing+=(npm)
  if ((${#missing[@]} > 0)); then
    step "apt: install ${missing[*]}" "$LOG_DIR/apt.log" apt_install "${missing[@]}"
    # What the kit installed, for uninstall (what was there stays).
    printf '%s\n' "${missing[@]}" >>"$KIT_DIR/apt-installed"
  fi
  disable_packaged_registry
}

# Debian's docker-registry package starts a registry service of its own on
# 0.0.0.0:5000 where systemd runs; the kit runs its own registry, on
# loopback. The package's service is stopped and disabled (and enabled again
# by uninstall, if the kit disabled it).
disable_packaged_registry() {
  [[ -d /run/systemd/system ]] || return 0
  systemctl is-enabled --quiet docker-registry.service 2>/dev/null ||
    systemctl is-active --quiet docker-registry.service 2>/dev/null || return 0
  systemctl disable --now docker-registry.service >>"$LOG_DIR/apt.log" 2>&1 ||
    die "could not stop the docker-registry package's own service (systemctl disable --now docker-registry): it listens on 0.0.0.0:5000"
  touch "$KIT_DIR/disabled-docker-registry-service"
  say "apt: stopped and disabled the docker-registry package's own service (it listened on 0.0.0.0:5000); make engine-uninstall enables it again"
}

apt_install() {
  export DEBIAN_FRONTEND=noninteractive
  apt-get update || { echo "apt-get update failed: check the machine's apt sources and network"; return 1; }
  apt-get install -y --no-install-recommends "$@"
}

# ------------------------------------------------------------------ build --

build_stamp() {
  printf '%s go=%s distconsts=%s\n' "$DAGGER_VERSION" "$SDK_GO_VERSION" \
    "$(cat "$KIT_SRC"/distconsts/* | sha256sum | cut -c1-16)"
}

build_dagger() {
  local want
  want=$(build_stamp)
  if [[ -f $BIN_DIR/.stamp && $(cat "$BIN_DIR/.stamp") == "$want" ]]; then
    say "dagger $DAGGER_VERSION binaries: cached in $BIN_DIR"
    return 0
  fi
  step "build dagger $DAGGER_VERSION: cli, engine, codegen, init, dnsname, dial-stdio (on 2 cores about 5 min, 10 without Go's module cache)" \
    "$LOG_DIR/build.log" build_dagger_inner
  echo "$want" >"$BIN_DIR/.stamp"
}

build_dagger_inner() {
  # The SDK image's Go builds everything: codegen writes the Go version it was
  # built with into every module's go.mod.
  export GONOSUMDB=github.com/dagger,dagger.io GOFLAGS=-mod=mod GOTOOLCHAIN=go$SDK_GO_VERSION
  local src work out ldflags
  cd "$KIT_DIR" # outside any Go module, whatever the caller's folder
  src=$(go mod download -json "github.com/dagger/dagger@$DAGGER_VERSION" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
  [[ -d $src ]] || { echo "could not download github.com/dagger/dagger@$DAGGER_VERSION"; return 1; }
  work=$KIT_DIR/build/dagger-$DAGGER_VERSION
  out=$BIN_DIR.tmp
  rm -rf "$work" "$out"
  mkdir -p "$work" "$out"
  cp -r "$src/." "$work/"
  chmod -R u+w "$work"
  # engine/distconsts is a nested module the proxy does not serve: use ours.
  rm -rf "$work/engine/distconsts"
  cp -r "$KIT_SRC/distconsts" "$work/engine/distconsts"
  cd "$work"
  go mod edit -dropreplace dagger.io/dagger -require "dagger.io/dagger@$DAGGER_VERSION"
  ldflags="-X github.com/dagger/dagger/engine.Version=$DAGGER_VERSION -X github.com/dagger/dagger/engine.Tag=$DAGGER_VERSION"
  go build -ldflags "$ldflags" -o "$out/" ./cmd/dagger ./cmd/engine ./cmd/codegen ./cmd/dnsname
  go build -ldflags "$ldflags" -o "$out/dial-stdio" ./cmd/dialstdio
  # init runs inside every container as /.init: it must be static.
  CGO_ENABLED=0 go build -ldflags "$ldflags" -o "$out/dagger-init" ./cmd/init
  rm -rf "$BIN_DIR"
  mv "$out" "$BIN_DIR"
  rm -rf "$work"
}

# The kit's own helper (enginekit/builder): builds the Go SDK image and the
# stand-in images with Dagger pipelines.
build_builder() {
  local want
  want=$(cd "$KIT_SRC" && cat go.mod go.sum builder/*.go | sha256sum | cut -c1-16)
  if [[ -x $KIT_DIR/bin/kit-builder && $(cat "$KIT_DIR/bin/kit-builder.stamp" 2>/dev/null) == "$want" ]]; then
    return 0
  fi
  step "build the kit's image builder" "$LOG_DIR/build.log" \
    bash -c 'cd "$1" && GOTOOLCHAIN=local go build -o "$2.tmp" ./builder && mv "$2.tmp" "$2"' _ "$KIT_SRC" "$KIT_DIR/bin/kit-builder"
  echo "$want" >"$KIT_DIR/bin/kit-builder.stamp"
}

# ---------------------------------------------------------------- install --

# The files the kit places outside its folder are listed in $PLACED, one a
# line; a file that was there before is kept as FILE.commandcenter-kit.orig
# (and said so), and uninstall puts it back.
PLACED=$KIT_DIR/placed

# place_link TARGET LINK: LINK points to TARGET.
place_link() {
  local target=$1 link=$2
  if [[ $(readlink "$link" 2>/dev/null) == "$target" ]]; then
    placed "$link" # by an earlier run
    return 0
  fi
  keep_original "$link"
  mkdir -p "$(dirname "$link")"
  ln -sfn "$target" "$link"
}

# placed FILE: record that the kit placed FILE.
placed() {
  grep -qxF "$1" "$PLACED" 2>/dev/null || echo "$1" >>"$PLACED"
}

# keep_original FILE: before the kit replaces FILE the first time, keep
# what was there, and record that the kit placed FILE.
keep_original() {
  local f=$1
  grep -qxF "$f" "$PLACED" 2>/dev/null && return 0
  if [[ -e $f || -L $f ]]; then
    mv "$f" "$f.commandcenter-kit.orig"
    say "install: $f was there already: kept as $f.commandcenter-kit.orig (make engine-uninstall puts it back)"
  fi
  placed "$f"
}

install_binaries() {
  local runc p
  runc=$(command -v runc) || die "runc not found after installing it"
  [[ $runc == /usr/local/bin/runc ]] || place_link "$runc" /usr/local/bin/runc
  if cmp -s "$BIN_DIR/dagger-init" /usr/local/bin/dagger-init; then
    placed /usr/local/bin/dagger-init
  else
    keep_original /usr/local/bin/dagger-init
    install -m 0755 "$BIN_DIR/dagger-init" /usr/local/bin/dagger-init
  fi
  for p in bridge loopback firewall host-local; do
    place_link "/usr/lib/cni/$p" "/opt/cni/bin/$p"
  done
  place_link "$BIN_DIR/dnsname" /opt/cni/bin/dnsname
  place_link "$BIN_DIR/dial-stdio" /usr/bin/dial-stdio
  if grep -qs "$WRAPPER_MARK" "$WRAPPER"; then placed "$WRAPPER"; else keep_original "$WRAPPER"; fi
  local tmp=$WRAPPER.tmp.$$
  cat >"$tmp" <<EOF
#!/bin/sh
# dagger: $WRAPPER_MARK (enginekit/kit.sh).
# It runs the kit's dagger $DAGGER_VERSION against the kit's engine, unless
# _EXPERIMENTAL_DAGGER_RUNNER_HOST names another one.
: "\${_EXPERIMENTAL_DAGGER_RUNNER_HOST:=unix://$ENGINE_SOCK}"
: "\${DAGGER_NO_NAG:=1}"
: "\${DO_NOT_TRACK:=1}"
export _EXPERIMENTAL_DAGGER_RUNNER_HOST DAGGER_NO_NAG DO_NOT_TRACK
exec "$BIN_DIR/dagger" "\$@"
EOF
  chmod 0755 "$tmp"
  mv "$tmp" "$WRAPPER"
}

# --------------------------------------------------------------- registry --

registry_answers() {
  curl -fsS -o /dev/null --max-time 3 "http://127.0.0.1:$KIT_REGISTRY_PORT/v2/" 2>/dev/null
}

port_in_use() {
  ss -Hltn "sport = :$1" | grep -q .
}

start_registry() {
  local pidf=$RUN_DIR/registry.pid
  if pid_alive "$pidf" && registry_answers; then
    say "registry: running on 127.0.0.1:$KIT_REGISTRY_PORT"
    return 0
  fi
  if pid_alive "$pidf"; then
    # The kit's registry runs, but not on this port (KIT_REGISTRY_PORT changed).
    kill -TERM "$(cat "$pidf")" 2>/dev/null || true
    sleep 0.5
  fi
  if port_in_use "$KIT_REGISTRY_PORT"; then
    die "port $KIT_REGISTRY_PORT is taken by another program, so the kit's image registry cannot listen there: free it, or pick another port with KIT_REGISTRY_PORT=$((KIT_REGISTRY_PORT + 50)) make engine (use the same setting for every kit command)"
  fi
  mkdir -p "$KIT_DIR/registry/data" "$RUN_DIR" "$LOG_DIR"
  cat >"$KIT_DIR/registry/config.yml" <<EOF
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $KIT_DIR/registry/data
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$KIT_REGISTRY_PORT
EOF
  say "registry: starting on 127.0.0.1:$KIT_REGISTRY_PORT (log: $LOG_DIR/registry.log)"
  setsid docker-registry serve "$KIT_DIR/registry/config.yml" >>"$LOG_DIR/registry.log" 2>&1 </dev/null &
  echo $! >"$pidf"
  local i
  for ((i = 0; i < 50; i++)); do
    registry_answers && return 0
    pid_alive "$pidf" || break
    sleep 0.2
  done
  tail -n 20 "$LOG_DIR/registry.log" | sed 's/^/    /' >&2
  die "the registry did not answer on 127.0.0.1:$KIT_REGISTRY_PORT (log above: $LOG_DIR/registry.log)"
}

# ----------------------------------------------------------------- engine --

# The engine records, for each cache volume, the path it was first mounted
# at ("cached mount /PATH from ..."). The commandcenter module mounts a
# project's data (databases, Redis, passwords, persistent folders) under
# /.commandcenter, so these policies can collect caches (pip, npm, Go) and
# never the data: the first two match only cache mounts whose path does not
# start with "/.", the others only what is not a cache mount. Dagger's
# default policies would delete project data unused for 48 hours once
# caches pass 512 MB, and anything when the disk fills.
gc_policies() {
  local caches='type==exec.cachemount,description~=\"^cached mount /[^.]\"'
  printf '    "policies": [\n'
  printf '      {"filters": ["%s"], "keepDuration": "%s"},\n' "$caches" "$KIT_GC_KEEP"
  printf '      {"filters": ["%s"], "maxUsedSpace": "%s"},\n' "$caches" "$KIT_GC_CACHE_SPACE"
  printf '      {"filters": ["type!=exec.cachemount"], "keepDuration": "1440h"},\n'
  printf '      {"filters": ["type!=exec.cachemount"], "maxUsedSpace": "%s"}\n' "$KIT_GC_SPACE"
  printf '    ]\n'
}

engine_config() {
  printf '{\n  "registries": {\n'
  printf '    "docker.io": {"mirrors": ["127.0.0.1:%s"]},\n' "$KIT_REGISTRY_PORT"
  printf '    "127.0.0.1:%s": {"http": true, "insecure": true}\n  },\n' "$KIT_REGISTRY_PORT"
  printf '  "gc": {\n'
  gc_policies
  printf '  }\n}\n'
}

write_engine_config() {
  mkdir -p "$(dirname "$ENGINE_CONFIG")"
  # One the kit wrote before names its registry as docker.io's mirror.
  if grep -qs '"mirrors": \["127.0.0.1:' "$ENGINE_CONFIG"; then placed "$ENGINE_CONFIG"; else keep_original "$ENGINE_CONFIG"; fi
  engine_config >"$ENGINE_CONFIG.tmp"
  mv "$ENGINE_CONFIG.tmp" "$ENGINE_CONFIG"
}

# Ends the engine (and the dnsmasq it started) by their PIDs.
stop_engine() {
  local pidf=$RUN_DIR/engine.pid pid i
  if pid_alive "$pidf"; then
    pid=$(cat "$pidf")
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.2
    done
    kill -KILL "$pid" 2>/dev/null || true
    say "engine: stopped (pid $pid)"
  fi
  rm -f "$pidf"
  if pid_alive "$DNSMASQ_PIDFILE"; then
    pid=$(cat "$DNSMASQ_PIDFILE")
    kill -TERM "$pid" 2>/dev/null || true
    say "dnsmasq: stopped (pid $pid)"
  fi
  rm -f "$DNSMASQ_PIDFILE" "$ENGINE_SOCK"
}

# The engine's container network: name and addresses (Dagger's defaults).
ENGINE_NET=dagger
ENGINE_NET_PREFIX=10.87.

# clean_network removes what an engine that was killed left of its container
# network: it never tells CNI that its containers are gone, so each one left
# two firewall rules, a NAT chain, an address lease and a DNS entry. Every
# packet between containers walks the firewall rules, and they pile up with
# each engine restart. Only called while no kit engine runs.
clean_network() {
  local rule chain n=0
  while read -r rule; do
    # shellcheck disable=SC2086 # the rule's words are iptables arguments
    eval "iptables -w ${rule/-A /-D }" && n=$((n + 1))
  done < <(iptables -w -S CNI-FORWARD 2>/dev/null | grep -F -- " $ENGINE_NET_PREFIX" || true)
  while read -r rule; do
    chain=${rule##* -j }
    eval "iptables -w -t nat ${rule/-A /-D }" || continue
    iptables -w -t nat -F "$chain" 2>/dev/null && iptables -w -t nat -X "$chain" 2>/dev/null || true
  done < <(iptables -w -t nat -S POSTROUTING 2>/dev/null | grep -F "name: \\\"$ENGINE_NET\\\"" || true)
  if [[ -d /var/lib/cni/networks/$ENGINE_NET ]]; then
    find "/var/lib/cni/networks/$ENGINE_NET" -maxdepth 1 -type f -name "$ENGINE_NET_PREFIX*" -delete
  fi
  rm -f /var/lib/cni/results/"$ENGINE_NET"-* "/run/containers/cni/dnsname/$ENGINE_NET/addnhosts"
  ((n == 0)) || say "network: removed $((n / 2)) containers' leftovers of an earlier engine"
}

# The engine runs in the host's network namespace, with its containers on a
# bridge of the host: every local process could open connections to them at
# 10.87.x.y, to a project's Postgres, Redis and backend, with no `up`. This
# rule lets only root (the engine, which opens `up`'s tunnels, and the
# machine's administrator) open new connections there; answers to the
# containers' own connections (DNS from dnsmasq) pass as before.
GUARD_RULE=(OUTPUT -d "${ENGINE_NET_PREFIX}0.0/16" -m conntrack --ctstate NEW -m owner ! --uid-owner 0
  -m comment --comment "commandcenter kit: only root reaches the engine's containers" -j REJECT)

guard_network() {
  if iptables -w -C "${GUARD_RULE[@]}" 2>/dev/null; then
    return 0
  fi
  iptables -w -I "${GUARD_RULE[@]}" ||
    die "cannot add the firewall rule that keeps users other than root away from the engine's containers (iptables -I ${GUARD_RULE[*]}); the kernel needs the owner and conntrack matches"
  say "network: only root opens connections to the engine's containers (${ENGINE_NET_PREFIX}0.0/16)"
}

unguard_network() {
  while iptables -w -D "${GUARD_RULE[@]}" 2>/dev/null; do :; done
}

# started_field NAME: the value of NAME= in the record of what the running
# engine was started with (state, tcp); empty for an engine started before
# the kit recorded it, or never started.
started_field() {
  [[ -f $RUN_DIR/engine.started ]] || return 0
  sed -n "s/.* $1=\([^ ]*\).*/\1/p" "$RUN_DIR/engine.started"
}

start_engine() {
  local pidf=$RUN_DIR/engine.pid digest="" want
  [[ -f $SDK_DIR/digest ]] && digest=$(cat "$SDK_DIR/digest")
  # What the running engine was started with: its build, its Go SDK image,
  # CA certificates left to the images, and its configuration.
  want="$(cat "$BIN_DIR/.stamp") sdk=$digest cas=in-images config=$(engine_config | sha256sum | cut -c1-16) nofile=$ENGINE_NOFILE state=$ENGINE_STATE tcp=$KIT_ENGINE_TCP"
  local addrs=(--addr "unix://$ENGINE_SOCK") a hostport='^([0-9A-Za-z.-]+|\[[0-9A-Fa-f:]+\]):[0-9]+$'
  if [[ -n $KIT_ENGINE_TCP ]]; then
    for a in ${KIT_ENGINE_TCP//,/ }; do
      [[ $a =~ $hostport ]] || die "KIT_ENGINE_TCP: '$a' is not HOST:PORT (such as 10.0.0.5:7443)"
      addrs+=(--addr "tcp://$a")
    done
  fi
  if [[ -n $KIT_ENGINE_TCP_GIVEN ]]; then
    mkdir -p "$KIT_DIR"
    printf '%s\n' "$KIT_ENGINE_TCP" >"$ENGINE_TCP_FILE"
  fi
  guard_network
  if pid_alive "$pidf" && [[ $(cat "$RUN_DIR/engine.started" 2>/dev/null) == "$want" ]] &&
    engine_answers "$WRAPPER"; then
    say "engine: running (pid $(cat "$pidf")), $(engine_addresses "$KIT_ENGINE_TCP"), state $ENGINE_STATE"
    return 0
  fi
  local was
  was=$(started_field state)
  if pid_alive "$pidf" && [[ -n $was && $was != "$ENGINE_STATE" ]]; then
    say "engine: it runs on the state in $was; restarting it on $ENGINE_STATE$([[ -n ${KIT_ENGINE_STATE:-} ]] || echo " (KIT_ENGINE_STATE gives another, for one start)")"
  fi
  # Whatever is left of an earlier engine (killed, or started without the
  # Go SDK image) goes first: processes by PID, then the stale socket.
  stop_engine
  clean_network
  write_engine_config
  mkdir -p /run/dagger "$ENGINE_STATE" "$RUN_DIR" "$LOG_DIR"
  say "engine: starting dagger $DAGGER_VERSION in its own mount namespace (log: $LOG_DIR/engine.log)"
  # The engine mounts its own resolv.conf over /etc/resolv.conf; a private
  # mount namespace keeps that (and every other mount) away from the host.
  # In it, an empty folder hides the machine's CA certificates from the
  # engine: the kit's images carry them already.
  mkdir -p "$NO_CA_DIR"
  # The engine holds files of an upload open as it receives them: the first
  # upload of a --src with 100,000 files failed with "too many open files"
  # at a limit of 20000. Docker runs Dagger's engine with a limit of
  # 1048576; so does the kit, or with the most the machine allows.
  DAGGER_GO_SDK_MANIFEST_DIGEST=$digest setsid unshare --mount --propagation private \
    sh -c 'ulimit -n "$3" 2>/dev/null || ulimit -n "$(ulimit -Hn)"; [ ! -d "$1" ] || mount --bind "$2" "$1" || exit 1; shift 3; exec "$@"' engine-start \
    "$MACHINE_CA_DIR" "$NO_CA_DIR" "$ENGINE_NOFILE" \
    "$BIN_DIR/engine" --root "$ENGINE_STATE" "${addrs[@]}" \
    >>"$LOG_DIR/engine.log" 2>&1 </dev/null &
  echo $! >"$pidf"
  echo "$want" >"$RUN_DIR/engine.started"
  local start=$SECONDS
  until [[ -S $ENGINE_SOCK ]] && engine_answers "$WRAPPER"; do
    if ! pid_alive "$pidf"; then
      tail -n 30 "$LOG_DIR/engine.log" | sed 's/^/    /' >&2
      die "the engine exited during start-up (end of $LOG_DIR/engine.log above)"
    fi
    if ((SECONDS - start > KIT_ENGINE_TIMEOUT)); then
      tail -n 30 "$LOG_DIR/engine.log" | sed 's/^/    /' >&2
      die "the engine did not answer within ${KIT_ENGINE_TIMEOUT}s (end of $LOG_DIR/engine.log above); raise KIT_ENGINE_TIMEOUT or read the log"
    fi
    sleep 0.5
  done
  say "engine: ready after $((SECONDS - start))s (pid $(cat "$pidf")), state $ENGINE_STATE"
  local nofile
  nofile=$(awk '/^Max open files/ {print $4}' "/proc/$(cat "$pidf")/limits" 2>/dev/null) || nofile=
  if [[ $nofile =~ ^[0-9]+$ ]] && ((nofile < ENGINE_NOFILE)); then
    say "engine: at most $nofile open files: this machine does not let the kit raise the limit to $ENGINE_NOFILE (no CAP_SYS_RESOURCE, or a lower fs.nr_open). The engine holds files of an upload open as it receives them: a first upload of a --src with about that many files fails with \"too many open files\". Raise the hard limit (ulimit -Hn) of the shell that runs make engine, or keep such trees out of --src"
  fi
  wait_engine_dns "$(cat "$pidf")"
  if [[ -n $KIT_ENGINE_TCP ]]; then
    say "engine: also on tcp://${KIT_ENGINE_TCP//,/, tcp://}: plain text and no authentication, so whoever reaches it runs containers as root on this machine; keep it on loopback or a private network, or let CLIs reach the unix socket over ssh:// instead (enginekit/README.md)"
  fi
}

# engine_addresses TCP: where the engine listens, for messages: its socket,
# and the addresses of TCP (HOST:PORT,...), if any.
engine_addresses() {
  printf 'socket %s' "$ENGINE_SOCK"
  [[ -z $1 ]] || printf ', and tcp://%s (plain text)' "${1//,/, tcp://}"
}

# wait_engine_dns PID: in its first seconds, the engine's own name lookups
# (of the services bound to a container, for its hosts file) still go to the
# machine's DNS server, which knows no service: a Stack started then fails
# with "lookup NAME for hosts file: ... no such host". They go to the
# engine's dnsmasq once its resolver has read the resolv.conf it mounted in
# its namespace. This waits for that, which a lookup of a name that does
# not exist shows (it names the server that answered).
wait_engine_dns() {
  local pid=$1 want out start=$SECONDS
  want=$(nsenter -t "$pid" -m awk '$1 == "nameserver" {print $2; exit}' /etc/resolv.conf 2>/dev/null) || want=
  if [[ -z $want ]]; then
    say "engine: cannot read its resolv.conf; not waiting for its DNS"
    return 0
  fi
  while :; do
    out=$(timeout 30 "$WRAPPER" core http --url=http://commandcenter-kit-dns-check.invalid/ contents 2>&1 || true)
    [[ $out == *"on $want:53"* ]] && break
    if ((SECONDS - start > 60)); then
      say "warning: after 60s the engine's name lookups still do not go to its DNS server ($want); services may fail to find each other for a while. The last check said: $(grep -o 'lookup [^"]*' <<<"$out" | head -n1)"
      return 0
    fi
    sleep 1
  done
  say "engine: its name lookups go to its DNS server ($want) after $((SECONDS - start))s"
}

# ----------------------------------------------------------------- images --

debian_mirror() {
  local codename url
  codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
  # deb822 sources first, then one-line ones; the first mirror that serves
  # the machine's own release is taken.
  url=$(awk -v c="$codename" '
      /^URIs:/ {u=$2} /^Suites:/ {for (i=2;i<=NF;i++) if ($i==c) s=1}
      /^$/ {if (u!="" && s && !found) {print u; found=1} u=""; s=0}
      END {if (u!="" && s && !found) print u}' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n1)
  if [[ -z $url ]]; then
    url=$(awk -v c="$codename" '$1=="deb" && $0 !~ /\[.*\]/ && $3==c {print $2; exit}
      $1=="deb" && $0 ~ /\[.*\]/ {for (i=2;i<=NF;i++) if ($i ~ /^(http|https|file):/ && $(i+1)==c) {print $i; exit}}' \
      /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null | head -n1)
  fi
  [[ -n $url ]] || die "no Debian mirror found in the machine's apt sources (/etc/apt/sources.list*) for '$codename': add one"
  printf '%s\n' "$url"
}

build_rootfs() {
  if [[ -f $ROOTFS/.complete ]]; then
    say "debian $STANDIN_SUITE rootfs: cached in $ROOTFS"
    return 0
  fi
  local mirror
  mirror=$(debian_mirror)
  step "debootstrap a minimal Debian $STANDIN_SUITE rootfs (about 40 s)" "$LOG_DIR/rootfs.log" \
    build_rootfs_inner "$mirror"
}

build_rootfs_inner() {
  local tmp=$ROOTFS.tmp
  rm -rf "$tmp"
  mkdir -p "$tmp"
  debootstrap --variant=minbase "$STANDIN_SUITE" "$tmp" "$1"
  # Device nodes, caches and logs do not belong in an image.
  rm -rf "$tmp"/dev/* "$tmp"/var/cache/apt/archives/*.deb "$tmp"/var/lib/apt/lists/* "$tmp"/var/log/*
  rm -rf "$ROOTFS"
  mv "$tmp" "$ROOTFS"
  touch "$ROOTFS/.complete"
}

# Runs the kit's builder inside a dagger session on the kit's engine.
builder() {
  NO_COLOR=1 "$WRAPPER" run --progress=plain "$KIT_DIR/bin/kit-builder" "$@"
}

# The *.crt files of the machine's CA folder, which update-ca-certificates
# (and so the kit's images) add to the system's CA bundle.
machine_cas() {
  [[ -d $MACHINE_CA_DIR ]] || return 0
  (cd "$MACHINE_CA_DIR" && find -L . -type f -name '*.crt' | sort)
}

machine_ca_hash() {
  local f
  machine_cas | while read -r f; do printf '%s\n' "$f" && cat "$MACHINE_CA_DIR/$f"; done | sha256sum | cut -c1-16
}

# The builder's --ca-dir, when the machine has CA certificates of its own.
ca_args() {
  [[ -z $(machine_cas) ]] || printf '%s\n' --ca-dir "$MACHINE_CA_DIR"
}

build_sdk_image() {
  local want
  want="$DAGGER_VERSION go$SDK_GO_VERSION $(cat "$BIN_DIR/.stamp" | sha256sum | cut -c1-16) $(cat "$KIT_DIR/bin/kit-builder.stamp") cas=$(machine_ca_hash)"
  if [[ -f $SDK_DIR/digest && $(cat "$SDK_DIR/stamp" 2>/dev/null) == "$want" ]] && install_sdk_content; then
    say "go sdk image: cached ($(cat "$SDK_DIR/digest"))"
    return 0
  fi
  step "build the Go SDK image that runs Go modules (about 2-3 min)" "$LOG_DIR/sdk.log" build_sdk_inner
  install_sdk_content
  echo "$want" >"$SDK_DIR/stamp"
}

build_sdk_inner() {
  local goroot
  GOTOOLCHAIN="go$SDK_GO_VERSION" go version
  goroot=$(GOTOOLCHAIN="go$SDK_GO_VERSION" go env GOROOT)
  rm -rf "$SDK_DIR"
  mkdir -p "$SDK_DIR"
  builder sdk-image --rootfs "$ROOTFS" --goroot "$goroot" --codegen "$BIN_DIR/codegen" \
    --dagger-version "$DAGGER_VERSION" --layout "$SDK_DIR/layout" --digest-file "$SDK_DIR/digest.tmp" \
    $(ca_args)
  mv "$SDK_DIR/digest.tmp" "$SDK_DIR/digest"
}

# Puts the SDK image's blobs where the engine loads built-in content from.
install_sdk_content() {
  [[ -d $SDK_DIR/layout/blobs/sha256 ]] || return 1
  local blob
  mkdir -p "$CONTENT_DIR/blobs/sha256"
  # Hard links where the two folders share a file system; copies elsewhere.
  cp -lf "$SDK_DIR"/layout/blobs/sha256/* "$CONTENT_DIR/blobs/sha256/" 2>/dev/null ||
    cp -f "$SDK_DIR"/layout/blobs/sha256/* "$CONTENT_DIR/blobs/sha256/"
  # Blobs of an earlier SDK image go.
  for blob in "$CONTENT_DIR"/blobs/sha256/*; do
    [[ -e $SDK_DIR/layout/blobs/sha256/${blob##*/} ]] || rm -f "$blob"
  done
}

# Fetches the npm packages the stand-in list names, with the machine's npm
# (and so with its registry configuration).
fetch_npm_packages() {
  local dir=$KIT_DIR/downloads/npm spec file missing=()
  mkdir -p "$dir"
  while IFS=$'\t' read -r spec file; do
    [[ -f $dir/$file ]] || missing+=("$spec")
  done < <("$KIT_DIR/bin/kit-builder" list-npm --images "$KIT_SRC/images.json")
  ((${#missing[@]} == 0)) && return 0
  step "npm: fetch ${missing[*]}" "$LOG_DIR/images.log" \
    bash -c 'cd "$1" && shift && npm pack --silent "$@"' _ "$dir" "${missing[@]}"
}

build_standins() {
  fetch_npm_packages
  step "stand-in images: build what is missing and publish to 127.0.0.1:$KIT_REGISTRY_PORT (about 1 min an image when cold)" \
    "$LOG_DIR/images.log" builder standins --images "$KIT_SRC/images.json" --kit "$KIT_SRC" \
    --rootfs "$ROOTFS" --npm-dir "$KIT_DIR/downloads/npm" --registry "127.0.0.1:$KIT_REGISTRY_PORT" \
    --summary "$RUN_DIR/standins.txt" --dir "goroot=$(GOTOOLCHAIN="go$SDK_GO_VERSION" go env GOROOT)" \
    $(ca_args)
  sed 's/^/    /' "$RUN_DIR/standins.txt" >&2
}

# ---------------------------------------------------------------- commands --

# docker_runs: a Docker daemon answers here.
docker_runs() {
  command -v docker >/dev/null && timeout 10 docker info >/dev/null 2>&1
}

cmd_up() {
  local start=$SECONDS d
  if ! foreign_dagger >/dev/null && docker_runs; then
    die "a Docker daemon runs on this machine: install the dagger CLI $DAGGER_VERSION (it starts its engine in Docker) and run this again; the kit is for machines without Docker"
  fi
  if d=$(foreign_dagger); then
    # A dagger of the user's own (with Docker, it may first start its engine).
    if KIT_QUERY_TIMEOUT=180 engine_answers "$d"; then
      say "dagger at $d already reaches a working engine: nothing to do (the kit is for machines without Docker)"
      return 0
    fi
    [[ $d != "$WRAPPER" ]] ||
      die "$d is a dagger CLI the kit did not install, and it reaches no engine: start its engine (with Docker: start Docker), or move it aside so that the kit can install its own"
    say "dagger at $d reaches no engine: the kit installs its own at $WRAPPER"
  fi
  need_root
  mkdir -p "$LOG_DIR" "$RUN_DIR" "$KIT_DIR/bin"
  cd "$KIT_DIR" # Go commands must not pick up the caller's go.mod
  install_packages
  build_dagger
  install_binaries
  build_builder
  start_registry
  start_engine
  build_rootfs
  build_sdk_image
  start_engine
  build_standins
  say "engine kit ready in $((SECONDS - start))s: $("$WRAPPER" version)"
}

cmd_stop() {
  need_root
  stop_engine
  if pid_alive "$RUN_DIR/registry.pid"; then
    kill -TERM "$(cat "$RUN_DIR/registry.pid")" 2>/dev/null || true
    say "registry: stopped (pid $(cat "$RUN_DIR/registry.pid"))"
  fi
  rm -f "$RUN_DIR/registry.pid"
  if grep -qs ' /etc/resolv.conf ' /proc/self/mountinfo; then
    say "warning: /etc/resolv.conf is a mount point on this host; the kit never mounts there (its engine runs in its own mount namespace)"
  fi
}

# cmd_uninstall removes what the kit added to the host: its engine and
# registry stopped, the files it placed (what was there before put back),
# its network leftovers, the Debian packages it installed, its engine
# configuration and built-in content. The engine's state, which holds
# every project's data, and the kit's folder (builds, images, logs) stay
# unless KIT_UNINSTALL_DATA=yes.
cmd_uninstall() {
  need_root
  cmd_stop
  clean_network
  unguard_network
  local f
  if [[ -f $PLACED ]]; then
    while read -r f; do
      [[ -n $f ]] || continue
      rm -f "$f"
      if [[ -e $f.commandcenter-kit.orig || -L $f.commandcenter-kit.orig ]]; then
        mv "$f.commandcenter-kit.orig" "$f"
        say "uninstall: put back $f"
      else
        say "uninstall: removed $f"
      fi
    done <"$PLACED"
    rm -f "$PLACED"
  fi
  rm -rf "$CONTENT_DIR" "$NO_CA_DIR"
  rmdir /opt/cni/bin /opt/cni /etc/dagger 2>/dev/null || true
  if [[ -f $KIT_DIR/disabled-docker-registry-service ]]; then
    systemctl enable --now docker-registry.service || true
    rm -f "$KIT_DIR/disabled-docker-registry-service"
    say "uninstall: enabled the docker-registry package's service again"
  fi
  if [[ -s $KIT_DIR/apt-installed ]]; then
    local pkgs
    mapfile -t pkgs < <(sort -u "$KIT_DIR/apt-installed")
    step "apt: remove the packages the kit installed: ${pkgs[*]}" "$LOG_DIR/apt.log" \
      env DEBIAN_FRONTEND=noninteractive apt-get remove -y "${pkgs[@]}"
    rm -f "$KIT_DIR/apt-installed"
  fi
  if [[ ${KIT_UNINSTALL_DATA:-} == yes ]]; then
    rm -rf "$ENGINE_STATE" "$KIT_DIR"
    say "uninstall: removed the engine's state ($ENGINE_STATE: every project's data) and $KIT_DIR"
  else
    say "uninstall: kept the engine's state ($ENGINE_STATE, with every project's data: take snapshots first) and $KIT_DIR; KIT_UNINSTALL_DATA=yes removes them"
  fi
}

cmd_status() {
  local ok=0
  if pid_alive "$RUN_DIR/engine.pid"; then
    if engine_answers "$WRAPPER"; then
      local tcp state
      tcp=$(started_field tcp)
      state=$(started_field state)
      echo "engine:   running (pid $(cat "$RUN_DIR/engine.pid")), dagger $DAGGER_VERSION, $(engine_addresses "$tcp"), state ${state:-$ENGINE_STATE_DEFAULT}"
    else
      echo "engine:   process $(cat "$RUN_DIR/engine.pid") runs but does not answer on $ENGINE_SOCK"
      ok=1
    fi
  else
    echo "engine:   not running"
    ok=1
  fi
  if [[ -s $SDK_DIR/digest ]]; then
    echo "go sdk:   image $(cat "$SDK_DIR/digest") (Go $SDK_GO_VERSION)"
  else
    echo "go sdk:   not built (make engine builds it)"
  fi
  if pid_alive "$DNSMASQ_PIDFILE"; then
    echo "dnsmasq:  running (pid $(cat "$DNSMASQ_PIDFILE"))"
  else
    echo "dnsmasq:  not running (the engine starts it with its first container)"
  fi
  if pid_alive "$RUN_DIR/registry.pid" && registry_answers; then
    echo "registry: running (pid $(cat "$RUN_DIR/registry.pid")) on 127.0.0.1:$KIT_REGISTRY_PORT"
    curl -fsS --max-time 3 "http://127.0.0.1:$KIT_REGISTRY_PORT/v2/_catalog" | sed 's/^/          /'
    echo
  else
    echo "registry: not running"
    ok=1
  fi
  if [[ -x $WRAPPER ]]; then
    echo "cli:      $WRAPPER -> $("$WRAPPER" version 2>/dev/null || echo 'does not run')"
  fi
  # The exit code says whether all is up; set here and used by the caller's
  # exit, because a function that returns non-zero would set off the ERR trap
  # as if the kit had failed.
  status_rc=$ok
}

case ${1:-} in
up) cmd_up ;;
stop) cmd_stop ;;
status)
  cmd_status
  exit "$status_rc"
  ;;
uninstall) cmd_uninstall ;;
*)
  echo "usage: $0 up|stop|status|uninstall" >&2
  exit 2
  ;;
esac
