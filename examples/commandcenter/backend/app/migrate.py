"""Creates the tables the app needs; safe to run again. `python -m app.migrate`"""

from app.db import database

SCHEMA = """
CREATE TABLE IF NOT EXISTS notes (
    id         BIGSERIAL PRIMARY KEY,
    title      TEXT NOT NULL,
    body       TEXT NOT NULL DEFAULT '',
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
)
"""


def migrate():
    database().run(SCHEMA)


if __name__ == "__main__":
    migrate()
    print("migrations applied")
