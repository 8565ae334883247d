"""API tests against the real Postgres and Redis of DATABASE_URL and REDIS_URL."""

import uuid

import pytest
from fastapi.testclient import TestClient

from app.db import cache
from app.main import LIST_KEY, app


@pytest.fixture(scope="module")
def client():
    with TestClient(app) as c:
        yield c


def test_health_reports_both_services_ok(client):
    res = client.get("/health")
    assert res.status_code == 200, res.text
    assert res.json() == {"postgres": "ok", "redis": "ok", "status": "ok"}


def test_created_note_is_stored_and_listed(client):
    title = f"note-{uuid.uuid4()}"
    res = client.post("/api/notes", json={"title": title, "body": "from pytest"})
    assert res.status_code == 201, res.text
    created = res.json()
    assert created["title"] == title

    listed = client.get("/api/notes").json()
    assert listed["source"] == "database"  # creating a note drops the cached list
    assert title in [n["title"] for n in listed["notes"]]

    again = client.get("/api/notes").json()
    assert again["source"] == "cache"
    assert again["notes"] == listed["notes"]


def test_note_is_cached_in_redis(client):
    created = client.post("/api/notes", json={"title": "cached"}).json()
    assert client.get(f"/api/notes/{created['id']}").json() == created
    assert cache().get(f"notes:{created['id']}") is not None
    assert cache().exists(LIST_KEY) == 0


def test_missing_note_is_404(client):
    assert client.get("/api/notes/999999999").status_code == 404


def test_empty_title_is_rejected(client):
    assert client.post("/api/notes", json={"title": ""}).status_code == 422
