"""The cutover's three commands: ``plan`` reads and changes nothing, ``run`` checks
everything first, then moves each part and verifies, ``verify`` re-checks.

Order in ``run``: every check of the source and the target before the first write (a bad
input names itself and nothing changes); then the database (pgloader into a staging
schema, completed, checksummed against the source and only then swapped into public in
one transaction), the uploads (already present objects skipped) and the vectors (equal
batches skipped); then the same verification as ``verify``. Killed at any point, a run
leaves either the old or the new database content, whole objects, and whole batches; the
next run resumes from there.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from golden.core.errors import OperationFailed, PreflightError
from golden.cutover import pgload, postgres, schema, sqlite, uploads, vectors
from golden.cutover import plan as decide
from golden.cutover.target import Credentials, Target, client, fetch_credentials


class Progress:
    """Progress lines with ETA on stderr, at most one a second per part."""

    def __init__(self, what: str, total: float, unit: str, scale: float = 1.0,
                 quiet: bool = False):
        self.what, self.total, self.unit, self.scale = what, total, unit, scale
        self.done = 0.0
        self.started = time.monotonic()
        self.last = 0.0
        self.quiet = quiet

    def add(self, amount: float) -> None:
        self.done += amount
        now = time.monotonic()
        if not self.quiet and (now - self.last >= 1.0 or self.done >= self.total):
            self.last = now
            print(decide.progress_line(self.what, self.done, self.total,
                                       now - self.started, self.unit, self.scale),
                  file=sys.stderr, flush=True)


class _Ticker:
    """A progress line every TICK seconds while a step that reports nothing runs."""

    TICK = 2.0

    def __init__(self, line, quiet: bool):
        self.line, self.quiet = line, quiet
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        started = time.monotonic()
        while not self.stop.wait(self.TICK):
            print(self.line(time.monotonic() - started), file=sys.stderr, flush=True)

    def __enter__(self):
        if not self.quiet:
            self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        if self.thread.is_alive():
            self.thread.join(5)


@dataclass
class World:
    """What the checks read: the source and the target, before anything is written."""

    layout: decide.Layout
    target: Target
    creds: Credentials = field(repr=False)
    tables: list = field(default_factory=list)
    source_sums: dict = field(default_factory=dict)
    db: decide.DatabaseAction | None = None
    record: dict | None = None
    files: list = field(default_factory=list)
    to_upload: list = field(default_factory=list)
    collections: list = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    sqlite_conn: object = None
    src_chroma: object = None
    dst_chroma: object = None


def _spec(tables: list[schema.Table]) -> dict:
    return {t.name: {"columns": [c.name for c in t.columns],
                     "kinds": [schema.kind_of(c.declared) for c in t.columns]}
            for t in tables}


def _read_database(world: World) -> None:
    conn = world.sqlite_conn = sqlite.open_readonly(world.layout.sqlite)
    world.tables = sqlite.survey(conn)
    world.problems += [f"SQLite database {world.layout.sqlite}: {p}"
                       for p in schema.problems(world.tables)]
    if world.problems:
        return
    world.source_sums = sqlite.table_checksums(conn, world.tables)
    with postgres.connect(world.target, world.creds) as pg:
        public = postgres.public_tables(pg)
        world.record = postgres.last_load(pg)
        recorded = (world.record or {}).get("tables", {})
        specs = {t: {"columns": v["columns"], "kinds": v["kinds"]}
                 for t, v in recorded.items() if t in public}
        now = postgres.table_checksums(pg, "public", specs) if specs else {}
    world.db = decide.database_action(world.source_sums, public, world.record, now)
    if world.db.problem:
        t = world.target
        world.problems.append(f"target database {t.db_name} on {t.db_host}:{t.db_port}: "
                              f"{world.db.problem}")


def _read_uploads(world: World) -> None:
    files = uploads.scan(world.layout.uploads)
    world.problems += [f"uploads folder {world.layout.uploads}: {p}"
                       for p in uploads.name_problems([f.relpath for f in files])]
    s3 = client(world.target, "s3")
    uploads.check_bucket(s3, world.target.bucket)
    world.files = uploads.with_checksums(world.layout.uploads, files)
    remote = uploads.remote_objects(s3, world.target.bucket)
    others = uploads.foreign(world.files, remote)
    if others:
        world.problems.append(
            f"S3 bucket {world.target.bucket}: already holds {len(others)} object(s) the "
            f"cutover did not write where it would write ({', '.join(others[:5])})")
    world.to_upload = uploads.to_copy(world.files, remote)


def _read_vectors(world: World) -> None:
    t = world.target
    world.src_chroma = vectors.source_client(world.layout.chroma)
    world.collections = vectors.guard("reading the source", None, vectors.describe,
                                      world.src_chroma)
    world.dst_chroma = vectors.target_client(t.chroma_host, t.chroma_port,
                                             world.creds.chroma_token)
    token = world.creds.chroma_token
    existing = vectors.guard(f"listing collections on {t.chroma_host}:{t.chroma_port}",
                             token, vectors.describe, world.dst_chroma)
    world.problems += vectors.conflicts(world.collections, existing)


def read_world(layout: decide.Layout, target: Target, creds: Credentials | None = None
               ) -> World:
    """Every check before a write. Raises PreflightError listing each problem."""
    world = World(layout, target, creds or fetch_credentials(target))
    readers = {"database": _read_database, "uploads": _read_uploads,
               "vectors": _read_vectors}
    for part in layout.parts:
        try:
            readers[part](world)
        except PreflightError as exc:
            world.problems.append(str(exc))
    if "database" in layout.parts and not world.problems:
        pgload.program()
        pgload.check_password(world.creds)
    if world.problems:
        raise PreflightError("cutover checks failed, nothing was written:\n  - "
                             + "\n  - ".join(world.problems))
    return world


def plan(layout: decide.Layout, target: Target, creds: Credentials | None = None) -> dict:
    world = read_world(layout, target, creds)
    return {"source": layout.public(), "target": target.public(), **_summary(world)}


def _summary(world: World) -> dict:
    db = world.db or decide.DatabaseAction("skip")
    return decide.summary(world.tables, db, world.files, world.to_upload,
                          world.collections, {c.name: c.count for c in world.collections})


def _move_database(world: World, quiet: bool) -> dict:
    assert world.db is not None
    if world.db.action == "skip":
        return {"action": "skip", "rows": 0}
    started = time.monotonic()
    rows = sum(t.rows for t in world.tables)
    with postgres.connect(world.target, world.creds) as pg:
        postgres.prepare_staging(pg)
        if not quiet:
            print(f"database: pgloader loading {rows} rows of {len(world.tables)} tables",
                  file=sys.stderr, flush=True)
        # pgloader reports only at the end: the ETA comes from the measured rate.
        expected = rows / decide.ROWS_PER_S
        with _Ticker(lambda s: decide.waiting_line("database: pgloader", s, expected), quiet):
            pgload.load(world.layout.sqlite, world.tables, world.target, world.creds,
                        timeout=max(600.0, rows / 2000))
        postgres.apply(pg, schema.fixups(world.tables))
        staged = postgres.table_checksums(pg, schema.STAGING_SCHEMA, _spec(world.tables))
        if staged != world.source_sums:
            bad = sorted(t for t in world.source_sums if staged.get(t) != world.source_sums[t])
            raise OperationFailed(
                "database: the loaded tables differ from the source (is the application "
                f"still writing?): {', '.join(bad)}; schema public is unchanged")
        spec = _spec(world.tables)
        record = {"source": str(world.layout.sqlite), "tables": {
            t: {**world.source_sums[t], **spec[t]} for t in world.source_sums}}
        postgres.swap(pg, world.tables, record, list(world.db.replace))
    seconds = time.monotonic() - started
    return {"action": world.db.action, "rows": rows, "seconds": round(seconds, 2),
            "rows_per_s": round(rows / seconds, 1) if seconds else None}


def _move_uploads(world: World, quiet: bool) -> dict:
    started = time.monotonic()
    total = sum(f.size for f in world.to_upload)
    bar = Progress("uploads", total, "MB", 1e6, quiet)
    uploads.upload(client(world.target, "s3"), world.target.bucket, world.layout.uploads,
                   world.to_upload, on_bytes=bar.add)
    seconds = time.monotonic() - started
    return {"uploaded": len(world.to_upload), "skipped": len(world.files) -
            len(world.to_upload), "bytes": total, "seconds": round(seconds, 2),
            "mb_per_s": round(total / 1e6 / seconds, 1) if seconds and total else None}


def _move_vectors(world: World, quiet: bool) -> dict:
    started = time.monotonic()
    total = sum(c.count for c in world.collections)
    bar = Progress("vectors", total, "vectors", 1.0, quiet)
    token = world.creds.chroma_token
    per = {c.name: vectors.guard(f"copying collection {c.name}", token,
                                 vectors.copy_collection, world.src_chroma,
                                 world.dst_chroma, c, on_vectors=bar.add)
           for c in world.collections}
    seconds = time.monotonic() - started
    copied = sum(v["copied"] for v in per.values())
    return {"collections": per, "vectors": total, "seconds": round(seconds, 2),
            "vectors_per_s": round(total / seconds, 1) if seconds and total else None,
            "copied": copied}


def run(layout: decide.Layout, target: Target, *, report: Path | None,
        creds: Credentials | None = None, quiet: bool = False) -> dict:
    """Check, move, verify. Returns (and writes to ``report``) the JSON report."""
    started = time.monotonic()
    world = read_world(layout, target, creds)
    result = {"source": layout.public(), "target": target.public(), "plan": _summary(world),
              "moved": {}}
    movers = {"database": _move_database, "uploads": _move_uploads, "vectors": _move_vectors}
    try:
        for part in layout.parts:
            result["moved"][part] = movers[part](world, quiet)
        result["verify"] = _verify_world(world)
    except OperationFailed as exc:
        result["error"] = str(exc)
        raise
    finally:
        result["seconds"] = round(time.monotonic() - started, 2)
        if report:
            report.parent.mkdir(parents=True, exist_ok=True)
            report.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    if not result["verify"]["ok"]:
        raise OperationFailed("cutover verification failed: " +
                              "; ".join(result["verify"]["problems"]))
    return result


def _verify_world(world: World) -> dict:
    out: dict = {"problems": []}
    if "database" in world.layout.parts:
        out["database"] = _verify_database(world)
        out["problems"] += out["database"]["problems"]
    if "uploads" in world.layout.parts:
        out["uploads"] = uploads.verify(client(world.target, "s3"), world.target.bucket,
                                        world.files)
        out["problems"] += [f"uploads: {m}" for m in out["uploads"]["mismatches"]]
    if "vectors" in world.layout.parts:
        token = world.creds.chroma_token
        out["vectors"] = [vectors.guard(f"verifying {c.name}", token,
                                        vectors.verify_collection, world.src_chroma,
                                        world.dst_chroma, c) for c in world.collections]
        out["problems"] += [f"vectors: {v['collection']}: {p}" for v in out["vectors"]
                            for p in v["problems"]]
    out["ok"] = not out["problems"]
    return out


def _verify_database(world: World) -> dict:
    problems = []
    with postgres.connect(world.target, world.creds) as pg:
        public = postgres.public_tables(pg)
        missing = sorted(t.name for t in world.tables if t.name not in public)
        if missing:
            problems.append(f"database: table(s) missing: {', '.join(missing)}")
        present = [t for t in world.tables if t.name in public]
        target_sums = postgres.table_checksums(pg, "public", _spec(present))
        nexts = postgres.next_values(pg, present)
        maxima = {f"{t.name}.{c}": pg.execute(
            f"SELECT max({schema.quote_ident(c)}) FROM public.{schema.quote_ident(t.name)}"
        ).fetchone()[0] for t in present for c in t.primary_key()}
    per_table = {}
    for t in present:
        src, dst = world.source_sums[t.name], target_sums[t.name]
        per_table[t.name] = {"rows": src["rows"], "target_rows": dst["rows"],
                             "checksum": src["checksum"],
                             "checksum_matches": src["checksum"] == dst["checksum"]}
        if src != dst:
            problems.append(f"database: {t.name}: {dst['rows']} rows (checksum "
                            f"{dst['checksum'][:12]}), source {src['rows']} rows (checksum "
                            f"{src['checksum'][:12]})")
    for name, nxt in nexts.items():
        top = maxima.get(name)
        if isinstance(top, int) and nxt <= top:
            problems.append(f"database: sequence of {name} gives {nxt}, not past {top}")
    return {"tables": per_table, "sequences": nexts, "problems": problems}


def verify(layout: decide.Layout, target: Target, creds: Credentials | None = None) -> dict:
    """Re-check everything against the source (reads only)."""
    creds = creds or fetch_credentials(target)
    world = World(layout, target, creds)
    if "database" in layout.parts:
        world.sqlite_conn = sqlite.open_readonly(layout.sqlite)
        world.tables = sqlite.survey(world.sqlite_conn)
        world.source_sums = sqlite.table_checksums(world.sqlite_conn, world.tables)
    if "uploads" in layout.parts:
        world.files = uploads.with_checksums(layout.uploads, uploads.scan(layout.uploads))
        uploads.check_bucket(client(target, "s3"), target.bucket)
    if "vectors" in layout.parts:
        world.src_chroma = vectors.source_client(layout.chroma)
        world.collections = vectors.describe(world.src_chroma)
        world.dst_chroma = vectors.target_client(target.chroma_host, target.chroma_port,
                                                 creds.chroma_token)
    result = {"source": layout.public(), "target": target.public(),
              **_verify_world(world)}
    return result
