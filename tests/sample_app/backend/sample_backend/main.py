"""The sample backend: a stand-in for the AGENT FastAPI app with the same shape of routes.

Servers load ``sample_backend.asgi:app``; tests call ``create_app(env)``."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import socket
from collections.abc import Mapping
from contextlib import asynccontextmanager

from fastapi import FastAPI, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse

from .clients import Clients
from .logs import AccessLog, ensure_logging
from .probes import check_dependencies, scrub
from .retrieval import DependencyFailed, Retriever
from .settings import Settings, load_settings
from .uploads import UploadTooLarge, receive_upload

# A release rehearsal bakes bad images on purpose (golden.rehearsal.plan): with
# APP_SIMULATE_FAULT=unhealthy every replica fails its /health check (the release's health
# gate must catch it); with "errors" /api/search answers 500 to every third request while
# /health stays fine (only an alarm on the 5xx rate catches it). Any other value: no fault.
# Like a release that depends on a setting the bake never gives it, the fault shows only
# with an instance's settings: while the image is baked (ENVIRONMENT=build, written by
# golden-boot) the app is healthy, so the bad image passes its tests and is published.
FAULT_SETTING = "APP_SIMULATE_FAULT"
BUILD_ENVIRONMENT = "build"


def simulated_fault(settings: Settings) -> str | None:
    """The fault this replica simulates ("unhealthy", "errors") or None; always None in a
    bake."""
    if settings.environment == BUILD_ENVIRONMENT:
        return None
    return settings.app_settings.get(FAULT_SETTING) or None


def create_app(env: Mapping[str, str] | None = None) -> FastAPI:
    settings = load_settings(env)
    ensure_logging(settings.log_level)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        # Made here, inside each worker, so no connection is shared across a fork.
        clients = Clients(settings)
        await clients.warm()
        app.state.clients = clients
        app.state.retriever = Retriever(clients)
        try:
            yield
        finally:
            await clients.aclose()

    app = FastAPI(
        title="golden sample backend",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.settings = settings
    _routes(app, settings)
    if settings.access_log:
        app.add_middleware(AccessLog, replica=settings.replica)
    return app


def _routes(app: FastAPI, settings: Settings) -> None:
    """Register every route, by area, in the order they have always been matched."""
    _replica_routes(app, settings)
    _search_routes(app, settings)
    _upload_routes(app, settings)
    _chat_routes(app, settings)
    _dependency_routes(app, settings)


def _replica_routes(app: FastAPI, settings: Settings) -> None:
    """What this replica is: liveness, identity and its public settings."""

    @app.get("/health")
    async def health():
        """Liveness of this replica only: no dependency is consulted."""
        if simulated_fault(settings) == "unhealthy":
            return JSONResponse({"status": "failing", "replica": settings.replica}, 503)
        return {"status": "ok", "replica": settings.replica}

    @app.get("/api/whoami")
    async def whoami():
        return {"replica": settings.replica, "hostname": socket.gethostname(), "pid": os.getpid()}

    @app.get("/api/config")
    async def config():
        return settings.public_view()


def _search_routes(app: FastAPI, settings: Settings) -> None:
    """The retrieval request (see retrieval.py); a failing dependency answers 503."""

    served = itertools.count(1)

    @app.get("/api/search")
    async def search(request: Request, q: str = Query(..., min_length=1, max_length=500)):
        if simulated_fault(settings) == "errors" and next(served) % 3 == 0:
            return JSONResponse({"error": "simulated fault", "replica": settings.replica}, 500)
        try:
            answer = await request.app.state.retriever.search(q)
        except DependencyFailed as exc:
            return _dependency_failed(exc, settings)
        answer["replica"] = settings.replica
        return answer


def _upload_routes(app: FastAPI, settings: Settings) -> None:
    """Streamed uploads (see uploads.py): 413 over UPLOAD_MAX_BYTES, 503 when S3 fails."""

    @app.post("/api/upload")
    async def upload(request: Request, name: str | None = Query(None, max_length=200)):
        """The raw request body is the file (any content type); it is never held whole."""
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > settings.upload_max_bytes:
            return _too_large(settings)
        try:
            result = await receive_upload(request.stream(), request.app.state.clients, name)
        except UploadTooLarge:
            return _too_large(settings)
        except DependencyFailed as exc:
            return _dependency_failed(exc, settings)
        result["replica"] = settings.replica
        return result


def _chat_routes(app: FastAPI, settings: Settings) -> None:
    """A server-sent event stream shaped like a chat answer; no dependency is consulted."""

    @app.get("/api/chat/stream")
    async def chat_stream(
        q: str = Query("hello", max_length=500),
        chunks: int = Query(5, ge=1, le=50),
        delay_ms: int = Query(100, ge=0, le=2000),
    ):
        words = (
            f"Answer to '{q[:40]}' from {settings.replica}: " + "lorem ipsum " * chunks
        ).split()
        per_chunk = max(1, len(words) // chunks)

        async def events():
            for i in range(chunks):
                end = None if i == chunks - 1 else (i + 1) * per_chunk
                text = " ".join(words[i * per_chunk : end])
                yield f"id: {i}\nevent: token\ndata: {json.dumps({'index': i, 'text': text})}\n\n"
                if delay_ms:
                    await asyncio.sleep(delay_ms / 1000)
            done = {"chunks": chunks, "replica": settings.replica}
            yield f"event: done\ndata: {json.dumps(done)}\n\n"

        return StreamingResponse(
            events(),
            media_type="text/event-stream",
            # X-Accel-Buffering: nginx passes each event on at once even if buffering is on.
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )


def _dependency_routes(app: FastAPI, settings: Settings) -> None:
    """Readiness of the shared services: 200 when all answer, 503 (degraded) otherwise."""

    @app.get("/healthz/deps")
    async def deps(request: Request):
        healthy, report = await check_dependencies(request.app.state.clients)
        return JSONResponse(
            status_code=200 if healthy else 503,
            content={
                "status": "ok" if healthy else "degraded",
                "replica": settings.replica,
                "dependencies": report,
            },
        )


def _dependency_failed(exc: DependencyFailed, settings: Settings) -> JSONResponse:
    return JSONResponse(
        status_code=503,
        content={
            "error": "dependency failed",
            "dependency": exc.dependency,
            "detail": scrub(exc.detail, settings),
        },
    )


def _too_large(settings: Settings) -> JSONResponse:
    return JSONResponse(
        status_code=413,
        content={"error": f"upload larger than UPLOAD_MAX_BYTES={settings.upload_max_bytes}"},
    )
