#!/bin/sh
# Opens a commandcenter project's state, in a container the module runs with
# the project's secrets volume at $STATE, shared: calls at once take turns
# on a lock file in it.
#
#   PASSWORDS  names of the generated passwords to read (made the first time)
#   FOLDERS    kinds of the project's persistent folders' volumes, recorded
#              for wipe and snapshot
#
# It writes "NAME PASSWORD SOURCE" lines to /out/passwords, never to its
# output: SOURCE says whether the project's services last ran with the
# generated password or one given to the module (the supervisor records it
# in NAME.source).
set -eu
umask 077
exec 9>"$STATE/.lock"
# Holders only read and write a few files: the wait ends long before this
# limit, which is there so that a holder that hangs fails the call instead.
flock -w 120 9 || { echo "commandcenter: the project's secrets volume stayed locked for 2 minutes: another call on the project holds it and does not end; stop it and try again" >&2; exit 1; }
mkdir -p /out
: >/out/passwords
for name in $PASSWORDS; do
	f=$STATE/$name
	if [ ! -s "$f" ]; then
		tr -dc 'A-Za-z0-9' </dev/urandom | head -c 32 >"$f.tmp"
		mv "$f.tmp" "$f"
	fi
	source=generated
	[ -s "$f.source" ] && source=$(cat "$f.source")
	printf '%s %s %s\n' "$name" "$(cat "$f")" "$source" >>/out/passwords
done
touch "$STATE/folders"
for folder in ${FOLDERS:-}; do
	grep -qxF "$folder" "$STATE/folders" || echo "$folder" >>"$STATE/folders"
done
