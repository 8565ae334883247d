"""The monorepo example's API: texts whose words a Celery worker counts."""

import hashlib
import hmac
import os
import time
from contextlib import asynccontextmanager

import redis.asyncio as aioredis
from fastapi import FastAPI, HTTPException
from pydantic import BaseModel, Field
from sqlalchemy import text
from starlette.concurrency import run_in_threadpool

from app.config import settings
from app.db import Session, engine
from app.models import Analysis
from app.worker import BEAT_KEY, analyze, report_path

cache = aioredis.Redis.from_url(settings.redis_url)


@asynccontextmanager
async def lifespan(app):
    yield
    # Pooled connections belong to this event loop: close them with it.
    await engine.dispose()
    await cache.aclose()


app = FastAPI(title="CommandCenter monorepo example", lifespan=lifespan)


class TextIn(BaseModel):
    text: str = Field(min_length=1, max_length=100_000)


@app.get("/health")
@app.get("/api/health")
async def health():
    report = {}
    try:
        async with engine.connect() as conn:
            version = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar()
        report["postgres"], report["migration"] = "ok", version
    except Exception as exc:  # reported, not raised: /health says what is down
        report["postgres"] = f"error: {exc.__class__.__name__}: {exc}"
    try:
        report["redis"] = "ok" if await cache.ping() else "error: no PONG"
    except Exception as exc:
        report["redis"] = f"error: {exc.__class__.__name__}: {exc}"
    report["status"] = "ok" if report["postgres"] == report["redis"] == "ok" else "degraded"
    return report


@app.post("/api/analyses", status_code=201)
async def create_analysis(body: TextIn):
    async with Session() as session:
        row = Analysis(text=body.text)
        session.add(row)
        await session.commit()
    # Publishing to the broker blocks: not on the event loop.
    await run_in_threadpool(analyze.delay, row.id)
    return {"id": row.id, "status": row.status}


@app.get("/api/analyses/{analysis_id}")
async def get_analysis(analysis_id: int):
    async with Session() as session:
        row = await session.get(Analysis, analysis_id)
    if row is None:
        raise HTTPException(status_code=404, detail=f"no analysis {analysis_id}")
    return {"id": row.id, "status": row.status, "words": row.words, "top": row.top,
            "report": os.path.exists(report_path(row.id))}


@app.get("/api/beat")
async def beat():
    last = await cache.get(BEAT_KEY)
    if last is None:
        return {"last": None}
    return {"last": float(last), "age_seconds": round(time.time() - float(last), 1)}


@app.get("/api/token")
async def token():
    """A token signed with SECRET_KEY: shows the key is there without showing it."""
    return {"token": hmac.new(settings.secret_key.encode(), b"monorepo", hashlib.sha256).hexdigest()}
