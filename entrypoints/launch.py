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
  COMMANDCENTER_RELOAD          "preload" (the module sets it with live reload on): the
                                launcher stays the parent of the server, imports the
                                packages the server imported, and on SIGHUP starts a new
                                server from them (see Reloader)
"""

import importlib
import os
import signal
import site
import socket
import struct
import subprocess
import sys
import sysconfig
import threading
import time
import traceback
import warnings


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
    if os.environ.get("COMMANDCENTER_RELOAD") == "preload":
        sys.exit(Reloader(service).run())
    start(service)


def start(service, report=None):
    """Waits for the services, imports the app, runs the prestart command and
    serves: the whole launcher, or each server a Reloader starts. report, a
    pipe's write end, hears which installed modules the app imported."""
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
    if report is not None:
        with os.fdopen(report, "w") as out:
            out.write("\n".join(installed_modules()))
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


def installed_modules():
    """The modules imported so far from the Python installation: the standard
    library and the site-packages folders, never the project's folder (the
    working folder) or a local library outside them (an editable install)."""
    paths = sysconfig.get_paths()
    roots = {paths.get(k) for k in ("stdlib", "platstdlib", "purelib", "platlib")}
    roots |= set(getattr(site, "getsitepackages", list)())  # not in an old virtualenv's site
    roots = tuple(os.path.join(os.path.realpath(r), "") for r in roots if r)
    here = os.path.join(os.path.realpath(os.getcwd()), "")
    names = []
    for name, module in list(sys.modules.items()):
        file = getattr(module, "__file__", None)
        if name == "__main__" or not isinstance(file, str):
            continue
        file = os.path.realpath(file)
        if file.startswith(roots) and not file.startswith(here):
            names.append(name)
    return names


# RELOAD_GRACE is how long a reload waits for the server to end after
# SIGTERM before it kills it, as the supervisor's restarts do.
RELOAD_GRACE = 3.0

STOP_SIGNALS = (signal.SIGHUP, signal.SIGTERM, signal.SIGINT)


class Reloader:
    """Live reload's restarts of a Python server without its imports.

    A restart of a Python server spends most of its time importing packages
    (FastAPI and pydantic; numpy, scipy, torch), which a change of the
    project's code does not touch. With COMMANDCENTER_RELOAD=preload the
    launcher stays the parent of the server it starts. The server, once it
    has imported the app, says which modules of the Python installation it
    imported (installed_modules); the launcher imports them too, in a thread
    of the lowest CPU priority. On SIGHUP, which the supervisor sends when
    live reload has changed the code, the launcher ends the server (SIGTERM,
    SIGKILL after RELOAD_GRACE) and forks a new one: it has those packages
    imported already, and imports the project's own modules afresh from the
    changed files. The launcher never imports the project's modules itself.
    SIGTERM and SIGINT end the server; when it ends, but for a reload, the
    launcher ends with its exit status. A change of the dependencies restarts
    the launcher (the supervisor does), and with it what it imported."""

    def __init__(self, service):
        self.service = service
        self.server = 0
        self.reloading = False
        self.stopping = False
        self.preloaded = set()
        self.preloader = None
        self.killer = None
        self.handlers = {}  # the signals' handlers before the launcher's, for the servers

    def run(self):
        self.handlers = {sig: signal.signal(sig, self.on_signal) for sig in STOP_SIGNALS}
        signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
        self.fork()
        while True:
            # Signals are taken only here, while the server runs: a handler
            # never sees the server between its end and the next start.
            signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
            _, status = os.waitpid(self.server, 0)
            signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
            if self.killer is not None:
                self.killer.cancel()
                self.killer = None
            code = os.waitstatus_to_exitcode(status)
            if not self.reloading or self.stopping:
                return code if code >= 0 else 128 - code
            self.reloading = False
            if self.preloader is not None:
                self.preloader.join()
            self.fork()
            print(f"commandcenter: the {self.service} restarted with {len(self.preloaded)} modules of its packages imported already",
                  file=sys.stderr, flush=True)

    def on_signal(self, sig, _frame):
        if sig == signal.SIGHUP:
            if self.stopping or self.reloading:
                return
            self.reloading = True
            self.killer = threading.Timer(RELOAD_GRACE, self.kill, args=(self.server,))
            self.killer.daemon = True
            self.killer.start()
        else:
            self.stopping = True
        # SIGTERM for SIGINT too: the supervisor signals the launcher's
        # process group, so the server may have SIGINT already, and a
        # second SIGINT makes uvicorn skip its graceful shutdown.
        self.signal(signal.SIGTERM)

    def signal(self, sig):
        try:
            os.kill(self.server, sig)
        except ProcessLookupError:
            pass

    def kill(self, server):
        if server == self.server:
            print(f"commandcenter: the {self.service} did not end within {RELOAD_GRACE:g} s of SIGTERM: killed",
                  file=sys.stderr, flush=True)
            self.signal(signal.SIGKILL)

    def fork(self):
        read, write = os.pipe()
        sys.stdout.flush()
        sys.stderr.flush()
        with warnings.catch_warnings():
            # Python warns of a fork of a process with threads: a native
            # library's (a BLAS's pool, started by an import) do not go on
            # in the new process, as with multiprocessing's fork.
            warnings.simplefilter("ignore", DeprecationWarning)
            pid = os.fork()
        if pid == 0:
            self.serve(read, write)
        os.close(write)
        self.server = pid
        self.preloader = threading.Thread(target=self.preload, args=(read,), daemon=True)
        self.preloader.start()

    def serve(self, read, write):
        """The new server's side of fork. It never returns: its end (SystemExit)
        goes past the launcher's frames, which catch nothing, to the
        interpreter's exit, as a server's end does without a Reloader."""
        os.close(read)
        for sig, handler in self.handlers.items():
            signal.signal(sig, handler)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
        self.forget_shadowed()
        try:
            start(self.service, report=write)
        except SystemExit:
            raise
        except BaseException:
            traceback.print_exc()
            sys.exit(1)
        sys.exit(0)

    def forget_shadowed(self):
        """A preloaded package whose name a module of the project's folder
        now has (a file added by live reload) is imported from that folder
        by a fresh start: so it is here."""
        for name in self.preloaded:
            top = name.partition(".")[0]
            if os.path.isfile(top + ".py") or os.path.isfile(os.path.join(top, "__init__.py")):
                sys.modules.pop(name, None)

    def preload(self, read):
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
        except OSError:
            pass
        with os.fdopen(read) as report:
            names = report.read().split()
        for name in names:
            if name not in sys.modules:
                try:
                    importlib.import_module(name)
                except BaseException:
                    continue  # the server imports it itself
            self.preloaded.add(name)


if __name__ == "__main__":
    main()
