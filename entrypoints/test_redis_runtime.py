"""Tests of redis-runtime.sh, run with the host's Python: python3 -m unittest discover -s entrypoints

They copy the host's real Redis server (redis-server, or Debian's
redis-check-rdb, the same program, from the redis-tools package) and run the
copy.
"""

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.join(HERE, "redis-runtime.sh")


def host_redis():
    return shutil.which("redis-server") or shutil.which("redis-check-rdb")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def a_shared_library():
    """A real shared library of the host that is no Redis module."""
    for pattern in ("/lib/*/libz.so.1", "/usr/lib/*/libz.so.1", "/lib/*/libm.so.6"):
        found = glob.glob(pattern)
        if found:
            return found[0]
    raise unittest.SkipTest("no shared library to stand for a module")


@unittest.skipUnless(host_redis(), "needs a Redis server (apt install redis-tools)")
class RedisRuntimeTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.tmp)
        # The copy runs where the script was told it would (HERE): a folder
        # other than where it was made, as in the Stack's front.
        self.made = os.path.join(self.tmp, "made")
        self.home = os.path.join(self.tmp, "elsewhere", "redis")
        self.modules = os.path.join(self.tmp, "modules")
        os.makedirs(self.modules)

    def copy(self):
        proc = subprocess.run(["sh", SCRIPT], env={**os.environ, "OUT": self.made, "HERE": self.home,
                                                    "MODULES_DIR": self.modules, "SERVER": host_redis()},
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
        self.assertEqual(proc.returncode, 0, proc.stdout.decode())
        os.makedirs(os.path.dirname(self.home))
        shutil.move(self.made, self.home)
        return proc.stdout.decode()

    def test_the_copy_serves_from_another_folder(self):
        self.copy()
        port = free_port()
        server = subprocess.Popen([os.path.join(self.home, "run"), "--port", str(port), "--save", "",
                                   "--appendonly", "no", "--dir", self.tmp],
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.addCleanup(server.stdout.close)
        self.addCleanup(server.wait)
        self.addCleanup(server.kill)
        deadline = time.time() + 20
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=2) as c:
                    c.sendall(b"PING\r\n")
                    self.assertEqual(c.recv(64), b"+PONG\r\n")
                    break
            except OSError:
                if server.poll() is not None or time.time() > deadline:
                    self.fail("the copied server did not answer PING: " + server.stdout.read().decode())
                time.sleep(0.1)
        # It runs on the copied libraries, not the host's: the loader says
        # which files it initialises.
        proc = subprocess.run([os.path.join(self.home, "run"), "--version"], env={**os.environ, "LD_DEBUG": "libs"},
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30)
        self.assertEqual(proc.returncode, 0, proc.stdout.decode())
        loaded = [line.split("calling init:")[1].strip() for line in proc.stdout.decode().splitlines()
                  if "calling init:" in line]
        # The first ones are the shell of run, before it execs the copy.
        ours = [i for i, path in enumerate(loaded) if path.startswith(self.home + "/")]
        self.assertTrue(ours, "the copy loaded nothing of its own: %s" % loaded)
        for path in loaded[ours[0]:]:
            self.assertTrue(path.startswith(self.home + "/"), "%s is not the copy's: %s" % (path, loaded))

    def test_modules_are_loaded_as_the_image_loads_them(self):
        lib = a_shared_library()
        shutil.copy(lib, os.path.join(self.modules, "b-module.so"))
        os.chmod(os.path.join(self.modules, "b-module.so"), 0o755)
        shutil.copy(lib, os.path.join(self.modules, "a-module.so"))
        os.chmod(os.path.join(self.modules, "a-module.so"), 0o755)
        # Skipped, as the image's entry point skips them: empty, not executable.
        open(os.path.join(self.modules, "empty.so"), "w").close()
        os.chmod(os.path.join(self.modules, "empty.so"), 0o755)
        shutil.copy(lib, os.path.join(self.modules, "noexec.so"))
        os.chmod(os.path.join(self.modules, "noexec.so"), 0o644)
        out = self.copy()
        self.assertIn("module a-module.so", out)
        with open(os.path.join(self.home, "run")) as f:
            run = f.read()
        a = run.find("--loadmodule " + os.path.join(self.home, "modules", "a-module.so"))
        b = run.find("--loadmodule " + os.path.join(self.home, "modules", "b-module.so"))
        self.assertTrue(0 <= a < b, run)
        self.assertNotIn("empty.so", run)
        self.assertNotIn("noexec.so", run)
        # The server really is told to load it: a library that is no module
        # makes it refuse to start, naming the file.
        proc = subprocess.run([os.path.join(self.home, "run"), "--port", str(free_port()), "--save", "",
                               "--appendonly", "no", "--dir", self.tmp],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30)
        self.assertNotEqual(proc.returncode, 0)
        self.assertIn("a-module.so", proc.stdout.decode())

    def test_a_missing_library_fails_the_copy(self):
        # A "module" that needs a library the image lacks: the copy says so.
        fake = os.path.join(self.tmp, "needs-missing.so")
        subprocess.run(["cp", a_shared_library(), fake], check=True)
        env = {**os.environ, "OUT": self.made, "HERE": self.home, "MODULES_DIR": self.modules,
               "SERVER": host_redis(), "PATH": self.fake_ldd() + ":" + os.environ["PATH"]}
        shutil.copy(fake, os.path.join(self.modules, "m.so"))
        os.chmod(os.path.join(self.modules, "m.so"), 0o755)
        proc = subprocess.run(["sh", SCRIPT], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
        self.assertNotEqual(proc.returncode, 0)
        self.assertIn("libgone.so.1, which is not found", proc.stdout.decode())

    def fake_ldd(self):
        """An ldd that reports a missing library for m.so and is the real one otherwise."""
        bin_dir = os.path.join(self.tmp, "bin")
        os.makedirs(bin_dir)
        real = shutil.which("ldd")
        with open(os.path.join(bin_dir, "ldd"), "w") as f:
            f.write('#!/bin/sh\ncase $1 in *m.so) echo "\tlibgone.so.1 => not found";; *) exec %s "$@";; esac\n' % real)
        os.chmod(os.path.join(bin_dir, "ldd"), 0o755)
        return bin_dir


if __name__ == "__main__":
    unittest.main()
