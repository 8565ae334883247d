"""Starts the backend of a commandcenter Stack.

In the Stack the backend starts together with Postgres and Redis and reaches
them by hostname, so this waits until they accept connections, then runs the
prestart command, then serves. With an ASGI app it imports the app (the slow
part of starting a Python server) while it waits, and serves it with uvicorn
in this process.

Environment:
  COMMANDCENTER_WAIT          services to wait for, space separated: postgres://HOST:PORT
                              (ready when it takes logins, not merely connections:
                              Postgres accepts them while it starts up or recovers),
                              redis://HOST:PORT (ready when PING is not answered with
                              LOADING), or HOST:PORT (ready when it accepts a connection)
  COMMANDCENTER_WAIT_TIMEOUT  seconds to wait for them (default 300)
  COMMANDCENTER_PRESTART      shell command run once they answer
  COMMANDCENTER_APP           MODULE:ATTRIBUTE of an ASGI app; the arguments
                              are then uvicorn's options, and without it the
                              command to run
"""

import importlib
import os
import socket
import struct
import subprocess
import sys
import threading
import time


def postgres_ready(conn):
    """Sends a startup message; a server that is up asks for a password or
    refuses the made-up user, one that starts up says 57P03."""
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


def redis_ready(conn):
    conn.sendall(b"PING\r\n")
    reply = conn.recv(256)
    return reply != b"" and not reply.startswith(b"-LOADING"), reply.decode(errors="replace").strip()


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
                    ready, last = probe(conn) if probe else (True, "")
            except (OSError, struct.error) as exc:
                ready, last = False, exc
            if ready:
                break
            if time.monotonic() >= deadline:
                failures.append(f"{target} was not ready within {timeout:g} s ({last})")
                return
            time.sleep(0.05)


def main():
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
        sys.exit("commandcenter: the backend did not start: " + "; ".join(failures)
                 + ". That service's log above says why it is not up.")
    prestart = os.environ.get("COMMANDCENTER_PRESTART", "")
    if prestart:
        code = subprocess.call(["sh", "-c", prestart])
        if code != 0:
            # The prestart's own exit code, which the engine reports.
            print(f"commandcenter: the backend did not start: the prestart command exited {code}",
                  file=sys.stderr, flush=True)
            sys.exit(code if code > 0 else 128 - code)  # killed by signal -code
    sys.stdout.flush()
    if app:
        sys.argv = ["uvicorn", app, *sys.argv[1:]]
        sys.exit(uvicorn.main())
    os.execvp(sys.argv[1], sys.argv[1:])


if __name__ == "__main__":
    main()
