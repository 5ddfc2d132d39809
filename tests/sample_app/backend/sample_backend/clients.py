"""Connections to the shared services, one set per worker process, made lazily.

Each client carries the short dependency timeout, so a dead service answers with an error
in bounded time instead of holding a request (and a worker slot) open."""

from __future__ import annotations

import asyncio
import functools
from typing import Any

import httpx

from .settings import Settings


class Clients:
    def __init__(self, settings: Settings):
        self.settings = settings
        self._redis = None
        self._pg_pool = None
        self._pg_pool_lock = asyncio.Lock()
        self._chroma: httpx.AsyncClient | None = None
        self._s3: dict[str, Any] = {}

    # -- Redis -----------------------------------------------------------------------------
    def redis(self):
        if self._redis is None:
            import redis.asyncio as aioredis
            from redis.asyncio.retry import Retry
            from redis.backoff import NoBackoff

            s = self.settings
            self._redis = aioredis.Redis(
                host=s.redis_host,
                port=s.redis_port,
                db=s.redis_db,
                password=s.redis_password,
                ssl=s.redis_tls,
                socket_connect_timeout=s.dependency_timeout,
                socket_timeout=s.dependency_timeout,
                # One immediate retry covers a pooled connection that went stale (Redis
                # restarted); the default backoff retries would outlast the timeout.
                retry=Retry(NoBackoff(), 1),
                max_connections=64,
            )
        return self._redis

    # -- PostgreSQL ------------------------------------------------------------------------
    async def pg_pool(self):
        """Pool sized like the seed's SQLAlchemy settings: up to pool size + overflow
        connections per worker, opened on first use so start-up never waits on the database."""
        async with self._pg_pool_lock:
            if self._pg_pool is None:
                from psycopg_pool import AsyncConnectionPool

                s = self.settings
                pool = AsyncConnectionPool(
                    s.database_url,
                    min_size=0,
                    max_size=s.db_pool_size + s.db_max_overflow,
                    kwargs={"connect_timeout": max(2, int(s.dependency_timeout + 0.999))},
                    timeout=s.dependency_timeout,
                    max_idle=60.0,
                    open=False,
                )
                await pool.open(wait=False)
                self._pg_pool = pool
            return self._pg_pool

    async def pg_connect_once(self):
        """A fresh connection (not from the pool): what a health probe must prove."""
        import psycopg

        s = self.settings
        return await psycopg.AsyncConnection.connect(
            s.database_url, connect_timeout=max(2, int(s.dependency_timeout + 0.999))
        )

    # -- Chroma ----------------------------------------------------------------------------
    def chroma(self) -> httpx.AsyncClient:
        if self._chroma is None:
            s = self.settings
            scheme = "https" if s.chroma_ssl else "http"
            headers = {"Authorization": f"Bearer {s.chroma_token}"} if s.chroma_token else {}
            self._chroma = httpx.AsyncClient(
                base_url=f"{scheme}://{s.chroma_host}:{s.chroma_port}",
                headers=headers,
                timeout=httpx.Timeout(s.dependency_timeout),
                limits=httpx.Limits(max_connections=64, max_keepalive_connections=16),
                trust_env=False,
            )
        return self._chroma

    # -- S3 --------------------------------------------------------------------------------
    def s3(self, *, probe: bool = False):
        """A probe client makes one attempt with short timeouts; the data client retries
        and waits longer, since a multipart upload part may take a while."""
        key = "probe" if probe else "data"
        if key not in self._s3:
            import boto3
            from botocore.config import Config

            s = self.settings
            timeout = s.dependency_timeout
            self._s3[key] = boto3.session.Session().client(
                "s3",
                region_name=s.s3_region,
                endpoint_url=s.s3_endpoint,
                config=Config(
                    connect_timeout=timeout,
                    read_timeout=timeout if probe else max(timeout, 30.0),
                    retries={"total_max_attempts": 1 if probe else 3, "mode": "standard"},
                    max_pool_connections=16,
                ),
            )
        return self._s3[key]

    async def warm(self) -> None:
        """Import the drivers and build the clients of the configured services at start-up
        (no connection is made), so a worker's first request does not pay for it."""
        s = self.settings
        if s.redis_host:
            self.redis()
        if s.chroma_host:
            self.chroma()
        if s.database_url:
            await self.pg_pool()
        if s.s3_bucket:
            self.s3()
            self.s3(probe=True)

    async def in_thread(self, fn, *args: Any, **kwargs: Any):
        # boto3 is synchronous: keep it off the event loop.
        return await asyncio.get_running_loop().run_in_executor(
            None, functools.partial(fn, *args, **kwargs)
        )

    async def aclose(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()
        if self._pg_pool is not None:
            await self._pg_pool.close()
        if self._chroma is not None:
            await self._chroma.aclose()
