"""Connections to Postgres and Redis, from DATABASE_URL and REDIS_URL."""

import os
import threading
from urllib.parse import unquote, urlparse

import pg8000.native
import redis

_local = threading.local()
_redis = None
_redis_lock = threading.Lock()


def _pg_params(url):
    u = urlparse(url)
    if u.scheme not in ("postgres", "postgresql"):
        raise ValueError(f"DATABASE_URL must be a postgresql:// URL, not {u.scheme}://")
    return {
        "user": unquote(u.username or "postgres"),
        "password": unquote(u.password or ""),
        "host": u.hostname or "localhost",
        "port": u.port or 5432,
        "database": (u.path or "/").lstrip("/") or None,
        "timeout": 5,
    }


def database():
    """A Postgres connection of this thread's own, opened on first use."""
    conn = getattr(_local, "conn", None)
    if conn is None:
        conn = pg8000.native.Connection(**_pg_params(os.environ["DATABASE_URL"]))
        _local.conn = conn
    return conn


def drop_database_connection():
    conn = getattr(_local, "conn", None)
    _local.conn = None
    if conn is not None:
        try:
            conn.close()
        except Exception:
            pass


def cache():
    """The process's Redis client (it pools its own connections)."""
    global _redis
    with _redis_lock:
        if _redis is None:
            _redis = redis.Redis.from_url(
                os.environ["REDIS_URL"], socket_timeout=5, socket_connect_timeout=5, decode_responses=True
            )
        return _redis
