#!/bin/sh
# Saves or loads a commandcenter project's data, in a container the module
# runs with each of the project's volumes mounted, locked, at $KEEP/KIND.
#
#   snapshot.sh save KIND...  each volume that has files into /out/KIND.tar.gz,
#                             the kinds saved in /out/kinds, checksums in
#                             /out/SHA256SUMS
#   snapshot.sh load KIND...  /in/KIND.tar.gz into each volume, which must be
#                             empty (exit 3 names one that is not); the files
#                             must match /in/SHA256SUMS (exit 4)
#
# Owners are kept as numbers: Postgres's files belong to the image's
# postgres user, whatever the helper image calls that number.
set -eu
cmd=$1
shift
case $cmd in
save)
	mkdir -p /out
	cd /out
	: >kinds
	for kind in "$@"; do
		[ -n "$(ls -A "$KEEP/$kind")" ] || continue
		tar -C "$KEEP/$kind" --numeric-owner -czf "$kind.tar.gz" .
		chmod 600 "$kind.tar.gz"
		echo "$kind" >>kinds
	done
	if [ -s kinds ]; then
		sha256sum ./*.tar.gz >SHA256SUMS
	else
		: >SHA256SUMS
	fi
	;;
load)
	cd /in
	if ! sha256sum -c --quiet SHA256SUMS; then
		echo "commandcenter: the snapshot's files do not match its SHA256SUMS: it is damaged or incomplete" >&2
		exit 4
	fi
	for kind in "$@"; do
		if [ -n "$(ls -A "$KEEP/$kind")" ]; then
			echo "commandcenter: the project's volume $VOLUMES$kind has data" >&2
			exit 3
		fi
	done
	for kind in "$@"; do
		tar -C "$KEEP/$kind" --numeric-owner -xzf "$kind.tar.gz"
	done
	;;
*)
	echo "usage: snapshot.sh save|load KIND..." >&2
	exit 2
	;;
esac
