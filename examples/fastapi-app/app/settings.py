"""Settings from the environment, with the names golden gives (docs/app-contract.md)."""

from __future__ import annotations

import os
from dataclasses import dataclass


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise SystemExit(f"{name} must be an integer, got {raw!r}") from None


def sqlalchemy_url(url: str) -> str:
    """DATABASE_URL as libpq writes it (postgresql://...?sslmode=...&sslrootcert=...) with
    SQLAlchemy's psycopg 3 driver named; its query (sslmode, sslrootcert) goes to libpq.
    A URL that already names a driver (postgresql+psycopg://) is kept."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


@dataclass(frozen=True)
class Settings:
    database_url: str | None
    pool_size: int
    max_overflow: int
    environment: str
    log_level: str


def load() -> Settings:
    raw = os.environ.get("DATABASE_URL", "").strip()
    return Settings(
        database_url=sqlalchemy_url(raw) if raw else None,
        pool_size=_int("DB_POOL_SIZE", 5),
        max_overflow=_int("DB_MAX_OVERFLOW", 10),
        environment=os.environ.get("ENVIRONMENT", "development"),
        log_level=os.environ.get("LOG_LEVEL", "INFO").upper(),
    )
