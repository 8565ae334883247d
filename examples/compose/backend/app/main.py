"""The compose example's backend, written for a developer's machine and for
docker compose: every address comes from the environment, with the host's
defaults."""

import json
import os
import socket
import urllib.parse
import urllib.request
from contextlib import asynccontextmanager

import psycopg
import redis
from fastapi import FastAPI, HTTPException
from pydantic import BaseModel, Field

from app.tasks import add

DATABASE_URL = os.environ.get("DATABASE_URL", "postgresql://app:changeme@localhost:5432/app")
REDIS_URL = os.environ.get("REDIS_URL", "redis://localhost:6379/0")
NATS_URL = os.environ.get("NATS_URL", "nats://localhost:4222")
SEARCH_URL = os.environ.get("SEARCH_URL", "http://localhost:7700")



def db():
    return psycopg.connect(DATABASE_URL, connect_timeout=5)


@asynccontextmanager
async def lifespan(app):
    with db() as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS notes (id serial PRIMARY KEY, text text NOT NULL)")
    yield


app = FastAPI(title="compose example", lifespan=lifespan)


def nats_ping():
    """A NATS client's handshake: the server's INFO, then PING, PONG."""
    u = urllib.parse.urlparse(NATS_URL)
    with socket.create_connection((u.hostname, u.port or 4222), timeout=5) as s:
        f = s.makefile("rwb")
        if not f.readline().startswith(b"INFO "):
            raise RuntimeError("no INFO from the server")
        f.write(b'CONNECT {"verbose":false}\r\nPING\r\n')
        f.flush()
        line = f.readline()
        if line != b"PONG\r\n":
            raise RuntimeError(f"answered {line!r} to PING")


def search(method, path, body=None):
    req = urllib.request.Request(SEARCH_URL + path, method=method, data=body and json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=5) as res:
        return json.load(res)


def check(fn):
    try:
        fn()
        return "ok"
    except Exception as exc:  # reported, not raised: /api/health says what is down
        return f"error: {exc}"


@app.get("/api/health")
def health():
    def postgres():
        with db() as conn:
            conn.execute("SELECT 1")

    status = {
        "postgres": check(postgres),
        "redis": check(lambda: redis.Redis.from_url(REDIS_URL, socket_timeout=5).ping()),
        "nats": check(nats_ping),
        "search": check(lambda: search("GET", "/health")),
    }
    status["status"] = "ok" if all(v == "ok" for v in status.values()) else "degraded"
    return status


class Note(BaseModel):
    text: str = Field(min_length=1, max_length=1000)


@app.post("/api/notes", status_code=201)
def create_note(note: Note):
    with db() as conn:
        (id_,) = conn.execute("INSERT INTO notes (text) VALUES (%s) RETURNING id", (note.text,)).fetchone()
    search("POST", "/index", {"id": id_, "text": note.text})
    return {"id": id_, "text": note.text}


@app.get("/api/search")
def find(q: str):
    return search("GET", "/search?q=" + urllib.parse.quote(q))


@app.get("/api/notes")
def list_notes():
    with db() as conn:
        rows = conn.execute("SELECT id, text FROM notes ORDER BY id").fetchall()
    return [{"id": i, "text": t} for i, t in rows]


@app.post("/api/sum")
def sum_(a: int, b: int):
    """Adds a and b in the Celery worker, through Redis."""
    try:
        return {"sum": add.delay(a, b).get(timeout=30)}
    except Exception as exc:
        raise HTTPException(503, f"the worker did not answer: {exc}")
