"""The Celery app: a worker counts words, beat sends a heartbeat.

    celery -A app.worker worker --pool=solo --loglevel=INFO
    celery -A app.worker beat --loglevel=INFO
"""

import asyncio
import json
import os
import time

import redis
import textstats
from celery import Celery
from sqlalchemy.ext.asyncio import async_sessionmaker

from app.config import settings
from app.db import make_engine
from app.models import Analysis

BEAT_KEY = "monorepo:beat"

celery = Celery("monorepo", broker=settings.redis_url)
celery.conf.update(
    broker_connection_retry_on_startup=True,
    beat_schedule={"heartbeat": {"task": "app.worker.heartbeat", "schedule": 2.0}},
)


def report_path(analysis_id):
    return os.path.join(settings.storage_path, "reports", f"{analysis_id}.json")


async def _analyze(analysis_id):
    # An engine of the task's own: asyncio.run gives each task a new loop.
    engine = make_engine()
    try:
        async with async_sessionmaker(engine)() as session:
            row = await session.get(Analysis, analysis_id)
            if row is None:
                return None
            result = textstats.summary(row.text)
            row.words, row.top, row.status = result["words"], result["top"], "done"
            await session.commit()
    finally:
        await engine.dispose()
    # The report goes to the persistent folder, which the backend reads.
    os.makedirs(os.path.dirname(report_path(analysis_id)), exist_ok=True)
    with open(report_path(analysis_id), "w") as f:
        json.dump(result, f)
    return result


def run_analysis(analysis_id):
    """Counts the words of an analysis, stores the result and writes its report."""
    return asyncio.run(_analyze(analysis_id))


@celery.task(name="app.worker.analyze")
def analyze(analysis_id):
    return run_analysis(analysis_id)


@celery.task(name="app.worker.heartbeat")
def heartbeat():
    redis.Redis.from_url(settings.redis_url).set(BEAT_KEY, time.time())
