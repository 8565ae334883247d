#!/bin/sh
# Entry point of the engine kit's redis stand-in, after the official redis
# image's: arguments that start with "-" or name a .conf file go to
# redis-server, which runs as the redis user in /data. The official image
# builds redis with protected mode off (it serves other containers); Debian's
# build has it on, so the stand-in turns it off unless the arguments set it.
set -e

if [ "${1#-}" != "$1" ] || [ "${1%.conf}" != "$1" ]; then
	set -- redis-server "$@"
fi

if [ "$1" = 'redis-server' ]; then
	shift
	case " $* " in
	*" --protected-mode "*) ;;
	*)
		if [ -n "$1" ] && [ "${1#-}" = "$1" ]; then
			conf=$1
			shift
			set -- "$conf" --protected-mode no "$@"
		else
			set -- --protected-mode no "$@"
		fi
		;;
	esac
	set -- redis-server "$@"
	if [ "$(id -u)" = '0' ]; then
		find . \! -user redis -exec chown redis '{}' +
		exec gosu redis "$@"
	fi
fi

exec "$@"
