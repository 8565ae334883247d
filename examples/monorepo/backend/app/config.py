"""Settings from the environment, as the module gives them (see its README)."""

from pydantic_settings import BaseSettings


class Settings(BaseSettings):
    # postgresql+asyncpg://... (with-backend --database-scheme=postgresql+asyncpg)
    database_url: str
    redis_url: str
    # From a secret env file (with-secret-env-file): required, never logged.
    secret_key: str
    # A persistent folder shared by the backend and the worker (with-volume).
    storage_path: str = "/app/storage"
    environment: str = "development"


settings = Settings()
