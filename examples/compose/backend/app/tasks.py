"""The Celery app; its broker and result backend come from the variables
Celery's own docs name, with the host's defaults.

    celery -A app.tasks worker --pool=solo --loglevel=INFO
"""

import os

from celery import Celery

celery = Celery(
    "compose-example",
    broker=os.environ.get("CELERY_BROKER_URL", "redis://localhost:6379/1"),
    backend=os.environ.get("CELERY_RESULT_BACKEND", "redis://localhost:6379/2"),
)
celery.conf.broker_connection_retry_on_startup = True


@celery.task
def add(a, b):
    return a + b
