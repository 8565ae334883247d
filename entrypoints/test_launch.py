"""Tests of launch.py, run with the host's Python: python3 -m unittest discover -s entrypoints

The Redis test runs a real Redis server (redis-server, or Debian's
redis-check-rdb under that name, from the redis-tools package).
"""

import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
LAUNCHER = os.path.join(HERE, "launch.py")
sys.path.insert(0, HERE)
import launch  # noqa: E402 (its RESP helpers talk to the real Redis below)


def run_launcher(env, *args, timeout=120):
    """Runs the launcher as a container runs it; returns (exit code, output)."""
    proc = subprocess.run([sys.executable, LAUNCHER, *args], env={**os.environ, **env},
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout)
    return proc.returncode, proc.stdout.decode()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class FakeServer:
    """Answers the n-th connection with answer(n) after reading what the client sent."""

    def __init__(self, answer):
        self.answer = answer
        self.count = 0
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.addr = "127.0.0.1:%d" % self.sock.getsockname()[1]
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.count += 1
            with conn:
                conn.recv(512)
                conn.sendall(self.answer(self.count))

    def close(self):
        self.sock.close()


def pg_error(code, message):
    fields = b"SFATAL\0C" + code.encode() + b"\0M" + message.encode() + b"\0\0"
    return b"E" + struct.pack("!i", 4 + len(fields)) + fields


class LauncherTest(unittest.TestCase):
    def test_waits_then_prestarts_then_runs(self):
        port = free_port()
        opened = []

        def open_later():
            time.sleep(0.7)
            s = socket.socket()
            s.bind(("127.0.0.1", port))
            s.listen(4)
            opened.append(time.monotonic())
            self.addCleanup(s.close)
            while True:
                try:
                    c, _ = s.accept()
                    c.close()
                except OSError:
                    return

        threading.Thread(target=open_later, daemon=True).start()
        code, out = run_launcher({"COMMANDCENTER_WAIT": "127.0.0.1:%d" % port,
                            "COMMANDCENTER_PRESTART": "echo prestart ran"},
                           "sh", "-c", "echo server ran")
        done = time.monotonic()
        self.assertEqual(code, 0, out)
        self.assertEqual(out, "prestart ran\nserver ran\n")
        self.assertTrue(opened and opened[0] <= done, "the launcher finished before the port opened")

    def test_names_the_service_that_never_answers(self):
        addr = "127.0.0.1:%d" % free_port()
        code, out = run_launcher({"COMMANDCENTER_WAIT": addr, "COMMANDCENTER_WAIT_TIMEOUT": "0.5",
                            "COMMANDCENTER_SERVICE": "worker"}, "sh", "-c", "echo server ran")
        self.assertNotEqual(code, 0)
        self.assertNotIn("server ran", out)
        self.assertIn("the worker did not start: %s was not ready within 0.5 s" % addr, out)

    def test_stops_when_prestart_fails(self):
        code, out = run_launcher({"COMMANDCENTER_PRESTART": "exit 3"}, "sh", "-c", "echo server ran")
        self.assertEqual(code, 3, out)
        self.assertNotIn("server ran", out)
        self.assertIn("the prestart command exited 3", out)

    def test_waits_for_postgres_to_finish_starting_up(self):
        server = FakeServer(lambda n: pg_error("57P03", "the database system is starting up") if n <= 3
                            else b"R\0\0\0\x08\0\0\0\x03")  # a password, please
        self.addCleanup(server.close)
        code, out = run_launcher({"COMMANDCENTER_WAIT": "postgres://" + server.addr}, "sh", "-c", "echo server ran")
        self.assertEqual((code, out), (0, "server ran\n"))
        self.assertGreaterEqual(server.count, 4, "the server started while Postgres was starting up")

    def test_takes_a_refused_login_as_ready(self):
        server = FakeServer(lambda n: pg_error("28000", 'role "commandcenter-launcher" does not exist'))
        self.addCleanup(server.close)
        code, out = run_launcher({"COMMANDCENTER_WAIT": "postgres://" + server.addr}, "sh", "-c", "echo server ran")
        self.assertEqual((code, out, server.count), (0, "server ran\n", 1))

    def test_says_what_postgres_last_said(self):
        server = FakeServer(lambda n: pg_error("57P03", "the database system is starting up"))
        self.addCleanup(server.close)
        code, out = run_launcher({"COMMANDCENTER_WAIT": "postgres://" + server.addr,
                            "COMMANDCENTER_WAIT_TIMEOUT": "0.5"}, "true")
        self.assertNotEqual(code, 0)
        self.assertIn("postgres://%s was not ready within 0.5 s (the database system is starting up)" % server.addr, out)


class Lines:
    """The output of a process, read as it comes."""

    def __init__(self, proc):
        self.proc = proc
        self.lines = []
        self.cond = threading.Condition()
        self.reader = threading.Thread(target=self.read, daemon=True)
        self.reader.start()

    def close(self):
        """Ends the process and what it started (its process group), and
        reads its output to the end."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()
        self.reader.join()
        self.proc.stdout.close()

    def read(self):
        for line in self.proc.stdout:
            with self.cond:
                self.lines.append(line.decode().rstrip("\n"))
                self.cond.notify_all()

    def wait_for(self, test, what, timeout=30):
        """The first line that passes test, waiting for it for timeout at most."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                found = [line for line in self.lines if test(line)]
                if found:
                    return found[0]
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("no %s in the output:\n%s" % (what, "\n".join(self.lines)))
                self.cond.wait(left)


class ReloaderTest(unittest.TestCase):
    """The launcher under live reload (COMMANDCENTER_RELOAD=preload), with a
    shell as its server: SIGHUP starts a new server in the same launcher."""

    def start(self, script):
        proc = subprocess.Popen([sys.executable, LAUNCHER, "sh", "-c", script],
                                env={**os.environ, "COMMANDCENTER_RELOAD": "preload"},
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
        out = Lines(proc)
        self.addCleanup(out.close)
        return proc, out

    def test_sighup_starts_a_new_server_and_sigterm_ends_both(self):
        # The trap is set before the server says it started: a SIGTERM that
        # comes right after the line finds it set, however busy the machine.
        proc, out = self.start('trap \'echo "ended $$"; exit 0\' TERM; echo "started $$"; while :; do sleep 0.05; done')
        first = out.wait_for(lambda l: l.startswith("started "), "a first server").split()[1]
        self.assertNotEqual(first, str(proc.pid), "the server runs in the launcher's process")
        proc.send_signal(signal.SIGHUP)
        out.wait_for(lambda l: l == "ended " + first, "the first server's end")
        second = out.wait_for(lambda l: l.startswith("started ") and l.split()[1] != first, "a second server").split()[1]
        out.wait_for(lambda l: "the backend restarted with" in l, "the launcher's word on the restart")
        self.assertIsNone(proc.poll(), "the launcher ended on SIGHUP")
        proc.send_signal(signal.SIGTERM)
        self.assertEqual(proc.wait(timeout=30), 0, "\n".join(out.lines))
        out.wait_for(lambda l: l == "ended " + second, "the second server's end")

    def test_the_server_s_end_ends_the_launcher_with_its_status(self):
        proc, out = self.start("echo started; exit 7")
        self.assertEqual(proc.wait(timeout=30), 7, "\n".join(out.lines))

    def test_a_server_that_stays_after_sigterm_is_killed_on_reload(self):
        proc, out = self.start('trap "" TERM; echo "started $$"; while :; do sleep 0.05; done')
        first = out.wait_for(lambda l: l.startswith("started "), "a first server").split()[1]
        proc.send_signal(signal.SIGHUP)
        out.wait_for(lambda l: "did not end within 3 s of SIGTERM: killed" in l, "the kill")
        out.wait_for(lambda l: l.startswith("started ") and l.split()[1] != first, "a second server")


class PreloadTest(unittest.TestCase):
    """What the launcher imports for the next server: the modules of the
    Python installation the server reported, never the project's."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.tmp, True)
        cwd = os.getcwd()
        os.chdir(self.tmp)
        self.addCleanup(os.chdir, cwd)

    def test_installed_modules_leave_out_the_project_folder(self):
        with open("cc_project_module.py", "w") as f:
            f.write("import xml.dom.minidom\n")
        sys.path.insert(0, "")
        self.addCleanup(sys.path.remove, "")
        import cc_project_module  # noqa: F401
        self.addCleanup(sys.modules.pop, "cc_project_module", None)
        names = launch.installed_modules()
        self.assertIn("xml.dom.minidom", names)
        self.assertIn("re", names)
        self.assertNotIn("cc_project_module", names)

    def test_preload_imports_what_the_server_reported(self):
        self.assertNotIn("wave", sys.modules, "pick a module these tests have not imported")
        self.addCleanup(sys.modules.pop, "wave", None)
        read, write = os.pipe()
        with os.fdopen(write, "w") as report:
            report.write("wave\nno_such_module_cc\nre")
        reloader = launch.Reloader("backend")
        reloader.preload(read)
        self.assertIn("wave", sys.modules)
        self.assertEqual(reloader.preloaded, {"wave", "re"})

    def test_a_project_module_of_a_preloaded_name_is_imported_from_the_project(self):
        import colorsys  # noqa: F401
        self.addCleanup(sys.modules.pop, "colorsys", None)
        reloader = launch.Reloader("backend")
        reloader.preloaded = {"colorsys", "re"}
        with open("colorsys.py", "w") as f:
            f.write("")
        reloader.forget_shadowed()
        self.assertNotIn("colorsys", sys.modules)
        self.assertIn("re", sys.modules)


def redis_server_binary(tmp):
    """redis-server, or Debian's redis-check-rdb (the same program) under that name."""
    found = shutil.which("redis-server")
    if found:
        return found
    check = shutil.which("redis-check-rdb")
    if not check:
        raise AssertionError("no redis-server on PATH: install Debian's redis-tools (scripts/test.sh does)")
    link = os.path.join(tmp, "redis-server")
    os.symlink(check, link)
    return link


def redis_cli(port, password, *args):
    """Sends one command after AUTH; returns the reply's first line, or a bulk reply's text."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
        conn.sendall(launch.redis_command("AUTH", password))
        launch.redis_reply(conn)
        conn.sendall(launch.redis_command(*args))
        reply = launch.redis_reply(conn)
        if reply.startswith("$") and reply != "$-1":
            return launch.recv_exactly(conn, int(reply[1:]) + 2)[:-2].decode()
        return reply


class RealRedisTest(unittest.TestCase):
    PASSWORD = "launcher-test-password"
    KEYS = "5000"

    def start_redis(self, binary, data, port, *args):
        proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", data,
                                 "--requirepass", self.PASSWORD, "--appendonly", "yes",
                                 "--enable-debug-command", "yes", "--save", "", *args],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.addCleanup(lambda: (proc.kill(), proc.wait()))
        return proc

    def wait_for_port(self, port):
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        self.fail("redis did not listen on %d" % port)

    def test_waits_for_redis_to_load_its_data(self):
        tmp = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, tmp, True)
        binary = redis_server_binary(tmp)
        data = os.path.join(tmp, "data")
        os.mkdir(data)

        # A data set that Redis loads slowly at its next start, by its own
        # setting rather than the data's size: key-load-delay (a setting of
        # Redis's own tests) sleeps 1 ms a key, so 5,000 keys keep it LOADING
        # for at least 5 s however fast the machine; it answers clients after
        # every KiB it reads. SAVE returns once the RDB file is whole.
        rdb_only = ("--appendonly", "no")
        port = free_port()
        proc = self.start_redis(binary, data, port, *rdb_only)
        self.wait_for_port(port)
        self.assertEqual(redis_cli(port, self.PASSWORD, "DEBUG", "POPULATE", self.KEYS), "+OK")
        self.assertEqual(redis_cli(port, self.PASSWORD, "SAVE"), "+OK")
        proc.terminate()
        proc.wait(timeout=60)

        # Restart it and launch at once: the command must find Redis loaded.
        port = free_port()
        self.start_redis(binary, data, port, *rdb_only, "--key-load-delay", "1000",
                         "--loading-process-events-interval-bytes", "1024")
        self.wait_for_port(port)
        self.assertIn("LOADING", redis_cli(port, self.PASSWORD, "PING"),
                      "Redis was not loading right after its start: its key-load-delay did not hold it")
        check = ("import socket, sys; sys.path.insert(0, %r); import launch; "
                 "c = socket.create_connection(('127.0.0.1', %d)); "
                 "c.sendall(launch.redis_command('AUTH', %r)); launch.redis_reply(c); "
                 "c.sendall(launch.redis_command('DBSIZE')); print(launch.redis_reply(c))") % (HERE, port, self.PASSWORD)
        code, out = run_launcher({"COMMANDCENTER_WAIT": "redis://127.0.0.1:%d" % port,
                            "COMMANDCENTER_REDIS_PASSWORD": self.PASSWORD},
                           sys.executable, "-c", check)
        self.assertEqual(code, 0, out)
        self.assertEqual(out.strip(), ":" + self.KEYS, "the command ran before Redis had loaded its data")

    def test_a_wrong_password_fails_at_once(self):
        tmp = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, tmp, True)
        binary = redis_server_binary(tmp)
        port = free_port()
        self.start_redis(binary, tmp, port)
        self.wait_for_port(port)
        start = time.monotonic()
        code, out = run_launcher({"COMMANDCENTER_WAIT": "redis://127.0.0.1:%d" % port,
                            "COMMANDCENTER_REDIS_PASSWORD": "not-the-password"}, "true")
        self.assertNotEqual(code, 0)
        self.assertIn("refused the password", out)
        self.assertLess(time.monotonic() - start, 10)


if __name__ == "__main__":
    unittest.main()
