#!/bin/sh
# Starts Postgres for a commandcenter project, in the official postgres image
# (or any image with its docker-entrypoint.sh), as root.
#
# A database keeps the password it was created with; the project's password
# may have changed since (given anew, or generated anew after the project's
# secrets were lost). So before the server starts, the current password is
# applied to the role POSTGRES_USER in single-user mode, once for each new
# password: a salted hash of the last one applied is kept in PGDATA.
#
# The engine stops a service with SIGTERM, Postgres's "smart" shutdown, which
# waits for every client to leave; this turns it into SIGINT, the fast
# shutdown (the official image's STOPSIGNAL), which ends sessions and writes a
# checkpoint at once.
set -eu

say() { echo "commandcenter: $*" >&2; }

apply_password() {
	marker=$PGDATA/commandcenter-password
	if [ -s "$marker" ]; then
		salt=$(cut -d' ' -f1 "$marker")
		want="$salt $(printf '%s\n%s\n%s' "$salt" "$POSTGRES_USER" "$POSTGRES_PASSWORD" | sha256sum | cut -d' ' -f1)"
		[ "$want" = "$(cat "$marker")" ] && return 0
	fi
	salt=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
	want="$salt $(printf '%s\n%s\n%s' "$salt" "$POSTGRES_USER" "$POSTGRES_PASSWORD" | sha256sum | cut -d' ' -f1)"
	quoted=$(printf '%s' "$POSTGRES_PASSWORD" | sed "s/'/''/g")
	as=
	[ "$(id -u)" = 0 ] && as="gosu postgres"
	# The statement carries the password: it is never logged, even on error.
	out=$(printf '%s\n' "ALTER ROLE \"$POSTGRES_USER\" PASSWORD '$quoted';" |
		$as postgres --single -D "$PGDATA" -c log_min_error_statement=panic -c log_min_messages=warning postgres 2>&1) || {
		say "could not apply the project's password to role $POSTGRES_USER: postgres --single failed:"
		echo "$out" >&2
		exit 1
	}
	if echo "$out" | grep -q "role \"$POSTGRES_USER\" does not exist"; then
		say "this database has no role \"$POSTGRES_USER\": it was created with another user. Set with-postgres --user to the user it was created with, or wipe the project to start over."
		exit 1
	fi
	if echo "$out" | grep -q 'ERROR'; then
		say "could not apply the project's password to role $POSTGRES_USER:"
		echo "$out" | grep -v 'PASSWORD' >&2
		exit 1
	fi
	printf '%s\n' "$want" >"$marker"
	[ "$(id -u)" = 0 ] && chown postgres "$marker" 2>/dev/null || true
	say "applied the project's password to role $POSTGRES_USER"
}

if [ -s "$PGDATA/PG_VERSION" ] && [ ! -s "$PGDATA/global/pg_control" ]; then
	say "the project's database was never created to the end: it has no global/pg_control (a first start was stopped while initdb ran), so no server can run on it. Nothing in it was ever served; wipe the project to create it again (dagger call --project=PROJECT wipe --confirm=PROJECT), or restore a snapshot."
	exit 1
fi
if [ ! -s "$PGDATA/PG_VERSION" ]; then
	# The host command reads this line (contract.DatabaseCreatedLine) to
	# tell a project whose data the engine lost.
	say "the project's database volume is empty: creating the database"
fi
if [ -s "$PGDATA/PG_VERSION" ]; then
	# The supervisor holds the project's lock of this data directory: a
	# postmaster.pid left in it belongs to a server that was killed, and its
	# PID may be another process's in this container, which Postgres would
	# take for a server still running.
	rm -f "$PGDATA/postmaster.pid"
	[ -z "${POSTGRES_PASSWORD:-}" ] || apply_password
fi

docker-entrypoint.sh postgres "$@" &
pid=$!
stopping=
trap 'stopping=yes; kill -INT "$pid" 2>/dev/null || true' TERM INT
wait "$pid" || true
# A stop that comes while the entrypoint still creates the database (initdb,
# its init scripts) reaches only the entrypoint's shell, which lets it pass
# and then becomes the server: the server is asked again each second until
# it has ended.
while [ -n "$stopping" ] && kill -0 "$pid" 2>/dev/null; do
	kill -INT "$pid" 2>/dev/null || true
	sleep 1
done
trap - TERM INT
wait "$pid"
