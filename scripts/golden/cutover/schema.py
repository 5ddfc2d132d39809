"""SQLite to PostgreSQL: which PostgreSQL type each column gets, which source values
cannot move, the pgloader command file, and the fix-ups pgloader leaves to do. Pure.

SQLite types are declarations, not rules: a column declared INTEGER may hold text. So the
translation is decided from the declared type *and* a survey of the values actually
stored (``typeof`` counts per column, made by :mod:`golden.cutover.sqlite`). The kinds:

========== ===================== =========================================================
kind       PostgreSQL type       source values accepted
========== ===================== =========================================================
integer    bigint                integers
real       double precision      reals and integers (SQLite REAL is 8 bytes; pgloader's
                                 default ``real`` would be 4)
numeric    numeric               integers and reals
text       text                  text (UTF-8)
blob       bytea                 blobs
boolean    boolean               the integers 0 and 1
timestamp  timestamptz           ISO 8601 text (no offset = UTC) or Unix seconds
date       date                  ISO 8601 text or Unix seconds (the UTC day)
========== ===================== =========================================================

NULL is accepted everywhere (NOT NULL columns have none: SQLite enforced it). Anything
else is a :class:`SourceProblem` found before anything is written. The kinds follow
SQLite's own affinity rules (https://www.sqlite.org/datatype3.html section 3.1) with two
additions SQLite lacks: BOOL and DATE/TIME declarations.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

KINDS = ("integer", "real", "numeric", "text", "blob", "boolean", "timestamp", "date")
PG_TYPES = {
    "integer": "bigint",
    "real": "double precision",
    "numeric": "numeric",
    "text": "text",
    "blob": "bytea",
    "boolean": "boolean",
    "timestamp": "timestamptz",
    "date": "date",
}
# What sqlite's typeof() may say for each kind, "null" aside.
ACCEPTED = {
    "integer": {"integer"},
    "real": {"real", "integer"},
    "numeric": {"real", "integer"},
    "text": {"text"},
    "blob": {"blob"},
    "boolean": {"integer"},
    "timestamp": {"text", "integer"},
    "date": {"text", "integer"},
}
# The schema pgloader loads into; swapped into public once verified.
STAGING_SCHEMA = "golden_cutover_load"
# Where the cutover records what it loaded (so a later run knows the data is its own).
RECORD_SCHEMA = "golden_cutover"
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


@dataclass(frozen=True)
class Column:
    """One SQLite column. ``types``: typeof() -> row count (null included);
    ``bad_values``: rows whose value cannot move although its typeof is accepted (a
    boolean other than 0/1, a date text that is not ISO 8601, seconds out of range)."""

    name: str
    declared: str
    notnull: bool = False
    pk: int = 0
    types: dict[str, int] = field(default_factory=dict)
    bad_values: int = 0


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Column, ...]
    rows: int = 0
    without_rowid: bool = False

    def primary_key(self) -> tuple[str, ...]:
        return tuple(c.name for c in sorted(self.columns, key=lambda c: c.pk) if c.pk)


@dataclass(frozen=True)
class SourceProblem:
    """A value that cannot move, or a name golden cannot load safely."""

    table: str
    column: str | None
    message: str

    def __str__(self) -> str:
        where = f"{self.table}.{self.column}" if self.column else self.table
        return f"{where}: {self.message}"


def kind_of(declared: str) -> str:
    """The kind of a declared SQLite type (SQLite's affinity rules, in their order, with
    BOOL, DATE and TIME declarations recognised first)."""
    t = declared.upper()
    if "BOOL" in t:
        return "boolean"
    if "DATETIME" in t or "TIMESTAMP" in t:
        return "timestamp"
    if re.search(r"\bDATE\b", t):
        return "date"
    if "INT" in t:
        return "integer"
    if "CHAR" in t or "CLOB" in t or "TEXT" in t:
        return "text"
    if "BLOB" in t:
        return "blob"
    if "REAL" in t or "FLOA" in t or "DOUB" in t:
        return "real"
    if not t.strip():
        return "text"
    return "numeric"


def problems(tables: list[Table]) -> list[SourceProblem]:
    """Every reason the source cannot move as it is, in table and column order."""
    found: list[SourceProblem] = []
    for table in tables:
        if not _NAME.match(table.name):
            found.append(SourceProblem(table.name, None, "table name must be letters, digits "
                                       "and _ (63 at most) to be loaded by name"))
        for col in table.columns:
            if not _NAME.match(col.name):
                found.append(SourceProblem(table.name, col.name, "column name must be letters, "
                                           "digits and _ (63 at most)"))
                continue
            kind = kind_of(col.declared)
            stray = {t: n for t, n in col.types.items()
                     if t != "null" and t not in ACCEPTED[kind] and n}
            for typ, count in sorted(stray.items()):
                found.append(SourceProblem(
                    table.name, col.name,
                    f"declared {col.declared or '(no type)'} ({PG_TYPES[kind]} in PostgreSQL) "
                    f"but {count} row(s) hold {typ} values"))
            if col.bad_values:
                found.append(SourceProblem(table.name, col.name, _bad_value_text(kind, col)))
    return found


def _bad_value_text(kind: str, col: Column) -> str:
    what = {
        "boolean": "values other than 0 and 1",
        "timestamp": "dates that are neither ISO 8601 text nor Unix seconds from 1970 to 9999",
        "date": "dates that are neither ISO 8601 text nor Unix seconds from 1970 to 9999",
    }.get(kind, "values that cannot be converted")
    return f"declared {col.declared}: {col.bad_values} row(s) hold {what}"


def _cast(table: Table, col: Column) -> str:
    kind = kind_of(col.declared)
    target = f"{table.name}.{col.name} to {_pg_type_for_pgloader(kind)} drop typemod"
    numbers = col.types.get("integer", 0)
    texts = col.types.get("text", 0)
    if kind in ("timestamp", "date") and numbers and texts:
        # Both spellings in one column: seconds converted, text passed on as it is.
        return (f"column {target} using (lambda (x) (if (integerp x) "
                f"(unix-timestamp-to-timestamptz x) x))")
    if kind in ("timestamp", "date") and numbers:
        return (f"column {target} using (lambda (x) (if x "
                f"(unix-timestamp-to-timestamptz x) nil))")
    if kind in ("timestamp", "date"):
        # pgloader's default for SQLite dates turns a lone number into a year; text as is.
        return f"column {target} using (lambda (x) x)"
    if kind in ("real", "numeric"):
        return f"column {target} using float-to-string"
    if kind == "blob":
        return f"column {target} using byte-vector-to-bytea"
    if kind == "boolean":
        return f"column {target} using (lambda (x) (if x (if (eql x 0) \"f\" \"t\") nil))"
    if kind == "integer":
        return f"column {target} using integer-to-string"
    return f"column {target}"


def _pg_type_for_pgloader(kind: str) -> str:
    pg = PG_TYPES[kind]
    return f'"{pg}"' if " " in pg else pg


def load_command(tables: list[Table], *, source: str, target_url: str, workers: int = 2) -> str:
    """pgloader's command file: every table of ``source`` (a path with no quote or
    space) into the staging schema of ``target_url`` (a URL without password; pgloader
    reads PGPASSWORD), a cast rule per column so no type is left to pgloader's defaults,
    and ``on error stop`` so one bad row fails the load instead of being skipped."""
    casts = [_cast(t, c) for t in tables for c in t.columns]
    lines = [
        "load database",
        f"  from sqlite://{source}",
        f"  into {target_url}",
        "with include drop, create tables, create indexes, reset sequences, foreign keys,",
        "     quote identifiers, on error stop,",
        f"     workers = {workers}, concurrency = 1, batch rows = 10000",
        f"set search_path to '{STAGING_SCHEMA}', timezone to 'UTC', work_mem to '64MB'",
    ]
    if casts:
        lines.append("cast " + ",\n     ".join(casts))
    return "\n".join(lines) + "\n;\n"


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def fixups(tables: list[Table], schema: str = STAGING_SCHEMA) -> list[str]:
    """SQL that completes pgloader's schema in ``schema``: NOT NULL (pgloader 3.6 drops it
    for SQLite) and, for an INTEGER PRIMARY KEY without AUTOINCREMENT (SQLite still
    numbers new rows: it is the rowid), a sequence owned by the column as its default."""
    sql: list[str] = []
    for table in tables:
        qt = f"{quote_ident(schema)}.{quote_ident(table.name)}"
        for col in table.columns:
            if col.notnull or col.pk:
                sql.append(f"ALTER TABLE {qt} ALTER COLUMN {quote_ident(col.name)} SET NOT NULL")
        if rowid_alias(table):
            col = table.primary_key()[0]
            seq = f"{quote_ident(schema)}.{quote_ident(f'{table.name}_{col}_seq')}"
            sql.append(f"CREATE SEQUENCE IF NOT EXISTS {seq} OWNED BY {qt}.{quote_ident(col)}")
            sql.append(f"ALTER TABLE {qt} ALTER COLUMN {quote_ident(col)} "
                       f"SET DEFAULT nextval('{seq}')")
    return sql


def rowid_alias(table: Table) -> bool:
    """An INTEGER PRIMARY KEY column is SQLite's rowid: SQLite gives new rows the next
    number, so PostgreSQL needs a sequence behind it."""
    pk = table.primary_key()
    if len(pk) != 1 or table.without_rowid:
        return False
    col = next(c for c in table.columns if c.name == pk[0])
    return col.declared.strip().upper() == "INTEGER"


def sequence_resets(tables: list[Table], schema: str = "public") -> list[str]:
    """setval past the highest id for every sequence owned by a column of these tables
    (an empty table: the next value is 1)."""
    sql = []
    for table in tables:
        qt = f"{quote_ident(schema)}.{quote_ident(table.name)}"
        for col in table.columns:
            if kind_of(col.declared) != "integer":
                continue  # only integer columns carry sequences
            ident = quote_ident(col.name)
            sql.append(
                f"SELECT setval(s, COALESCE((SELECT max({ident}) FROM {qt}), 0) + 1, false) "
                f"FROM pg_get_serial_sequence('{qt}', '{col.name}') AS s WHERE s IS NOT NULL")
    return sql
