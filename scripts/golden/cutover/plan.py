"""Pure decisions of the cutover: where the single server's data is, what the database
step does with what the target already holds, what moves and how long it takes, and the
progress line with its ETA."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

# The single server's data folder (--from): the app's SQLite file, its uploads folder and
# the Chroma persistent directory, each overridable (--sqlite, --uploads, --chroma).
DEFAULT_SQLITE = "app.db"
DEFAULT_UPLOADS = "uploads"
DEFAULT_CHROMA = "chroma"
PARTS = ("database", "uploads", "vectors")

# Rates for the estimate, measured by `golden bench cutover` on the 2-core build machine
# against loopback services (docs/cutover.md, "Throughput"); a real network is slower
# for uploads, so the estimate is a lower bound there.
ROWS_PER_S = 35_000
MB_PER_S = 100.0
VECTORS_PER_S = 1_200
FIXED_SECONDS = 15  # connections, pgloader's start, the swap, verification set-up


@dataclass(frozen=True)
class Layout:
    root: Path
    sqlite: Path
    uploads: Path
    chroma: Path
    parts: tuple[str, ...] = PARTS

    def public(self) -> dict:
        return {"from": str(self.root), "sqlite": str(self.sqlite),
                "uploads": str(self.uploads), "chroma": str(self.chroma),
                "parts": list(self.parts)}


def layout(root: str | Path, *, sqlite: str | None = None, uploads: str | None = None,
           chroma: str | None = None, parts: tuple[str, ...] = PARTS) -> Layout:
    """Paths relative to ``root`` unless absolute."""
    base = Path(root)

    def where(given: str | None, default: str) -> Path:
        path = Path(given or default)
        return path if path.is_absolute() else base / path

    return Layout(base, where(sqlite, DEFAULT_SQLITE), where(uploads, DEFAULT_UPLOADS),
                  where(chroma, DEFAULT_CHROMA), tuple(parts))


@dataclass(frozen=True)
class DatabaseAction:
    """``load`` (the target has no tables), ``reload`` (it holds the cutover's own earlier
    load, unchanged since: replaced by the final delta run), ``skip`` (it already holds
    exactly the source), or a ``problem``."""

    action: str
    replace: tuple[str, ...] = ()
    problem: str | None = None


def database_action(source: dict[str, dict], public: dict[str, int], record: dict | None,
                    recorded_now: dict[str, dict] | None) -> DatabaseAction:
    """``source``: {table: {"rows", "checksum"}} of SQLite; ``public``: {table: rows} in
    the target's schema public; ``record``: the cutover's last load record or None;
    ``recorded_now``: the recorded tables' checksums as the target holds them now."""
    if not public:
        return DatabaseAction("load")
    if record is None:
        names = ", ".join(sorted(public)[:10])
        return DatabaseAction("refuse", problem=(
            f"already holds {len(public)} table(s) the cutover did not write ({names}); "
            "the cutover loads into an empty database"))
    recorded = record.get("tables", {})
    foreign = sorted(set(public) - set(recorded))
    if foreign:
        return DatabaseAction("refuse", problem=(
            f"holds table(s) the cutover did not write: {', '.join(foreign[:10])}"))
    now = recorded_now or {}
    changed = sorted(t for t in public if now.get(t) != {
        "rows": recorded[t]["rows"], "checksum": recorded[t]["checksum"]})
    if changed:
        return DatabaseAction("refuse", problem=(
            "table(s) changed since the cutover loaded them (someone writes to the new "
            f"database already?): {', '.join(changed[:10])}"))
    same = {t: {"rows": v["rows"], "checksum": v["checksum"]} for t, v in recorded.items()}
    if same == source and set(public) == set(source):
        return DatabaseAction("skip")
    return DatabaseAction("reload", replace=tuple(sorted(public)))


def estimate_seconds(rows: int, upload_bytes: int, vectors: int) -> float:
    return round(FIXED_SECONDS + rows / ROWS_PER_S + upload_bytes / (MB_PER_S * 1e6)
                 + vectors / VECTORS_PER_S, 1)


def summary(tables: list, db: DatabaseAction, files: list, to_upload: list,
            collections: list, vector_counts: dict[str, int]) -> dict:
    """What will move: counts, sizes, the estimate. ``tables``: schema.Table list;
    ``files``/``to_upload``: uploads.LocalFile lists; ``collections``: CollectionInfo."""
    rows = sum(t.rows for t in tables) if db.action in ("load", "reload") else 0
    up_bytes = sum(f.size for f in to_upload)
    vectors = sum(vector_counts.values())
    return {
        "database": {"action": db.action, "tables": len(tables),
                     "rows": sum(t.rows for t in tables), "rows_to_load": rows,
                     "replaces": list(db.replace),
                     "per_table": {t.name: t.rows for t in tables}},
        "uploads": {"files": len(files), "bytes": sum(f.size for f in files),
                    "to_upload": len(to_upload), "bytes_to_upload": up_bytes},
        "vectors": {"collections": {c.name: {"vectors": c.count, "dimension": c.dimension,
                                             "space": c.space} for c in collections},
                    "vectors": vectors},
        "estimated_seconds": estimate_seconds(rows, up_bytes, vectors),
    }


def waiting_line(what: str, elapsed: float, expected: float) -> str:
    """For a step that reports nothing until it ends: ``what: 4s of about 10s, ETA 6s``."""
    if elapsed <= expected:
        return f"{what}: {elapsed:.0f}s of about {expected:.0f}s, ETA {expected - elapsed:.0f}s"
    return f"{what}: {elapsed:.0f}s, longer than the estimated {expected:.0f}s"


def progress_line(what: str, done: float, total: float, elapsed: float, unit: str,
                  scale: float = 1.0) -> str:
    """``uploads: 40.0/100.0 MB (40%) 20.0 MB/s ETA 3s``; the rate so far gives the ETA."""
    rate = done / elapsed if elapsed > 0 else 0.0
    pct = 100.0 * done / total if total else 100.0
    eta = f"ETA {max(0.0, (total - done) / rate):.0f}s" if rate > 0 else "ETA ?"
    return (f"{what}: {done / scale:.1f}/{total / scale:.1f} {unit} ({pct:.0f}%) "
            f"{rate / scale:.1f} {unit}/s {eta}")
