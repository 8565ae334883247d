import hashlib
import hmac
import os

import textstats
from fastapi.testclient import TestClient

from app.config import settings
from app.main import app
from app.worker import run_analysis


def test_textstats_counts_words():
    assert textstats.summary("the cat and the hat and the bat") == {"words": 8, "top": ["the", "and", "cat"]}


def test_health_reports_the_migration():
    with TestClient(app) as client:
        report = client.get("/health").json()
    assert report == {"postgres": "ok", "migration": "0001", "redis": "ok", "status": "ok"}


def test_an_analysis_is_queued_then_done_by_the_worker():
    with TestClient(app) as client:
        created = client.post("/api/analyses", json={"text": "to be or not to be"})
        assert created.status_code == 201
        analysis = created.json()
        assert analysis["status"] == "queued"
        # What the worker runs for the queued task.
        run_analysis(analysis["id"])
        done = client.get(f"/api/analyses/{analysis['id']}").json()
    assert done["status"] == "done" and done["words"] == 6 and done["top"] == ["to", "be", "or"]
    assert done["report"] is True
    assert os.path.exists(os.path.join(settings.storage_path, "reports", f"{analysis['id']}.json"))


def test_the_token_is_signed_with_the_secret_key():
    with TestClient(app) as client:
        token = client.get("/api/token").json()["token"]
    assert token == hmac.new(settings.secret_key.encode(), b"monorepo", hashlib.sha256).hexdigest()
    assert settings.secret_key not in token
