"""A small status page of the Celery workers, as flower's: which workers
answer a ping through the broker.

    uvicorn app.status:app --host 0.0.0.0 --port 5555
"""

from fastapi import FastAPI

from app.tasks import celery

app = FastAPI(title="workers")


@app.get("/workers")
def workers():
    replies = celery.control.ping(timeout=2.0) or []
    return {"workers": sorted(name for reply in replies for name in reply)}
