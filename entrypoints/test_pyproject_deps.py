"""Tests of pyproject_deps.py: python3 -m unittest discover -s entrypoints"""

import os
import subprocess
import sys
import tempfile
import unittest

SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pyproject_deps.py")


def run(text, *extras):
    with tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False) as f:
        f.write(text)
    try:
        proc = subprocess.run([sys.executable, SCRIPT, f.name, *extras], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, timeout=30)
    finally:
        os.unlink(f.name)
    return proc.returncode, proc.stdout, proc.stderr


PROJECT = """
[project]
name = "app"
dependencies = ["fastapi>=0.110", " uvicorn[standard] "]
[project.optional-dependencies]
worker = ["celery==5.4.0"]
"""


class PyprojectDepsTest(unittest.TestCase):
    def test_lists_the_dependencies_and_the_extras_asked_for(self):
        code, out, err = run(PROJECT, "worker")
        self.assertEqual(code, 0, err)
        self.assertEqual(out.splitlines()[1:], ["fastapi>=0.110", "uvicorn[standard]", "celery==5.4.0"])

    def test_without_extras_only_the_dependencies(self):
        code, out, _ = run(PROJECT)
        self.assertEqual(out.splitlines()[1:], ["fastapi>=0.110", "uvicorn[standard]"])

    def test_an_unknown_extra_names_the_groups(self):
        code, _, err = run(PROJECT, "web")
        self.assertEqual(code, 1)
        self.assertIn("no optional dependency group 'web' (it has: worker)", err)

    def test_dynamic_dependencies_are_refused(self):
        code, _, err = run('[project]\nname = "app"\ndynamic = ["dependencies"]\n')
        self.assertEqual(code, 1)
        self.assertIn("dynamic", err)

    def test_poetry_is_named(self):
        code, _, err = run('[tool.poetry]\nname = "app"\n')
        self.assertEqual(code, 1)
        self.assertIn("poetry export", err)

    def test_bad_toml_says_so(self):
        code, _, err = run('[project\n')
        self.assertEqual(code, 1)


if __name__ == "__main__":
    unittest.main()
