"""A table's content checksum, computed the same way from SQLite rows and from
PostgreSQL rows. Pure.

Each value is first brought to one canonical text by its column's kind (see
:mod:`golden.cutover.schema`): SQLite's 0/1 and PostgreSQL's booleans both become ``t``/
``f``, ISO text, Unix seconds and PostgreSQL timestamps all become the UTC instant in ISO
8601, blobs and bytea both become hex. A row's hash is SHA-256 over its canonical values;
the table's checksum is the sum of its rows' hashes modulo 2**128, so it does not depend
on row order (the two databases sort text differently) and still counts duplicate rows.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Sequence
from decimal import Decimal

MODULUS = 1 << 128
NULL = "\x00null"
_UTC = dt.timezone.utc
# Unix seconds golden converts: 1970-01-01 up to the end of year 9999 (PostgreSQL's
# timestamptz goes further; Python's datetime does not).
MAX_SECONDS = 253402300799


class BadValue(ValueError):
    """A source value its column's kind cannot hold."""


def parse_timestamp(value: str | int) -> dt.datetime:
    """The UTC instant of ISO 8601 text (no offset means UTC, as the load's session time
    zone is UTC) or of Unix seconds. Raises BadValue."""
    if isinstance(value, int) and not isinstance(value, bool):
        if not 0 <= value <= MAX_SECONDS:
            raise BadValue(f"{value} is outside 1970..9999 as Unix seconds")
        return dt.datetime.fromtimestamp(value, _UTC)
    if not isinstance(value, str):
        raise BadValue(f"{type(value).__name__} is not a date")
    text = value.strip()
    try:
        parsed = dt.datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
    except ValueError:
        raise BadValue(f"{value!r} is not ISO 8601") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=_UTC)
    return parsed.astimezone(_UTC)


def parse_date(value: str | int) -> dt.date:
    """The day of ISO 8601 text (as written, any time part ignored, as PostgreSQL's date
    input does) or the UTC day of Unix seconds. Raises BadValue."""
    if isinstance(value, int) and not isinstance(value, bool):
        return parse_timestamp(value).date()
    if not isinstance(value, str):
        raise BadValue(f"{type(value).__name__} is not a date")
    text = value.strip()
    try:
        return dt.date.fromisoformat(text[:10])
    except ValueError:
        raise BadValue(f"{value!r} is not ISO 8601") from None


def check(kind: str, value) -> None:
    """Raises BadValue when a (non-NULL) source value of an accepted SQLite type still
    cannot be held by ``kind``: a boolean other than 0/1, a date that does not parse."""
    if kind == "boolean" and value not in (0, 1):
        raise BadValue(f"{value!r} is not 0 or 1")
    if kind == "timestamp":
        parse_timestamp(value)
    if kind == "date":
        parse_date(value)


def canonical(kind: str, value) -> str:
    """One value as canonical text; ``value`` from sqlite3 or from psycopg."""
    if value is None:
        return NULL
    if kind == "boolean":
        return "t" if value else "f"
    if kind == "integer":
        return str(int(value))
    if kind in ("real", "numeric"):
        # Compared at double precision: what SQLite stored.
        return repr(float(value))
    if kind == "blob":
        return bytes(value).hex()
    if kind == "timestamp":
        when = value if isinstance(value, dt.datetime) else parse_timestamp(value)
        return when.astimezone(_UTC).isoformat()
    if kind == "date":
        day = value if isinstance(value, dt.date) else parse_date(value)
        return day.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return str(value)


def row_hash(kinds: Sequence[str], row: Sequence) -> int:
    canon = [canonical(k, v) for k, v in zip(kinds, row, strict=True)]
    digest = hashlib.sha256(json.dumps(canon, ensure_ascii=False).encode()).digest()
    return int.from_bytes(digest[:16], "big")


def table_checksum(kinds: Sequence[str], rows: Iterable[Sequence]) -> tuple[int, str]:
    """(row count, checksum as 32 hex digits) of ``rows``, each a sequence of values in
    the order of ``kinds``."""
    total = 0
    count = 0
    for row in rows:
        total = (total + row_hash(kinds, row)) % MODULUS
        count += 1
    return count, f"{total:032x}"
