"""`golden bench cutover`: rows/s, MB/s and vectors/s of the cutover's three movers on
this machine, against an environment's services, without touching the app's data.

The database step loads into the cutover's staging schema and drops it; uploads go under
a bench prefix (``golden-bench/cutover/STAMP/``) and are deleted; vectors go to
collections named ``golden-bench-STAMP-NAME`` and are deleted. The source is a folder
laid out like the single server's (``--from``) or, by default, one made here with
ROWS rows, MB megabytes in FILES files and VECTORS vectors."""

from __future__ import annotations

import os
import random
import sqlite3
import time
from pathlib import Path

from golden.cutover import pgload, postgres, schema, sqlite, uploads, vectors
from golden.cutover import plan as decide
from golden.cutover.target import Target, client, fetch_credentials

DIMENSIONS = 384  # a common sentence-embedding size (all-MiniLM-L6-v2)


def make_source(root: Path, *, rows: int, mb: int, files: int, vectors_n: int) -> Path:
    """A synthetic single server: one table of ``rows`` rows (text, integer, real, blob,
    date), ``files`` files totalling ``mb`` MB, one collection of ``vectors_n`` vectors."""
    rng = random.Random(1)
    root.mkdir(parents=True, exist_ok=True)
    db = root / decide.DEFAULT_SQLITE
    db.unlink(missing_ok=True)
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE events (id INTEGER PRIMARY KEY, kind TEXT NOT NULL, "
                 "body TEXT, n INTEGER, x REAL, at DATETIME, raw BLOB)")
    conn.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?)",
                     ((i, f"kind-{i % 17}", f"event {i} naïve café {'x' * (i % 90)}",
                       rng.randrange(1 << 31), rng.random(), 1_700_000_000 + i,
                       rng.randbytes(16)) for i in range(1, rows + 1)))
    conn.commit()
    conn.close()
    folder = root / decide.DEFAULT_UPLOADS
    folder.mkdir(exist_ok=True)
    each = max(1, (mb << 20) // max(1, files))
    for i in range(files):
        path = folder / f"file-{i:04d}.bin"
        if not path.exists() or path.stat().st_size != each:
            with path.open("wb") as handle:
                handle.write(os.urandom(each))
    chromadb = vectors._chromadb()
    from chromadb.config import Settings

    persistent = chromadb.PersistentClient(path=str(root / decide.DEFAULT_CHROMA),
                                           settings=Settings(anonymized_telemetry=False))
    col = persistent.get_or_create_collection("bench", embedding_function=None)
    if col.count() != vectors_n:
        for start in range(0, vectors_n, 1000):
            ids = [f"v{i}" for i in range(start, min(vectors_n, start + 1000))]
            col.upsert(ids=ids, embeddings=[[rng.gauss(0, 1) for _ in range(DIMENSIONS)]
                                            for _ in ids],
                       documents=[f"document {i}" for i in ids])
    return root


def _database(layout: decide.Layout, target: Target, creds) -> dict:
    conn = sqlite.open_readonly(layout.sqlite)
    tables = sqlite.survey(conn)
    rows = sum(t.rows for t in tables)
    with postgres.connect(target, creds) as pg:
        postgres.prepare_staging(pg)
        started = time.monotonic()
        pgload.load(layout.sqlite, tables, target, creds, timeout=max(600.0, rows / 2000))
        seconds = time.monotonic() - started
        postgres.apply(pg, [f"DROP SCHEMA {schema.STAGING_SCHEMA} CASCADE"])
    return {"mover": "database (pgloader)", "amount": f"{rows} rows",
            "seconds": round(seconds, 2), "rate": f"{rows / seconds:,.0f} rows/s"}


def _uploads(layout: decide.Layout, target: Target, stamp: str) -> dict:
    files = uploads.with_checksums(layout.uploads, uploads.scan(layout.uploads))
    total = sum(f.size for f in files)
    s3 = client(target, "s3")
    prefix = f"golden-bench/cutover/{stamp}/"
    started = time.monotonic()
    uploads.upload(s3, target.bucket, layout.uploads, files, on_bytes=lambda n: None,
                   prefix=prefix)
    seconds = time.monotonic() - started
    for f in files:
        s3.delete_object(Bucket=target.bucket, Key=uploads.key_for(f.relpath, prefix))
    return {"mover": "uploads (boto3 managed transfer)",
            "amount": f"{len(files)} files, {total / 1e6:.0f} MB",
            "seconds": round(seconds, 2), "rate": f"{total / 1e6 / seconds:,.1f} MB/s"}


def _vectors(layout: decide.Layout, target: Target, creds, stamp: str) -> dict:
    src = vectors.source_client(layout.chroma)
    dst = vectors.target_client(target.chroma_host, target.chroma_port, creds.chroma_token)
    infos = vectors.describe(src)
    total = sum(c.count for c in infos)
    started = time.monotonic()
    names = []
    for info in infos:
        names.append(f"golden-bench-{stamp}-{info.name}")
        vectors.copy_collection(src, dst, info, on_vectors=lambda n: None,
                                target_name=names[-1])
    seconds = time.monotonic() - started
    for name in names:
        dst.delete_collection(name)
    return {"mover": "vectors (chromadb HttpClient)",
            "amount": f"{total} vectors of {infos[0].dimension if infos else 0} dimensions",
            "seconds": round(seconds, 2), "rate": f"{total / seconds:,.0f} vectors/s"}


def run_bench(layout: decide.Layout, target: Target) -> list[dict]:
    creds = fetch_credentials(target)
    stamp = time.strftime("%Y%m%d%H%M%S", time.gmtime())
    rows = []
    if "database" in layout.parts:
        rows.append(_database(layout, target, creds))
    if "uploads" in layout.parts:
        uploads.check_bucket(client(target, "s3"), target.bucket)
        rows.append(_uploads(layout, target, stamp))
    if "vectors" in layout.parts:
        rows.append(_vectors(layout, target, creds, stamp))
    return rows
