"""The app: /health (liveness), /api/info, and /api/notes (SQLAlchemy on PostgreSQL)."""

from __future__ import annotations

import logging
import os
import socket
from contextlib import asynccontextmanager

from fastapi import FastAPI, HTTPException
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from app import db
from app.settings import load

settings = load()
logging.basicConfig(level=settings.log_level)
log = logging.getLogger("fastapi-app")


@asynccontextmanager
async def lifespan(app: FastAPI):
    # Made in each worker, after gunicorn forks: connections are never shared by processes.
    app.state.engine = db.make_engine(settings)
    yield
    if app.state.engine is not None:
        app.state.engine.dispose()


app = FastAPI(title="fastapi-app", lifespan=lifespan)


class NoteIn(BaseModel):
    text: str = Field(min_length=1, max_length=500)


def _engine():
    engine = app.state.engine
    if engine is None:
        raise HTTPException(status_code=503, detail="database not configured (DATABASE_URL)")
    return engine


@app.get("/health")
def health() -> dict:
    return {"status": "ok"}


@app.get("/api/info")
def info() -> dict:
    return {
        "app": "fastapi-app",
        "environment": settings.environment,
        "replica": os.environ.get("REPLICA_NAME") or socket.gethostname(),
        "pid": os.getpid(),
        "database": "configured" if settings.database_url else "not configured",
    }


@app.get("/api/notes")
def list_notes(limit: int = 20) -> dict:
    try:
        with Session(_engine()) as session:
            query = select(db.Note).order_by(db.Note.id.desc()).limit(max(1, min(limit, 100)))
            notes = session.scalars(query).all()
    except SQLAlchemyError as exc:
        log.warning("database error: %s", exc.__class__.__name__)
        raise HTTPException(status_code=503, detail="database unavailable") from None
    return {"notes": [{"id": n.id, "text": n.text, "created_at": n.created_at.isoformat()}
                      for n in notes]}


@app.post("/api/notes", status_code=201)
def add_note(note: NoteIn) -> dict:
    try:
        with Session(_engine()) as session, session.begin():
            row = db.Note(text=note.text)
            session.add(row)
            session.flush()
            created = {"id": row.id, "text": row.text}
    except SQLAlchemyError as exc:
        log.warning("database error: %s", exc.__class__.__name__)
        raise HTTPException(status_code=503, detail="database unavailable") from None
    return created
