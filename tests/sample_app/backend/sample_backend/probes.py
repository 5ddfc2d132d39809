"""/healthz/deps: each shared service checked on its own, concurrently, in bounded time.

This is a report, not the load balancer's liveness check: a shared-service outage shows
here without making every instance look dead at once."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from .clients import Clients
from .settings import Settings

NOT_CONFIGURED = "not configured"


def scrub(message: str, settings: Settings) -> str:
    """Error text can echo a connection string; never let a password or token through."""
    secrets = [settings.chroma_token]
    if settings.database_url:
        from urllib.parse import unquote, urlsplit

        password = urlsplit(settings.database_url).password
        if password:
            secrets += [password, unquote(password)]
    for secret in secrets:
        if secret:
            message = message.replace(secret, "***")
    return message[:300]


async def _postgres(clients: Clients) -> str:
    conn = await clients.pg_connect_once()
    try:
        cur = await conn.execute("SELECT 1")
        row = await cur.fetchone()
        if not row or row[0] != 1:
            raise RuntimeError(f"SELECT 1 returned {row!r}")
    finally:
        await conn.close()
    return "SELECT 1"


async def _redis(clients: Clients) -> str:
    if not await clients.redis().ping():
        raise RuntimeError("PING did not return PONG")
    return "PING"


async def _chroma(clients: Clients) -> str:
    response = await clients.chroma().get("/api/v2/heartbeat")
    if response.status_code != 200:
        raise RuntimeError(f"heartbeat answered HTTP {response.status_code}")
    return "GET /api/v2/heartbeat"


async def _s3(clients: Clients) -> str:
    bucket = clients.settings.s3_bucket
    await clients.in_thread(clients.s3(probe=True).head_bucket, Bucket=bucket)
    return f"head_bucket {bucket}"


def configured_probes(settings: Settings) -> dict[str, Callable[[Clients], Awaitable[str]] | None]:
    return {
        "postgres": _postgres if settings.database_url else None,
        "redis": _redis if settings.redis_host else None,
        "chroma": _chroma if settings.chroma_host else None,
        "s3": _s3 if settings.s3_bucket else None,
    }


async def _timed(name: str, probe, clients: Clients) -> dict:
    settings = clients.settings
    if probe is None:
        return {"status": NOT_CONFIGURED}
    start = time.perf_counter()
    try:
        check = await asyncio.wait_for(probe(clients), timeout=settings.dependency_timeout)
        status: dict = {"status": "ok", "check": check}
    except asyncio.TimeoutError:
        status = {
            "status": "error",
            "error": f"no answer within {settings.dependency_timeout:g} s",
        }
    except Exception as exc:  # noqa: BLE001 - every failure is a report, not a crash
        status = {"status": "error", "error": scrub(f"{type(exc).__name__}: {exc}", settings)}
    status["latency_ms"] = round((time.perf_counter() - start) * 1000, 1)
    return status


async def check_dependencies(clients: Clients) -> tuple[bool, dict]:
    """Returns (all configured dependencies ok, report)."""
    probes = configured_probes(clients.settings)
    results = await asyncio.gather(
        *(_timed(name, probe, clients) for name, probe in probes.items())
    )
    report = dict(zip(probes, results, strict=True))
    healthy = all(r["status"] in ("ok", NOT_CONFIGURED) for r in report.values())
    return healthy, report
