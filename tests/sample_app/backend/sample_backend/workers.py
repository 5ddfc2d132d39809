"""gunicorn worker classes for the sample backend: uvicorn's worker with its event loop
named, where uvicorn-worker's own class takes uvloop whenever it is installed.

Why the default is asyncio's loop (docs/performance.md, "The workers' event loop"): under
a CPU-bound load uvloop serves newly arrived requests before it resumes the requests
whose awaits have finished (MagicStack/uvloop#123), so some requests wait seconds while
the throughput is unchanged. Measured on this machine, one uvicorn process, 8 s wrk rounds
of GET /api/search at 100 connections: p99 0.19-1.22 s with uvloop, 0.16-0.19 s with
asyncio, at 842-860 req/s for both; at 200 connections p99 6.2 s against 0.33-0.37 s."""

from __future__ import annotations

from typing import Any

from uvicorn_worker import UvicornWorker


class AsyncioUvicornWorker(UvicornWorker):
    """uvicorn on the standard library's asyncio loop, with the httptools parser."""

    CONFIG_KWARGS: dict[str, Any] = {"loop": "asyncio", "http": "httptools"}


class UvloopUvicornWorker(UvicornWorker):
    """uvicorn on uvloop, with the httptools parser: what `-k uvicorn.workers.UvicornWorker`
    runs when uvloop is installed, named so UVICORN_LOOP=uvloop can choose it."""

    CONFIG_KWARGS: dict[str, Any] = {"loop": "uvloop", "http": "httptools"}


# UVICORN_LOOP's values (read by gunicorn.conf.py) and the worker class each selects.
WORKER_CLASSES: dict[str, str] = {
    "asyncio": f"{__name__}.AsyncioUvicornWorker",
    "uvloop": f"{__name__}.UvloopUvicornWorker",
}
