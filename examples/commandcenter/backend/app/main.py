"""CommandCenter's example backend: notes kept in Postgres, cached in Redis."""

import json
from contextlib import asynccontextmanager

from fastapi import FastAPI, HTTPException
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from app.db import cache, database, drop_database_connection
from app.migrate import migrate

CACHE_TTL = 30  # seconds a cached note list is served before Postgres is asked again
LIST_KEY = "notes:all"


@asynccontextmanager
async def lifespan(app):
    migrate()
    yield


app = FastAPI(title="CommandCenter example", lifespan=lifespan)


class NoteIn(BaseModel):
    title: str = Field(min_length=1, max_length=200)
    body: str = Field(default="", max_length=10000)


def _row(row):
    id_, title, body, created = row
    return {"id": id_, "title": title, "body": body, "created_at": created.isoformat()}


def check_postgres():
    try:
        database().run("SELECT 1")
        return "ok"
    except Exception as exc:  # reported, not raised: /health says what is down
        drop_database_connection()
        return f"error: {exc.__class__.__name__}: {exc}"


def check_redis():
    try:
        return "ok" if cache().ping() else "error: no PONG"
    except Exception as exc:
        return f"error: {exc.__class__.__name__}: {exc}"


@app.get("/health")
@app.get("/api/health")
def health():
    report = {"postgres": check_postgres(), "redis": check_redis()}
    ok = all(v == "ok" for v in report.values())
    report["status"] = "ok" if ok else "degraded"
    return JSONResponse(report, status_code=200 if ok else 503)


@app.get("/api/notes")
def list_notes():
    cached = cache().get(LIST_KEY)
    if cached is not None:
        return {"source": "cache", "notes": json.loads(cached)}
    notes = [_row(r) for r in database().run("SELECT id, title, body, created_at FROM notes ORDER BY id")]
    cache().set(LIST_KEY, json.dumps(notes), ex=CACHE_TTL)
    return {"source": "database", "notes": notes}


@app.post("/api/notes", status_code=201)
def create_note(note: NoteIn):
    rows = database().run(
        "INSERT INTO notes (title, body) VALUES (:title, :body) RETURNING id, title, body, created_at",
        title=note.title,
        body=note.body,
    )
    cache().delete(LIST_KEY)
    return _row(rows[0])


@app.get("/api/notes/{note_id}")
def get_note(note_id: int):
    key = f"notes:{note_id}"
    cached = cache().get(key)
    if cached is not None:
        return json.loads(cached)
    rows = database().run("SELECT id, title, body, created_at FROM notes WHERE id = :id", id=note_id)
    if not rows:
        raise HTTPException(status_code=404, detail=f"no note {note_id}")
    note = _row(rows[0])
    cache().set(key, json.dumps(note), ex=CACHE_TTL)
    return note
