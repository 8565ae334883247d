"""Starts a Python process of a commandcenter project: the backend or a worker.

It waits until the services the process needs are ready, runs the prestart
command, then runs the process. The services may start at the same time as
this one (in a Stack they do), so each is waited for by what it answers, not
merely by an open port. With an ASGI app it imports the app (the slow part of
starting a Python server) while it waits, and serves it with uvicorn in this
process.

Environment:
  COMMANDCENTER_SERVICE         name of the process, in messages (default "backend")
  COMMANDCENTER_WAIT            services to wait for, space separated:
                                postgres://HOST:PORT  ready when it takes logins, not
                                    merely connections (Postgres accepts connections
                                    while it starts up or recovers)
                                redis://HOST:PORT     ready when PING answers PONG after
                                    AUTH (not LOADING while it loads its data)
                                HOST:PORT             ready when it accepts a connection
  COMMANDCENTER_REDIS_PASSWORD  password for redis:// targets (AUTH)
  COMMANDCENTER_WAIT_TIMEOUT    seconds to wait for them (default 300)
  COMMANDCENTER_PRESTART        shell command run once they are ready
  COMMANDCENTER_APP             MODULE:ATTRIBUTE of an ASGI app; the arguments are
                                then uvicorn's options, and without it the command
"""

import importlib
import os
import socket
import struct
import subprocess
import sys
import threading
import time


class Refused(Exception):
    """A service answered in a way waiting longer cannot fix."""


def postgres_ready(conn):
    """Sends a startup message; a server that is up asks for a password or
    refuses the made-up user, one that starts up, recovers or shuts down
    says 57P03."""
    params = b"user\0commandcenter-launcher\0database\0postgres\0\0"
    conn.sendall(struct.pack("!ii", 8 + len(params), 196608) + params)
    kind = conn.recv(1)
    if kind != b"E":
        return kind != b"", f"answered {kind!r}"
    (length,) = struct.unpack("!i", recv_exactly(conn, 4))
    fields = recv_exactly(conn, length - 4).split(b"\0")
    code = next((f[1:].decode() for f in fields if f.startswith(b"C")), "")
    message = next((f[1:].decode() for f in fields if f.startswith(b"M")), "")
    return code != "57P03", message


def redis_command(*args):
    out = b"*%d\r\n" % len(args)
    for arg in args:
        data = arg.encode() if isinstance(arg, str) else arg
        out += b"$%d\r\n%s\r\n" % (len(data), data)
    return out


def redis_reply(conn):
    """Reads one simple reply line (+OK, -ERR ..., :1)."""
    data = b""
    while not data.endswith(b"\r\n"):
        chunk = conn.recv(1)
        if not chunk:
            raise ConnectionError("the connection closed")
        data += chunk
    return data[:-2].decode(errors="replace")


def redis_ready(conn):
    """Authenticates, then pings: Redis answers NOAUTH before anything else,
    so a ping without AUTH says nothing of whether it has loaded its data."""
    password = os.environ.get("COMMANDCENTER_REDIS_PASSWORD", "")
    if password:
        conn.sendall(redis_command("AUTH", password))
        reply = redis_reply(conn)
        if reply.startswith("-WRONGPASS") or reply.startswith("-ERR invalid password"):
            raise Refused("it refused the password (AUTH): the backend's Redis password is not the one Redis runs with")
        if reply.startswith("-LOADING"):
            return False, reply[1:]
    conn.sendall(redis_command("PING"))
    reply = redis_reply(conn)
    if reply.startswith("-NOAUTH"):
        raise Refused("it wants a password (NOAUTH), and COMMANDCENTER_REDIS_PASSWORD is empty")
    return reply == "+PONG", reply.lstrip("+-")


def recv_exactly(conn, n):
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            raise ConnectionError("the connection closed")
        data += chunk
    return data


PROBES = {"postgres": postgres_ready, "redis": redis_ready}


def wait_for(targets, timeout, failures):
    deadline = time.monotonic() + timeout
    for target in targets:
        kind, _, address = target.rpartition("://")
        host, _, port = address.rpartition(":")
        probe = PROBES.get(kind)
        while True:
            try:
                with socket.create_connection((host, int(port)), timeout=2) as conn:
                    conn.settimeout(5)
                    ready, last = probe(conn) if probe else (True, "")
            except Refused as exc:
                failures.append(f"{target}: {exc}")
                return
            except (OSError, struct.error) as exc:
                ready, last = False, exc
            if ready:
                break
            if time.monotonic() >= deadline:
                failures.append(f"{target} was not ready within {timeout:g} s ({last})")
                return
            time.sleep(0.05)


def main():
    service = os.environ.get("COMMANDCENTER_SERVICE", "backend")
    targets = os.environ.get("COMMANDCENTER_WAIT", "").split()
    timeout = float(os.environ.get("COMMANDCENTER_WAIT_TIMEOUT", "300"))
    app = os.environ.get("COMMANDCENTER_APP", "")
    failures = []
    waiter = threading.Thread(target=wait_for, args=(targets, timeout, failures), daemon=True)
    waiter.start()
    if app:
        # As with `python -m uvicorn`, the app is found from the working folder.
        sys.path.insert(0, "")
        import uvicorn

        importlib.import_module(app.partition(":")[0])
    waiter.join()
    if failures:
        sys.exit(f"commandcenter: the {service} did not start: " + "; ".join(failures)
                 + ". That service's log above says why it is not up.")
    prestart = os.environ.get("COMMANDCENTER_PRESTART", "")
    if prestart:
        code = subprocess.call(["sh", "-c", prestart])
        if code != 0:
            # The prestart's own exit code, which the engine reports.
            print(f"commandcenter: the {service} did not start: the prestart command exited {code}",
                  file=sys.stderr, flush=True)
            sys.exit(code if code > 0 else 128 - code)  # killed by signal -code
    sys.stdout.flush()
    if app:
        sys.argv = ["uvicorn", app, *sys.argv[1:]]
        sys.exit(uvicorn.main())
    if len(sys.argv) < 2:
        sys.exit(f"commandcenter: the {service} has no command to run")
    os.execvp(sys.argv[1], sys.argv[1:])


if __name__ == "__main__":
    main()
