"""The seeded document set and a deterministic hash embedding.

The embedding stands in for a model: the same text always gives the same unit vector, so
seeding and querying agree across replicas and restarts and nothing is downloaded."""

from __future__ import annotations

import hashlib
import math
import re

DIMENSIONS = 64

_TOPICS = [
    (
        "autoscaling",
        "Auto Scaling groups replace unhealthy instances and roll new launch templates",
    ),
    ("golden-image", "A golden image is baked once, tested inside the bake and promoted unchanged"),
    ("salt", "Salt states describe packages, files and services; a second run changes nothing"),
    ("nginx", "nginx proxies the API to backend replicas with keepalive and least connections"),
    ("gunicorn", "gunicorn supervises uvicorn workers, one per core plus one"),
    ("chroma", "Chroma stores embeddings and answers nearest-neighbour queries over HTTP"),
    ("postgres", "PostgreSQL keeps the documents' metadata; connections use TLS"),
    ("redis", "Redis caches answers to repeated questions for a minute"),
    ("s3", "Uploads stream to S3 in parts so memory stays bounded"),
    ("ssm", "Secrets come from SSM Parameter Store at boot and never live in the image"),
    ("cloudwatch", "The CloudWatch agent ships logs and memory and disk metrics"),
    ("release", "A release rolls instances in batches and rolls back on failed health checks"),
    ("hotfix", "A hotfix applies the highstate to running instances and reports drift"),
    ("health", "The load balancer checks liveness; dependencies are reported separately"),
    ("upload", "Large files are hashed while they stream, never held in memory whole"),
    ("streaming", "Chat answers arrive as server-sent events, chunk by chunk"),
]


def _documents() -> list[dict[str, str]]:
    docs = []
    for i in range(64):
        topic, text = _TOPICS[i % len(_TOPICS)]
        part = i // len(_TOPICS) + 1
        docs.append(
            {
                "id": f"doc-{i:02d}",
                "title": f"{topic} notes, part {part}",
                "body": f"{text}. Part {part} of the {topic} notes.",
            }
        )
    return docs


DOCUMENTS: list[dict[str, str]] = _documents()

_TOKEN = re.compile(r"[a-z0-9]+")


def embed(text: str) -> list[float]:
    """Signed feature hashing of word unigrams and bigrams, L2-normalised."""
    vec = [0.0] * DIMENSIONS
    words = _TOKEN.findall(text.lower())
    features = words + [f"{a} {b}" for a, b in zip(words, words[1:], strict=False)]
    for feature in features:
        digest = hashlib.blake2b(feature.encode(), digest_size=8).digest()
        index = int.from_bytes(digest[:4], "little") % DIMENSIONS
        vec[index] += 1.0 if digest[4] & 1 else -1.0
    norm = math.sqrt(sum(v * v for v in vec))
    if norm == 0.0:
        return vec
    return [v / norm for v in vec]


DOCUMENT_VECTORS: list[list[float]] = [embed(d["title"] + " " + d["body"]) for d in DOCUMENTS]
DOCUMENTS_BY_ID: dict[str, dict[str, str]] = {d["id"]: d for d in DOCUMENTS}


def rank_locally(query_vector: list[float], top_k: int, rounds: int) -> list[tuple[str, float]]:
    """In-process nearest neighbours, repeated ``rounds`` times: the CPU part of a request
    when no vector database is configured (the load test still gets realistic work)."""
    scored: list[tuple[float, str]] = []
    for _ in range(max(1, rounds)):
        scored = sorted(
            (
                (sum(q * d for q, d in zip(query_vector, vector, strict=True)), doc["id"])
                for doc, vector in zip(DOCUMENTS, DOCUMENT_VECTORS, strict=True)
            ),
            reverse=True,
        )
    return [(doc_id, round(1.0 - score, 6)) for score, doc_id in scored[:top_k]]
