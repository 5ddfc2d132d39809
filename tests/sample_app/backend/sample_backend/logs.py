"""JSON-lines logging. The access log is written by the app (not by gunicorn or uvicorn) so
every line carries the request's latency and is valid JSON whatever the path holds."""

from __future__ import annotations

import json
import logging
import logging.config
import os
import time
from datetime import datetime, timezone

ACCESS_LOGGER = "sample.access"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = getattr(record, "access", None)
        if entry is None:
            entry = {
                "level": record.levelname.lower(),
                "logger": record.name,
                "message": record.getMessage(),
            }
            if record.exc_info:
                entry["exc"] = self.formatException(record.exc_info)
        ts = datetime.fromtimestamp(record.created, tz=timezone.utc)
        return json.dumps({"ts": ts.isoformat(timespec="milliseconds"), **entry})


def logging_config(level: str) -> dict:
    """dictConfig for gunicorn (logconfig_dict) and for a bare uvicorn run alike."""
    level = level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter}},
        "handlers": {
            "stdout": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "stream": "ext://sys.stdout",
            },
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "stream": "ext://sys.stderr",
            },
        },
        "loggers": {
            ACCESS_LOGGER: {"handlers": ["stdout"], "level": level, "propagate": False},
            "gunicorn.error": {"handlers": ["stderr"], "level": level, "propagate": False},
            # The app writes the access log; these would duplicate it in plain text.
            "gunicorn.access": {"handlers": [], "level": "CRITICAL", "propagate": False},
            "uvicorn.access": {"handlers": [], "level": "CRITICAL", "propagate": False},
            "uvicorn.error": {"handlers": ["stderr"], "level": level, "propagate": False},
        },
        "root": {"handlers": ["stderr"], "level": "WARNING"},
    }


def ensure_logging(level: str) -> None:
    """Set up JSON logging unless a server (gunicorn's logconfig_dict) already did."""
    if not logging.getLogger(ACCESS_LOGGER).handlers:
        logging.config.dictConfig(logging_config(level))


class AccessLog:
    """Pure ASGI middleware (no body buffering, so streaming and uploads stay streamed)."""

    def __init__(self, app, replica: str):
        self.app = app
        self.replica = replica
        self.logger = logging.getLogger(ACCESS_LOGGER)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or not self.logger.isEnabledFor(logging.INFO):
            return await self.app(scope, receive, send)
        start = time.perf_counter()
        status = 500
        sent = 0

        async def send_and_count(message):
            nonlocal status, sent
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                sent += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, send_and_count)
        finally:
            headers = dict(scope.get("headers") or [])
            client = scope.get("client")
            self.logger.info(
                "access",
                extra={
                    "access": {
                        "method": scope.get("method"),
                        "path": scope.get("path"),
                        "status": status,
                        "duration_ms": round((time.perf_counter() - start) * 1000, 2),
                        "bytes_sent": sent,
                        "client": client[0] if client else None,
                        "forwarded_for": _header(headers, b"x-forwarded-for"),
                        "request_id": _header(headers, b"x-request-id"),
                        "user_agent": _header(headers, b"user-agent"),
                        "replica": self.replica,
                        "pid": os.getpid(),
                    }
                },
            )


def _header(headers: dict, name: bytes) -> str | None:
    value = headers.get(name)
    return value.decode("latin-1")[:256] if value is not None else None
