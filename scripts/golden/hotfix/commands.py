"""`golden hotfix ENV` and `golden drift ENV` (ENV `local`: the local twin)."""

from __future__ import annotations

import os
from pathlib import Path

import click

from golden.core.errors import GoldenError, OperationFailed
from golden.core.output import emit

ENV_HELP = (
    "`local` (the local twin, through docker exec), or an environment: a name "
    "(autoscaling/environments/ENV.yaml) or a path to a settings file"
)
COLUMNS = ("instance", "status", "changed", "failed", "duration", "tree", "note")
DRIFT_COLUMNS = ("instance", "status", "drifted", "changed", "duration", "tree", "states", "note")


def register(main: click.Group) -> None:
    main.add_command(hotfix_command)
    main.add_command(drift_command)


def _common(func):
    options = [
        click.option(
            "--role",
            type=click.Choice(("app", "chroma")),
            default="app",
            show_default=True,
            help="Which role's Auto Scaling group.",
        ),
        click.option(
            "--twin",
            default="golden-local-app",
            show_default=True,
            help="ENV local: the twin container.",
        ),
        click.option(
            "--timeout-minutes",
            type=click.FloatRange(min=0.1),
            default=60,
            show_default=True,
            help="Stop following after this long (the command "
            "goes on in SSM); also bounds a local run.",
        ),
        click.option(
            "--poll-seconds",
            type=click.FloatRange(min=0.001),
            default=float(os.environ.get("GOLDEN_HOTFIX_POLL_SECONDS", 2)),
            show_default=True,
            help="Pause between two status polls.",
        ),
        click.option(
            "--dry-run",
            is_flag=True,
            help="Check everything, show what would run; upload, send and change nothing.",
        ),
        click.option("--json", "as_json", is_flag=True, help="Print the result as JSON."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _show(result: dict, as_json: bool, drift: bool) -> None:
    if as_json:
        emit(result, as_json=True)
    elif result.get("dry_run"):
        keys = (
            "environment",
            "group",
            "twin",
            "mode",
            "instances",
            "max_concurrency",
            "max_errors",
            "bundle",
            "command",
        )
        emit(
            {k: result[k] for k in keys if result.get(k) is not None},
            as_json=False,
            title="dry run: nothing uploaded, sent or changed",
        )
    else:
        columns = DRIFT_COLUMNS if drift else COLUMNS
        rows = [
            {c: ("-" if r.get(c) is None else r.get(c, "")) for c in columns}
            for r in result["rows"]
        ]
        where = result.get("group") or result.get("twin")
        emit(
            rows,
            as_json=False,
            rows=rows,
            title=f"golden {result['mode']} {result['environment']} ({where})",
        )
    for note in result.get("reminders") or []:
        click.echo(f"reminder: {note}", err=True)


@click.command("hotfix")
@click.argument("env")
@click.option(
    "--ref",
    default=None,
    help="Git ref whose salt/ + pillar/ to apply "
    "(default HEAD; with HEAD, uncommitted changes are refused unless --allow-dirty).",
)
@click.option(
    "--test",
    is_flag=True,
    help="highstate with test=True: report what would change, change nothing on the instances.",
)
@click.option(
    "--revert",
    is_flag=True,
    help="Swap each instance back to its previous tree and apply it (no bundle).",
)
@click.option(
    "--max-concurrency",
    default="1",
    show_default=True,
    metavar="N|P%",
    help="Instances at a time (SSM MaxConcurrency).",
)
@click.option(
    "--max-errors",
    default="0",
    show_default=True,
    metavar="N|P%",
    help="Failures tolerated before SSM stops sending (SSM MaxErrors).",
)
@click.option(
    "--allow-dirty",
    is_flag=True,
    help="Ship the working tree's uncommitted salt/ and pillar/ changes (marked -dirty).",
)
@click.option(
    "--repo",
    type=click.Path(path_type=Path),
    default=None,
    help="Git checkout to bundle from (default: this one).",
)
@click.option(
    "--main-ref",
    default="main",
    show_default=True,
    help="The branch the next bake is made from (for the reminder).",
)
@_common
def hotfix_command(
    env,
    ref,
    test,
    revert,
    max_concurrency,
    max_errors,
    allow_dirty,
    repo,
    main_ref,
    role,
    twin,
    timeout_minutes,
    poll_seconds,
    dry_run,
    as_json,
):
    """Apply the state tree of a git ref to the running instances of ENV's group:
    `salt-call state.highstate` on each (SSM Run Command, rate-controlled), with a table
    per instance and a non-zero exit when any failed.

    ENV `local` runs the same instance command in the local twin (docker exec), so a
    hotfix can be tried there first. Progress goes to stderr, the table to stdout.
    """
    from golden.core.provenance import REPO
    from golden.hotfix import run as hotfix

    if revert and (ref or test):
        raise GoldenError("--revert takes no --ref or --test", exit_code=2)
    req = hotfix.Request(
        env=env,
        role=role,
        ref=ref,
        test=test,
        revert=revert,
        max_concurrency=max_concurrency,
        max_errors=max_errors,
        allow_dirty=allow_dirty,
        dry_run=dry_run,
        repo=repo or REPO,
        twin=twin,
        main_ref=main_ref,
        timeout_minutes=timeout_minutes,
        poll_seconds=poll_seconds,
    )
    result = _aws(hotfix.hotfix, req)
    _show(result, as_json, drift=False)
    if not result["ok"]:
        bad = [
            r["instance"]
            for r in result["rows"]
            if r.get("result") != "success" or r.get("status") != "Success"
        ]
        where = "" if result.get("finished", True) else " (stopped following: still running?)"
        raise OperationFailed(f"hotfix failed on {len(bad)} instance(s): {', '.join(bad)}{where}")


@click.command("drift")
@click.argument("env")
@click.option(
    "--max-concurrency",
    default="50%",
    show_default=True,
    metavar="N|P%",
    help="Instances checked at a time.",
)
@click.option(
    "--max-errors",
    default="100%",
    show_default=True,
    metavar="N|P%",
    help="Failed checks tolerated before SSM stops sending.",
)
@_common
def drift_command(
    env, max_concurrency, max_errors, role, twin, timeout_minutes, poll_seconds, dry_run, as_json
):
    """Which states differ from the tree each instance was baked or last hotfixed with
    (highstate test=True; changes nothing). Exit 0: no drift; 1: drift found; 4: an
    instance could not be checked.

    ENV `local` checks the local twin.
    """
    from golden.hotfix import run as hotfix

    req = hotfix.Request(
        env=env,
        role=role,
        max_concurrency=max_concurrency,
        max_errors=max_errors,
        dry_run=dry_run,
        twin=twin,
        timeout_minutes=timeout_minutes,
        poll_seconds=poll_seconds,
    )
    result = _aws(hotfix.drift, req)
    _show(result, as_json, drift=True)
    if result.get("dry_run"):
        return
    if result["outcome"] == "failed":
        bad = [
            r["instance"]
            for r in result["rows"]
            if r["status"] != "Success" or r.get("result") != "success"
        ]
        raise OperationFailed(f"drift could not be checked on: {', '.join(bad)}")
    if result["outcome"] == "drifted":
        drifted = [r["instance"] for r in result["rows"] if r.get("drifted")]
        raise GoldenError(f"drift on {len(drifted)} instance(s): {', '.join(drifted)}", exit_code=1)


def _aws(func, req):
    """botocore failures as one readable line (exit 4), like the release commands."""
    from autoscaling.commands import aws_errors

    return aws_errors(func)(req)
