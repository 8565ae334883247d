#!/bin/sh
# Entry point of the engine kit's nginx stand-in, after the official nginx
# image's: scripts in /docker-entrypoint.d run before nginx starts.
set -e

if [ "$1" = 'nginx' ] || [ "$1" = 'nginx-debug' ]; then
	for f in /docker-entrypoint.d/*.sh; do
		[ -x "$f" ] && "$f"
	done
fi

exec "$@"
