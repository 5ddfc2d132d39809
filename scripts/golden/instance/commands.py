"""`golden instance ...`: commands that run ON an instance (from /opt/salt/bin/golden)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from golden.core.errors import ConfigError, OperationFailed
from golden.core.output import emit


def register(main: click.Group) -> None:
    main.add_command(instance_group)


@click.group("instance")
def instance_group():
    """Commands run on an instance of the image (boot step, hotfix)."""


@instance_group.command("boot")
@click.option("--json", "as_json", is_flag=True)
def instance_boot(as_json):
    """Environment from /etc/golden/instance.json + SSM secrets -> /etc/app/app.env,
    runtime grain, re-rendered nginx/app/CloudWatch config (golden-boot.service)."""
    from golden.instance import boot

    result = boot.boot()
    emit(result, as_json=as_json, title="golden boot")


def _print_record(record: dict, as_json: bool) -> None:
    if as_json:
        # One line: SSM shows at most 24,000 characters of an invocation's output.
        click.echo(json.dumps(record, sort_keys=True, separators=(",", ":"), default=str))
        return
    keys = ("mode", "result", "bundle", "tree", "previous_tree", "states", "duration_s", "log")
    emit(
        {k: record[k] for k in keys if record.get(k) is not None},
        as_json=False,
        title=f"golden {record['mode']}",
    )
    for title, key in (
        ("changed" if not record.get("test") else "would change", "changed"),
        ("failed", "failed"),
    ):
        rows = [
            {"state": s["id"], "function": s["function"], "comment": s.get("comment", "")}
            for s in record.get(key) or []
        ]
        if rows:
            emit(rows, as_json=False, title=title, rows=rows)
    for error in record.get("errors") or []:
        click.echo(f"error: {error}", err=True)


def _fail_unless_success(record: dict) -> None:
    if record.get("result") != "success":
        failed = [s["id"] for s in record.get("failed") or []]
        what = (
            f"failed states: {', '.join(failed)}"
            if failed
            else "; ".join(record.get("errors") or ["see the output"])
        )
        raise OperationFailed(
            f"{record['mode']}: {what} (full Salt output: {record.get('log', 'n/a')})"
        )


@instance_group.command("hotfix")
@click.option(
    "--bundle",
    "source",
    metavar="PATH|s3://BUCKET/KEY",
    help="State-tree bundle (tarball of salt/ + pillar/ + schemas/ + manifest.json).",
)
@click.option("--sha256", metavar="HEX", help="The bundle's expected sha256 (64 hex digits).")
@click.option(
    "--test",
    is_flag=True,
    help="Run the highstate with test=True against the bundle; swap nothing.",
)
@click.option(
    "--dry-run", is_flag=True, help="Check and render the bundle only; swap and apply nothing."
)
@click.option("--revert", is_flag=True, help="Swap back to the previous tree and apply it.")
@click.option(
    "--status",
    "show_status",
    is_flag=True,
    help="Show the tree in use and the last runs; change nothing.",
)
@click.option(
    "--timeout",
    type=click.IntRange(min=30),
    default=1800,
    show_default=True,
    help="Seconds each salt-call may take.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the record as one JSON line.")
def instance_hotfix(source, sha256, test, dry_run, revert, show_status, timeout, as_json):
    """Apply a state-tree bundle here: verify it, swap /srv/salt + /srv/pillar atomically
    (the previous tree is kept for --revert), run the highstate, write
    /etc/golden/hotfix.json. Exits non-zero when any state failed."""
    from golden.instance import hotfix as hotfix_instance

    modes = [
        m
        for m, on in (("--bundle", bool(source)), ("--revert", revert), ("--status", show_status))
        if on
    ]
    if len(modes) != 1:
        raise ConfigError("give exactly one of --bundle (with --sha256), --revert, --status")
    if source and not sha256:
        raise ConfigError("--sha256: required with --bundle")
    if (test or dry_run) and not source:
        raise ConfigError("--test and --dry-run go with --bundle")
    if show_status:
        record = hotfix_instance.status()
    elif revert:
        record = hotfix_instance.revert(timeout=timeout)
    else:
        record = hotfix_instance.apply(source, sha256, test=test, dry_run=dry_run, timeout=timeout)
    _print_record(record, as_json)
    _fail_unless_success(record)


@instance_group.command("drift")
@click.option(
    "--timeout",
    type=click.IntRange(min=30),
    default=1800,
    show_default=True,
    help="Seconds the salt-call may take.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the record as one JSON line.")
def instance_drift(timeout, as_json):
    """highstate test=True against the tree this instance was baked or last hotfixed with:
    the states that would change. Exits 0 when the check ran (drift or not); the record's
    `drifted` says which. Writes /etc/golden/drift.json."""
    from golden.instance import hotfix as hotfix_instance

    record = hotfix_instance.drift(timeout=timeout)
    _print_record(record, as_json)
    _fail_unless_success(record)


@instance_group.command("packages")
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default="/etc/golden/packages.json",
    show_default=True,
    help="Where the record goes.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the whole record as JSON.")
def instance_packages(output, as_json):
    """Record this machine's package set (name, version, architecture, origin) and the
    updates still pending, security ones apart, in OUTPUT. The bake runs it after the
    highstate, while apt's package lists are still there."""
    from golden.instance import packages

    record = packages.collect()
    packages.write(record, output)
    if as_json:
        emit(record, as_json=True)
        return
    security = record["pending_security"]
    shown = ", ".join(security[:10]) + (f" ... ({len(security)} in all)" if security[10:] else "")
    emit(
        {"record": str(output), "packages": record["count"],
         "pending updates": len(record["pending_updates"]),
         "pending security updates": shown or "none"},
        as_json=False, title="package set",
    )  # fmt: skip


@instance_group.command("sbom")
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default="/etc/golden/sbom.cdx.json",
    show_default=True,
    help="Where the CycloneDX JSON goes.",
)
@click.option(
    "--images",
    "images_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder of the staged image archives' manifests (*.json): their images' digests "
    "and Python packages.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the counts as JSON.")
def instance_sbom(output, images_dir, as_json):
    """Write this machine's SBOM (CycloneDX 1.5: dpkg packages, the Python packages of
    the environment golden runs in, container images by digest and their Python
    packages) to OUTPUT. The bake runs it after the highstate."""
    from golden.core import sbom as sbom_doc
    from golden.instance import sbom

    doc = sbom.collect(images_dir=images_dir)
    size = sbom.write(doc, output)
    emit({"sbom": str(output), "bytes": size, **sbom_doc.counts(doc)}, as_json=as_json,
         title="SBOM")  # fmt: skip
