"""/api/search: the retrieval-shaped request of a RAG backend.

With the shared services configured: Redis cache lookup, then a Chroma nearest-neighbour
query (client-side embeddings over REST), then a PostgreSQL read of the hits' rows, then
the answer is cached. Without them, the same steps run in-process (a small deterministic
CPU workload and a short sleep standing in for network I/O), so the load test always has a
realistic route. The seed data is written once per worker, idempotently."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time

from .clients import Clients
from .corpus import DOCUMENT_VECTORS, DOCUMENTS, DOCUMENTS_BY_ID, embed, rank_locally

TOP_K = 3
CHROMA_BASE = "/api/v2/tenants/default_tenant/databases/default_database"
_SEED_LOCK_KEY = 0x601DE  # pg_advisory_xact_lock key: one seeding transaction at a time


class DependencyFailed(RuntimeError):
    """A configured dependency failed during a request; the route answers 503 naming it."""

    def __init__(self, dependency: str, detail: str):
        super().__init__(f"{dependency}: {detail}")
        self.dependency = dependency
        self.detail = detail


class Retriever:
    def __init__(self, clients: Clients):
        self.clients = clients
        self.settings = clients.settings
        self._collection_id: str | None = None
        self._chroma_lock = asyncio.Lock()
        self._pg_seeded = False
        self._pg_lock = asyncio.Lock()

    async def search(self, query: str) -> dict:
        s = self.settings
        timings: dict[str, float] = {}
        cache_key = "golden-sample:search:" + hashlib.sha256(query.encode()).hexdigest()

        if s.redis_host:
            start = time.perf_counter()
            cached = await self._guard("redis", self.clients.redis().get(cache_key))
            timings["redis_ms"] = _ms(start)
            if cached is not None:
                answer = json.loads(cached)
                answer.update(cache="hit", timings=timings)
                return answer

        start = time.perf_counter()
        vector = embed(query)
        if s.chroma_host:
            hits = await self._guard("chroma", self._chroma_query(vector))
            timings["chroma_ms"] = _ms(start)
        else:
            hits = rank_locally(vector, TOP_K, s.search_cpu_rounds)
            if s.search_io_delay_ms:
                await asyncio.sleep(s.search_io_delay_ms / 1000)
            timings["local_rank_ms"] = _ms(start)

        start = time.perf_counter()
        if s.database_url:
            rows = await self._guard("postgres", self._pg_rows([doc_id for doc_id, _ in hits]))
            timings["postgres_ms"] = _ms(start)
        else:
            rows = {doc_id: DOCUMENTS_BY_ID[doc_id] for doc_id, _ in hits}

        answer = {
            "query": query,
            "results": [
                {
                    "id": doc_id,
                    "title": rows[doc_id]["title"] if doc_id in rows else None,
                    "distance": distance,
                }
                for doc_id, distance in hits
            ],
            "sources": {
                "cache": "redis" if s.redis_host else None,
                "vectors": "chroma" if s.chroma_host else "in-process",
                "rows": "postgres" if s.database_url else "in-process",
            },
        }
        if s.redis_host and s.search_cache_ttl:
            await self._guard(
                "redis",
                self.clients.redis().set(cache_key, json.dumps(answer), ex=s.search_cache_ttl),
            )
        answer.update(cache="miss" if s.redis_host else "off", timings=timings)
        return answer

    async def _guard(self, dependency: str, awaitable):
        try:
            return await asyncio.wait_for(awaitable, timeout=self.settings.dependency_timeout * 2)
        except asyncio.TimeoutError:
            raise DependencyFailed(dependency, "timed out") from None
        except DependencyFailed:
            raise
        except Exception as exc:  # noqa: BLE001 - reported to the caller as 503
            raise DependencyFailed(dependency, f"{type(exc).__name__}: {exc}") from None

    # -- Chroma ----------------------------------------------------------------------------
    async def _collection(self) -> str:
        async with self._chroma_lock:
            if self._collection_id is None:
                chroma = self.clients.chroma()
                created = await chroma.post(
                    f"{CHROMA_BASE}/collections",
                    json={
                        "name": self.settings.chroma_collection,
                        "get_or_create": True,
                        "metadata": {"hnsw:space": "cosine"},
                    },
                )
                _raise_for_status(created, "get_or_create collection")
                collection_id = created.json()["id"]
                # Upsert is idempotent: every worker may seed, the result is the same.
                upserted = await chroma.post(
                    f"{CHROMA_BASE}/collections/{collection_id}/upsert",
                    json={
                        "ids": [d["id"] for d in DOCUMENTS],
                        "embeddings": DOCUMENT_VECTORS,
                        "documents": [d["body"] for d in DOCUMENTS],
                        "metadatas": [{"title": d["title"]} for d in DOCUMENTS],
                    },
                )
                _raise_for_status(upserted, "upsert seed documents")
                self._collection_id = collection_id
            return self._collection_id

    async def _chroma_query(self, vector: list[float]) -> list[tuple[str, float]]:
        collection_id = await self._collection()
        response = await self.clients.chroma().post(
            f"{CHROMA_BASE}/collections/{collection_id}/query",
            json={"query_embeddings": [vector], "n_results": TOP_K, "include": ["distances"]},
        )
        if response.status_code == 404:
            # The collection was dropped behind our back: seed again next time.
            self._collection_id = None
        _raise_for_status(response, "query")
        body = response.json()
        return [
            (doc_id, round(float(distance), 6))
            for doc_id, distance in zip(body["ids"][0], body["distances"][0], strict=True)
        ]

    # -- PostgreSQL ------------------------------------------------------------------------
    async def _seed_postgres(self, pool) -> None:
        async with self._pg_lock:
            if self._pg_seeded:
                return
            async with pool.connection() as conn, conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SEED_LOCK_KEY,))
                await conn.execute(
                    "CREATE TABLE IF NOT EXISTS golden_sample_documents ("
                    " id text PRIMARY KEY, title text NOT NULL, body text NOT NULL)"
                )
                async with conn.cursor() as cur:
                    await cur.executemany(
                        "INSERT INTO golden_sample_documents (id, title, body)"
                        " VALUES (%s, %s, %s) ON CONFLICT (id) DO NOTHING",
                        [(d["id"], d["title"], d["body"]) for d in DOCUMENTS],
                    )
            self._pg_seeded = True

    async def _pg_rows(self, ids: list[str]) -> dict[str, dict[str, str]]:
        pool = await self.clients.pg_pool()
        await self._seed_postgres(pool)
        async with pool.connection() as conn:
            cur = await conn.execute(
                "SELECT id, title FROM golden_sample_documents WHERE id = ANY(%s)", (ids,)
            )
            return {row[0]: {"title": row[1]} for row in await cur.fetchall()}


def _raise_for_status(response, what: str) -> None:
    if response.status_code >= 400:
        raise RuntimeError(f"{what} answered HTTP {response.status_code}: {response.text[:200]}")


def _ms(start: float) -> float:
    return round((time.perf_counter() - start) * 1000, 2)
