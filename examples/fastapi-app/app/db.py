"""The database: one SQLAlchemy engine per worker process, and the tables Alembic creates."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, String, create_engine, func
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from app.settings import Settings


class Base(DeclarativeBase):
    pass


class Note(Base):
    """Created by migrations/versions/0001_create_notes.py; the models never create tables."""

    __tablename__ = "notes"

    id: Mapped[int] = mapped_column(primary_key=True)
    text: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


def make_engine(settings: Settings) -> Engine | None:
    """None when DATABASE_URL is not set: the app still starts and answers /health."""
    if not settings.database_url:
        return None
    return create_engine(
        settings.database_url,
        pool_size=settings.pool_size,
        max_overflow=settings.max_overflow,
        pool_pre_ping=True,
        # A request never waits long for a connection: better a 503 than a queue.
        pool_timeout=5,
        connect_args={"connect_timeout": 5},
    )
