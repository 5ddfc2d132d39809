"""The source database: open read-only, refuse a locked or missing file, read its tables
and survey the values each column really holds (adapter over Python's sqlite3)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

from golden.core.errors import PreflightError
from golden.cutover import checksum, schema

HEADER = b"SQLite format 3\x00"


def _uri(path: Path) -> str:
    return f"file:{quote(str(path.resolve()))}?mode=ro"


def open_readonly(path: Path) -> sqlite3.Connection:
    """A read-only connection that waits for no lock. Raises PreflightError naming the
    file when it is missing, not an SQLite database, or locked by a writer."""
    if not path.is_file():
        raise PreflightError(f"SQLite database {path}: no such file (expected the single "
                             "server's database; --sqlite names another file)")
    with path.open("rb") as handle:
        if handle.read(16) != HEADER:
            raise PreflightError(f"SQLite database {path}: not an SQLite 3 database")
    conn = sqlite3.connect(_uri(path), uri=True, timeout=0, check_same_thread=False)
    try:
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.OperationalError as exc:
        conn.close()
        raise PreflightError(f"SQLite database {path}: {exc}: another process holds a lock "
                             "on it; stop the application (or make the server read-only) "
                             "and run again") from None
    _refuse_writer(path)
    return conn


def _refuse_writer(path: Path) -> None:
    """A writer in the middle of a transaction holds a RESERVED lock that readers do not
    notice; BEGIN IMMEDIATE does. Taken and released at once, it writes nothing."""
    try:
        probe = sqlite3.connect(f"file:{quote(str(path.resolve()))}?mode=rw", uri=True,
                                timeout=0)
    except sqlite3.OperationalError:
        return  # not writable by us: nobody can be writing through us either
    try:
        probe.execute("BEGIN IMMEDIATE")
        probe.execute("ROLLBACK")
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc) or "busy" in str(exc):
            raise PreflightError(f"SQLite database {path}: {exc}: a writer holds a lock on "
                                 "it; stop the application (or make the server read-only) "
                                 "and run again") from None
    finally:
        probe.close()


def _q(name: str) -> str:
    return schema.quote_ident(name)


def table_names(conn: sqlite3.Connection) -> list[str]:
    rows = conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
        "ORDER BY name").fetchall()
    return [r[0] for r in rows]


def survey(conn: sqlite3.Connection) -> list[schema.Table]:
    """Every user table with its columns, row count and, per column, typeof() counts and
    the number of values that cannot move (checked as the checksum reads them)."""
    tables = []
    for name in table_names(conn):
        info = conn.execute(f"PRAGMA table_info({_q(name)})").fetchall()
        sql = conn.execute("SELECT sql FROM sqlite_master WHERE type='table' AND name=?",
                           (name,)).fetchone()[0] or ""
        rows = conn.execute(f"SELECT count(*) FROM {_q(name)}").fetchone()[0]
        columns = [
            schema.Column(name=c[1], declared=c[2] or "", notnull=bool(c[3]), pk=int(c[5]),
                          types=_typeof_counts(conn, name, c[1]),
                          bad_values=_bad_values(conn, name, c[1], c[2] or ""))
            for c in info
        ]
        tables.append(schema.Table(name=name, columns=tuple(columns), rows=rows,
                                   without_rowid="WITHOUT ROWID" in sql.upper()))
    return tables


def _typeof_counts(conn: sqlite3.Connection, table: str, column: str) -> dict[str, int]:
    rows = conn.execute(
        f"SELECT typeof({_q(column)}), count(*) FROM {_q(table)} GROUP BY 1").fetchall()
    return {typ: count for typ, count in rows}


def _bad_values(conn: sqlite3.Connection, table: str, column: str, declared: str) -> int:
    kind = schema.kind_of(declared)
    if kind not in ("boolean", "timestamp", "date"):
        return 0
    bad = 0
    for (value,) in conn.execute(f"SELECT {_q(column)} FROM {_q(table)} "
                                 f"WHERE {_q(column)} IS NOT NULL"):
        if not isinstance(value, (str, int)):
            continue  # a stray type is reported from the typeof counts
        try:
            checksum.check(kind, value)
        except checksum.BadValue:
            bad += 1
    return bad


def rows(conn: sqlite3.Connection, table: schema.Table) -> Iterator[tuple]:
    cols = ", ".join(_q(c.name) for c in table.columns)
    cursor = conn.execute(f"SELECT {cols} FROM {_q(table.name)}")
    while True:
        batch = cursor.fetchmany(5000)
        if not batch:
            return
        yield from batch


def table_checksums(conn: sqlite3.Connection, tables: list[schema.Table]) -> dict:
    """{table: {"rows": N, "checksum": hex}} read in one read transaction, so every table
    is seen at the same moment."""
    out = {}
    conn.execute("BEGIN")
    try:
        for table in tables:
            kinds = [schema.kind_of(c.declared) for c in table.columns]
            count, digest = checksum.table_checksum(kinds, rows(conn, table))
            out[table.name] = {"rows": count, "checksum": digest}
    finally:
        conn.execute("ROLLBACK")
    return out
