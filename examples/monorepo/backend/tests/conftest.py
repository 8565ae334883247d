"""The tests run against live Postgres and Redis (`dagger call test` binds them)."""

import subprocess
import sys

import pytest


@pytest.fixture(scope="session", autouse=True)
def migrated():
    """The schema, as the server's prestart command makes it."""
    subprocess.run([sys.executable, "-m", "alembic", "upgrade", "head"], check=True)
