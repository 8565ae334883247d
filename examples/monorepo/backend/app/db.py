"""The async database engine, from DATABASE_URL (postgresql+asyncpg://)."""

from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from app.config import settings


def make_engine():
    return create_async_engine(settings.database_url, pool_pre_ping=True)


engine = make_engine()
Session = async_sessionmaker(engine, expire_on_commit=False)
