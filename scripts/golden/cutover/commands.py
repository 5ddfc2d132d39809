"""`golden cutover plan|run|verify ENV --from PATH`."""

from __future__ import annotations

import time
from pathlib import Path

import click

from golden.core.output import emit
from golden.core.provenance import repo_root
from golden.cutover import plan as decide
from golden.cutover import run as cutover
from golden.cutover import target as targets


def register(main: click.Group) -> None:
    main.add_command(cutover_group)


@click.group("cutover")
def cutover_group():
    """Move the single server's data (SQLite, uploads, Chroma directory) into the
    environment's PostgreSQL, S3 bucket and Chroma host (docs/cutover.md)."""


def _common(func):
    options = [
        click.argument("env"),
        click.option("--from", "root", required=True,
                     type=click.Path(file_okay=False, path_type=Path),
                     help="The single server's data folder."),
        click.option("--sqlite", default=None,
                     help=f"SQLite file, relative to --from [{decide.DEFAULT_SQLITE}]."),
        click.option("--uploads", default=None,
                     help=f"Uploads folder, relative to --from [{decide.DEFAULT_UPLOADS}]."),
        click.option("--chroma", default=None,
                     help=f"Chroma persistent directory, relative to --from "
                          f"[{decide.DEFAULT_CHROMA}]."),
        click.option("--only", "only", multiple=True, type=click.Choice(decide.PARTS),
                     help="Only these parts (repeatable; default all three)."),
        click.option("--ca-bundle", default=None,
                     help="CA bundle of the database's certificate (sslmode verify-full) "
                          f"[{targets.DEFAULT_CA_BUNDLE}; ENV local: the local CA]."),
        click.option("--json", "as_json", is_flag=True, help="Print the result as JSON."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _inputs(env, root, sqlite, uploads, chroma, only, ca_bundle):
    layout = decide.layout(root, sqlite=sqlite, uploads=uploads, chroma=chroma,
                           parts=tuple(p for p in decide.PARTS if not only or p in only))
    return layout, targets.resolve(env, ca_bundle=ca_bundle)


def _rows(summary: dict) -> list[dict]:
    db, up, vec = summary["database"], summary["uploads"], summary["vectors"]
    return [
        {"part": "database", "what": f"{db['tables']} tables, {db['rows']} rows",
         "action": f"{db['action']} ({db['rows_to_load']} rows)"},
        {"part": "uploads", "what": f"{up['files']} files, {up['bytes'] / 1e6:.1f} MB",
         "action": f"upload {up['to_upload']} ({up['bytes_to_upload'] / 1e6:.1f} MB)"},
        {"part": "vectors", "what": f"{len(vec['collections'])} collections, "
                                    f"{vec['vectors']} vectors",
         "action": "copy changed batches"},
        {"part": "estimate", "what": "", "action": f"{summary['estimated_seconds']} s"},
    ]


@cutover_group.command("plan")
@_common
def plan_command(env, root, sqlite, uploads, chroma, only, ca_bundle, as_json):
    """What will move (sizes, counts, estimated time); changes nothing."""
    layout, target = _inputs(env, root, sqlite, uploads, chroma, only, ca_bundle)
    result = cutover.plan(layout, target)
    emit(result, as_json=as_json, title=f"cutover plan: {root} -> {target.environment}",
         rows=None if as_json else _rows(result))


@cutover_group.command("run")
@_common
@click.option("--report", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="JSON report [build/cutover/ENV-TIMESTAMP.json].")
@click.option("--quiet", is_flag=True, help="No progress lines.")
def run_command(env, root, sqlite, uploads, chroma, only, ca_bundle, as_json, report, quiet):
    """Check everything, move what differs, verify; safe to interrupt and run again."""
    layout, target = _inputs(env, root, sqlite, uploads, chroma, only, ca_bundle)
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    report = report or repo_root() / "build" / "cutover" / f"{target.environment}-{stamp}.json"
    result = cutover.run(layout, target, report=report, quiet=quiet)
    result["report"] = str(report)
    rows = _moved_rows(result["moved"])
    emit(result, as_json=as_json, title=f"cutover run: report {report}",
         rows=None if as_json else rows)


def _moved_rows(moved: dict) -> list[dict]:
    rows = []
    db, up, vec = moved.get("database"), moved.get("uploads"), moved.get("vectors")
    if db:
        rows.append({"part": "database", "done": f"{db['action']}: {db['rows']} rows",
                     "seconds": db.get("seconds", 0), "rate": f"{db.get('rows_per_s')} rows/s"})
    if up:
        rows.append({"part": "uploads", "done": f"{up['uploaded']} uploaded "
                     f"({up['bytes'] / 1e6:.1f} MB), {up['skipped']} already there",
                     "seconds": up["seconds"], "rate": f"{up.get('mb_per_s')} MB/s"})
    if vec:
        rows.append({"part": "vectors", "done": f"{vec['copied']} of {vec['vectors']} "
                     "copied", "seconds": vec["seconds"],
                     "rate": f"{vec.get('vectors_per_s')} vectors/s"})
    return rows


@cutover_group.command("verify")
@_common
def verify_command(env, root, sqlite, uploads, chroma, only, ca_bundle, as_json):
    """Re-check every table, object and collection against the source; exit 4 on a
    mismatch."""
    from golden.core.errors import OperationFailed

    layout, target = _inputs(env, root, sqlite, uploads, chroma, only, ca_bundle)
    result = cutover.verify(layout, target)
    rows = [{"check": p} for p in result["problems"]] or [{"check": "all equal"}]
    emit(result, as_json=as_json, title="cutover verify", rows=None if as_json else rows)
    if not result["ok"]:
        raise OperationFailed("cutover verify: " + "; ".join(result["problems"][:5]))
