#!/bin/sh
# Copies the Redis server of the image it runs in, with every shared library
# it loads and the dynamic loader itself, into $OUT (/out/redis), with a
# program $OUT/run that starts it from there: so that the server runs, as it
# is, in another image (the Stack's front, a Postgres image), whatever that
# image's own libraries are.
#
# The modules the image carries ($MODULES_DIR, where the official image
# keeps Search, JSON, time series and probabilistic types) come along with
# their libraries, and run loads them as the image's entry point does when
# it starts redis-server: every non-empty, readable, executable .so file, in
# name order. So the Stack's Redis has the commands a lone one has.
#
#   $OUT/run ARGS...  is redis-server ARGS..., once $OUT is at $HERE
set -eu
HERE=${HERE:-/opt/commandcenter/redis}
OUT=${OUT:-/out/redis}
MODULES_DIR=${MODULES_DIR:-/usr/local/lib/redis/modules}
SERVER=${SERVER:-$(command -v redis-server)}
server=$(readlink -f "$SERVER")
mkdir -p "$OUT/lib" "$OUT/modules"

# libs FILE copies the shared libraries FILE loads into $OUT/lib.
libs() {
	ldd "$1" >/dev/null 2>&1 || return 0 # static
	ldd "$1" | while read -r first arrow path rest; do
		case $first in
		linux-vdso.so.* | linux-gate.so.*) ;;
		/*) cp -L "$first" "$OUT/lib/$(basename "$first")" ;;
		*)
			if [ "$arrow" = "=>" ] && [ -f "$path" ]; then
				cp -L "$path" "$OUT/lib/$first"
			elif [ "$arrow" = "=>" ]; then
				echo "redis-runtime: $1 needs $first, which is not found" >&2
				exit 1
			fi
			;;
		esac
	done
}

# The name matters: Debian's build serves only when it is called redis-server.
cp "$server" "$OUT/redis-server"
libs "$server"
loader=""
if ldd "$server" >/dev/null 2>&1; then
	loader=$(ldd "$server" | awk '$1 ~ /^\// {print $1; exit}')
fi

load=""
if [ -d "$MODULES_DIR" ]; then
	for module in "$MODULES_DIR"/*.so; do
		if [ ! -f "$module" ] || [ ! -s "$module" ] || [ ! -r "$module" ] || [ ! -x "$module" ]; then
			continue
		fi
		name=$(basename "$module")
		cp -L "$module" "$OUT/modules/$name"
		libs "$module"
		load="$load --loadmodule $HERE/modules/$name"
		echo "redis-runtime: module $name"
	done
fi

{
	echo '#!/bin/sh'
	if [ -n "$loader" ]; then
		echo "exec $HERE/lib/$(basename "$loader") --library-path $HERE/lib $HERE/redis-server \"\$@\"$load"
	else
		echo "exec $HERE/redis-server \"\$@\"$load"
	fi
} >"$OUT/run"
chmod 755 "$OUT/run" "$OUT/redis-server"
"$server" --version
