"""Alembic migrations, run with the app's async engine (DATABASE_URL)."""

import asyncio
from logging.config import fileConfig

from alembic import context

from app.db import make_engine
from app.models import Base

if context.config.config_file_name is not None:
    fileConfig(context.config.config_file_name)


def migrate(connection):
    context.configure(connection=connection, target_metadata=Base.metadata)
    with context.begin_transaction():
        context.run_migrations()


async def main():
    engine = make_engine()
    async with engine.connect() as conn:
        await conn.run_sync(migrate)
        await conn.commit()
    await engine.dispose()


asyncio.run(main())
