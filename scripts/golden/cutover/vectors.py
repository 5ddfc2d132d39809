"""Chroma persistent directory to the Chroma host (adapter over chromadb).

The source is read with chromadb's PersistentClient (the ``chromadb`` package: the
client-only ``chromadb-client`` cannot open a directory); the target is an HttpClient,
with ``Authorization: Bearer <chroma_token>`` when the environment has that secret (golden's
authenticating proxy on the Chroma host; the 1.x server itself ignores tokens). Every
collection is copied in batches with its ids, embeddings, metadata and documents;
a batch already equal on the target is skipped, so an interrupted run resumes, and ids the
source no longer has are deleted (the final delta run). Telemetry is off on both clients.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from golden.core.errors import ConfigError, OperationFailed, PreflightError

BATCH = 500
SAMPLE_QUERIES = 20
# HNSW search is approximate and two indexes built from the same vectors differ a little:
# on 3,000 random 128-dimensional vectors each side missed about 1 in 100 of the exact
# 5 nearest (400 queries, measured here), so exact equality of result lists fails by
# chance. A sample query agrees when the nearest hit is the same id (or an equally near
# one) and at least MIN_OVERLAP of the NEIGHBOURS ids are on both lists; a wrong metric,
# changed or missing vectors move far more than that.
NEIGHBOURS = 10
MIN_OVERLAP = 0.8
TIE = 1e-5
FLOAT32_RTOL = 2.4e-7  # two units in the last place of a float32 (2 * 2**-23)
FLOAT32_ATOL = 1e-9
INCLUDE = ["embeddings", "metadatas", "documents"]


# Collection metadata the cutover adds on the target: a later run (the final delta run)
# may replace and delete vectors there; in any other non-empty collection it refuses.
MARK = "golden_cutover"


@dataclass(frozen=True)
class CollectionInfo:
    name: str
    count: int
    dimension: int | None
    space: str | None
    metadata: dict | None


def _chromadb():
    try:
        import chromadb
    except ImportError:
        raise ConfigError("chromadb is not installed: pip install 'golden[cutover]' (the full "
                          "chromadb package reads a persistent directory)") from None
    return chromadb


def source_client(path: Path):
    """The PersistentClient over ``path``. Raises PreflightError when it is not a Chroma
    directory (chromadb would create an empty one: the check comes first)."""
    if not (path / "chroma.sqlite3").is_file():
        raise PreflightError(f"Chroma directory {path}: no chroma.sqlite3 in it (expected the "
                             "single server's persistent directory; --chroma names another)")
    chromadb = _chromadb()
    from chromadb.config import Settings

    return chromadb.PersistentClient(path=str(path),
                                     settings=Settings(anonymized_telemetry=False,
                                                       allow_reset=False))


def target_client(host: str, port: int, token: str | None):
    chromadb = _chromadb()
    from chromadb.config import Settings

    headers = {"Authorization": f"Bearer {token}"} if token else None
    try:
        return chromadb.HttpClient(host=host, port=port, headers=headers,
                                   settings=Settings(anonymized_telemetry=False))
    except Exception as exc:  # noqa: BLE001 - chromadb raises plain exceptions
        raise PreflightError(f"Chroma host {host}:{port}: {_text(exc, token)}") from None


def _text(exc: BaseException, token: str | None) -> str:
    text = f"{type(exc).__name__}: {exc}"
    return text.replace(token, "***") if token else text


def _space(collection) -> str | None:
    config = getattr(collection, "configuration_json", None) or {}
    for section in ("hnsw", "spann"):
        if isinstance(config.get(section), dict) and config[section].get("space"):
            return config[section]["space"]
    return (collection.metadata or {}).get("hnsw:space")


def _dimension(collection) -> int | None:
    dim = getattr(collection, "dimension", None)
    if dim:
        return int(dim)
    first = collection.get(limit=1, include=["embeddings"])
    embeddings = first.get("embeddings")
    return len(embeddings[0]) if embeddings is not None and len(embeddings) else None


def describe(client) -> list[CollectionInfo]:
    out = []
    for col in sorted(client.list_collections(), key=lambda c: c.name):
        out.append(CollectionInfo(col.name, col.count(), _dimension(col), _space(col),
                                  dict(col.metadata) if col.metadata else None))
    return out


def conflicts(source: list[CollectionInfo], target: list[CollectionInfo]) -> list[str]:
    """Pure: target collections of the same name that cannot take the source's vectors."""
    have = {c.name: c for c in target}
    found = []
    for col in source:
        other = have.get(col.name)
        if other is None:
            continue
        if other.count and MARK not in (other.metadata or {}):
            found.append(f"Chroma collection {col.name}: the target already holds "
                         f"{other.count} vector(s) the cutover did not write")
        if other.dimension and col.dimension and other.dimension != col.dimension:
            found.append(f"Chroma collection {col.name}: the target holds {other.dimension}-"
                         f"dimensional embeddings, the source {col.dimension}-dimensional")
        elif other.space and col.space and other.space != col.space:
            found.append(f"Chroma collection {col.name}: the target measures distance by "
                         f"{other.space}, the source by {col.space}")
    return found


def _same(src: dict, dst: dict, i: int, j: int) -> bool:
    import numpy as np

    # Chroma keeps embeddings as float32, and the two sides round the float64 a client
    # sent to float32 each in its own way (seen: 1 unit in the last place): compared to
    # float32's precision.
    if not np.allclose(np.asarray(src["embeddings"][i], dtype=np.float64),
                       np.asarray(dst["embeddings"][j], dtype=np.float64),
                       rtol=FLOAT32_RTOL, atol=FLOAT32_ATOL):
        return False
    return (src["documents"][i] == dst["documents"][j]
            and (src["metadatas"][i] or None) == (dst["metadatas"][j] or None))


def copy_collection(src_client, dst_client, info: CollectionInfo, *,
                    on_vectors: Callable[[int], None], batch: int = BATCH,
                    target_name: str | None = None) -> dict:
    """Copy one collection (into ``target_name``, default the same name); returns
    {"copied", "skipped", "deleted"} counts."""
    src = src_client.get_collection(info.name)
    kwargs = {"metadata": {**(info.metadata or {}), MARK: "copied"},
              "embedding_function": None}
    if info.space:
        kwargs["configuration"] = {"hnsw": {"space": info.space}}
    dst = dst_client.get_or_create_collection(target_name or info.name, **kwargs)
    copied = skipped = 0
    seen: set[str] = set()
    for offset in range(0, info.count, batch):
        got = src.get(limit=batch, offset=offset, include=INCLUDE)
        ids = got["ids"]
        seen.update(ids)
        have = dst.get(ids=ids, include=INCLUDE)
        index = {id_: j for j, id_ in enumerate(have["ids"])}
        changed = [i for i, id_ in enumerate(ids)
                   if id_ not in index or not _same(got, have, i, index[id_])]
        if changed:
            dst.upsert(ids=[ids[i] for i in changed],
                       embeddings=[got["embeddings"][i] for i in changed],
                       metadatas=[got["metadatas"][i] for i in changed]
                       if got["metadatas"] is not None else None,
                       documents=[got["documents"][i] for i in changed]
                       if got["documents"] is not None else None)
        copied += len(changed)
        skipped += len(ids) - len(changed)
        on_vectors(len(ids))
    extra = [i for i in _all_ids(dst) if i not in seen]
    for start in range(0, len(extra), batch):
        dst.delete(ids=extra[start:start + batch])
    return {"copied": copied, "skipped": skipped, "deleted": len(extra)}


def _all_ids(collection, batch: int = 5000) -> list[str]:
    ids: list[str] = []
    total = collection.count()
    for offset in range(0, total, batch):
        ids.extend(collection.get(limit=batch, offset=offset, include=[])["ids"])
    return ids


def verify_collection(src_client, dst_client, info: CollectionInfo) -> dict:
    """Counts, the id sets, and SAMPLE_QUERIES nearest-neighbour queries (source
    embeddings spread over the collection) returning the same ids on both sides."""
    src = src_client.get_collection(info.name)
    try:
        dst = dst_client.get_collection(info.name)
    except Exception:  # noqa: BLE001 - chromadb: NotFoundError or a plain ValueError
        return {"collection": info.name, "ok": False, "problems": ["missing on the target"]}
    problems = []
    dst_count = dst.count()
    if dst_count != info.count:
        problems.append(f"{dst_count} vectors on the target, {info.count} in the source")
    src_ids, dst_ids = set(_all_ids(src)), set(_all_ids(dst))
    if src_ids != dst_ids:
        problems.append(f"{len(src_ids - dst_ids)} id(s) missing, "
                        f"{len(dst_ids - src_ids)} extra on the target")
    differing = _content_differences(src, dst, info.count)
    if differing:
        problems.append(f"{differing} vector(s) differ in embedding, document or metadata")
    queries = _sample_queries(src, info.count)
    agree = 0
    if queries:
        n = min(NEIGHBOURS, info.count)
        a = src.query(query_embeddings=queries, n_results=n, include=["distances"])
        b = dst.query(query_embeddings=queries, n_results=n, include=["distances"])
        agree = sum(1 for i in range(len(queries)) if neighbours_agree(
            a["ids"][i], a["distances"][i], b["ids"][i], b["distances"][i]))
        if agree != len(queries):
            problems.append(f"{len(queries) - agree} of {len(queries)} nearest-neighbour "
                            "queries return other ids")
    return {"collection": info.name, "vectors": info.count, "target_vectors": dst_count,
            "queries": len(queries), "queries_agreeing": agree, "ok": not problems,
            "problems": problems}


def neighbours_agree(ids_a, dist_a, ids_b, dist_b, min_overlap: float = MIN_OVERLAP
                     ) -> bool:
    """Pure: the same nearest id (or an equally near one), and at least ``min_overlap`` of
    the listed ids on both lists."""
    k = min(len(ids_a), len(ids_b))
    if k == 0:
        return len(ids_a) == len(ids_b)
    first = ids_a[0] == ids_b[0] or abs(dist_a[0] - dist_b[0]) <= TIE * max(1.0, dist_a[0])
    return first and len(set(ids_a[:k]) & set(ids_b[:k])) >= min_overlap * k


def _content_differences(src, dst, count: int, batch: int = BATCH) -> int:
    differing = 0
    for offset in range(0, count, batch):
        got = src.get(limit=batch, offset=offset, include=INCLUDE)
        have = dst.get(ids=got["ids"], include=INCLUDE)
        index = {id_: j for j, id_ in enumerate(have["ids"])}
        differing += sum(1 for i, id_ in enumerate(got["ids"])
                         if id_ not in index or not _same(got, have, i, index[id_]))
    return differing


def _sample_queries(collection, count: int) -> list:
    if count == 0:
        return []
    step = max(1, count // SAMPLE_QUERIES)
    out = []
    for offset in range(0, count, step):
        got = collection.get(limit=1, offset=offset, include=["embeddings"])
        out.append(list(got["embeddings"][0]))
        if len(out) == SAMPLE_QUERIES:
            break
    return out


def guard(what: str, token: str | None, func, *args, **kwargs):
    """Run a chromadb call; its failure becomes OperationFailed naming ``what``."""
    try:
        return func(*args, **kwargs)
    except (ConfigError, PreflightError, OperationFailed):
        raise
    except Exception as exc:  # noqa: BLE001 - chromadb raises plain exceptions
        raise OperationFailed(f"Chroma: {what}: {_text(exc, token)}") from None
