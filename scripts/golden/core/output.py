"""Result printing: a table or JSON on stdout, never progress (that goes to stderr)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Mapping

from rich.console import Console
from rich.table import Table
from rich.text import Text


def emit(
    result, *, as_json: bool, title: str | None = None, rows: Iterable[Mapping] | None = None
) -> None:
    if as_json:
        print_json(result)
        return
    rows = list(rows) if rows is not None else None
    if rows is None:
        rows = (
            [{"key": k, "value": v} for k, v in result.items()]
            if isinstance(result, Mapping)
            else [result]
        )
    table = Table(title=title)
    columns = list(rows[0].keys()) if rows else []
    for column in columns:
        table.add_column(str(column))
    for row in rows:
        table.add_row(*(str(row.get(c, "")) for c in columns))
    Console(file=sys.stdout, width=120).print(table)


def console(width: int = 140) -> Console:
    """Rich console on stdout, WIDTH columns wide, without syntax highlighting."""
    return Console(file=sys.stdout, width=width, highlight=False)


def print_json(result) -> None:
    """RESULT as indented JSON with sorted keys on stdout (anything else as str)."""
    json.dump(result, sys.stdout, indent=2, sort_keys=True, default=str)
    sys.stdout.write("\n")


def print_table(title: str, rows: list[dict], columns: list[str], width: int = 140) -> None:
    """ROWS as a table of COLUMNS in that order; a missing or None cell is blank."""
    table = Table(title=title)
    for column in columns:
        table.add_column(column)
    for row in rows:
        # Text, not markup: a value such as "INFO  [alembic.runtime.migration] ..." or an
        # AWS reason in brackets is printed as it is, not taken for a style.
        table.add_row(*(Text("" if row.get(c) is None else str(row.get(c))) for c in columns))
    console(width).print(table)
