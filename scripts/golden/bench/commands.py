"""`golden bench image|bake|load`: benchmarks that print tables of measured figures next
to their targets (image steps, bake times, load)."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, replace
from pathlib import Path

import click

from golden.bench import bake as bench_bake
from golden.bench import image as bench_image
from golden.bench import load as bench_load
from golden.core import provenance
from golden.core.errors import ConfigError
from golden.core.output import emit
from golden.twin import build as twin


def register(main: click.Group) -> None:
    main.add_command(bench_group)


@click.group("bench")
def bench_group():
    """Benchmarks: print tables of measured figures next to their targets."""


@bench_group.command("image")
@click.option("--role", type=click.Choice(twin.ROLES), default="app", show_default=True)
@click.option("--no-base", is_flag=True, help="Do not rebuild the base image.")
@click.option("--port", default=18090, show_default=True)
@click.option("--json", "as_json", is_flag=True)
def image_command(role, no_base, port, as_json):
    """Base image build, fresh and no-op highstate, start to healthy."""
    rows = bench_image.run_bench(role, rebuild_base=not no_base, port=port)
    emit(rows, as_json=as_json, title=f"image benchmark ({role})", rows=rows)


@bench_group.command("bake")
@click.option(
    "--role",
    "roles",
    multiple=True,
    type=click.Choice(bench_bake.ROLES),
    help="Roles to time (repeatable; default app and chroma).",
)
@click.option(
    "--repository",
    default=bench_bake.REPOSITORY,
    show_default=True,
    help="Where the tested bench images are tagged ({role} is replaced).",
)
@click.option(
    "--container-prefix",
    default=bench_bake.CONTAINER_PREFIX,
    show_default=True,
    help="Name prefix of Packer's build containers.",
)
@click.option("--keep", is_flag=True, help="Keep the baked images afterwards.")
@click.option("--dry-run", is_flag=True, help="Print the bakes it would run; bake nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def bake_command(roles, repository, container_prefix, keep, dry_run, as_json):  # fmt: skip
    """Local bake times: one stage (role from the OS image) against two (base, then
    the role from the base). Five real bakes for both roles; about 10-15 minutes."""
    result = bench_bake.run_bench(
        roles or bench_bake.ROLES,
        repo=provenance.repo_root(),
        repository=repository,
        container_prefix=container_prefix,
        keep=keep,
        dry_run=dry_run,
    )
    if dry_run or as_json:
        emit(
            result,
            as_json=as_json,
            title="bake benchmark (dry run)",
            rows=None if as_json else result["bakes"],
        )
        return
    emit(result, as_json=False, title="local bake times, one stage vs two",
         rows=result["rows"])  # fmt: skip


def _ints(value: str, option: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in value.split(",") if v.strip())
    except ValueError:
        raise ConfigError(
            f"{option}: expected comma-separated integers, got {value!r}"
        ) from None

@bench_group.command("load")
@click.option("--quick", is_flag=True, help="2-minute smoke: 200 users only, short runs.")
@click.option(
    "--levels", default=None, help="User counts for the think-time runs [100,200,400,800]."
)
@click.option(
    "--duration", type=int, default=None, help="Seconds measured per think-time run [35]."
)
@click.option("--connections", default=None, help="Closed-loop wrk connections [50,200].")
@click.option(
    "--closed-seconds",
    type=int,
    default=None,
    help="Seconds per closed-loop level, split in 3 interleaved rounds [45].",
)
@click.option("--think", default=None, help="Think time MIN,MAX seconds [1,5].")
@click.option(
    "--port-base",
    type=int,
    default=bench_load.PORT_RANGE[0],
    show_default=True,
    help="127.0.0.1 ports BASE..BASE+2.",
)
@click.option("--image", "twin_image", default="golden/twin-app:latest", show_default=True)
@click.option(
    "--out", "out_dir", default=None, help="Results folder [build/bench/load-TIMESTAMP]."
)
@click.option("--keep", is_flag=True, help="Leave the containers running afterwards.")
@click.option("--dry-run", is_flag=True, help="Print the plan and its duration; start nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def load_command(
    quick,
    levels,
    duration,
    connections,
    closed_seconds,
    think,
    port_base,
    twin_image,
    out_dir,
    keep,
    dry_run,
    as_json,
):
    """The single uvicorn baseline and the golden image under the same load.

    Runs Locust (tests/load/locustfile.py) at each user count against both, wrk closed
    loop against both, nginx vs one replica, a 100 MB upload, boot-to-healthy; prints
    the tables, ratios and targets; writes results.csv, summary.json and a PNG plot."""
    plan = bench_load.QUICK if quick else bench_load.Plan()
    changes = {}
    if levels:
        changes["levels"] = _ints(levels, "--levels")
    if duration:
        changes["think_seconds"] = duration
    if connections:
        changes["saturation_connections"] = _ints(connections, "--connections")
    if closed_seconds:
        changes["saturation_seconds"] = closed_seconds
    if think:
        try:
            lo, hi = (float(v) for v in think.split(","))
        except ValueError:
            raise ConfigError(f"--think: expected MIN,MAX seconds, got {think!r}") from None
        changes.update(think_min=lo, think_max=hi)
    plan = replace(plan, **changes).validate()
    names = bench_load.Names(port_base=port_base).validate()
    if dry_run:
        out = {
            "plan": asdict(plan),
            "estimated_seconds": round(plan.estimate_seconds()),
            "ports": names.ports(),
        }
        click.echo(
            json.dumps(out, indent=2)
            if as_json
            else bench_load.render_table(
                [{"setting": k, "value": str(v)} for k, v in out["plan"].items()]
                + [
                    {
                        "setting": "ports (twin, baseline api, baseline web)",
                        "value": ", ".join(str(p) for p in out["ports"].values()),
                    },
                    {
                        "setting": "estimated wall time (s)",
                        "value": str(out["estimated_seconds"]),
                    },
                ]
            )
        )
        return
    folder = (
        Path(out_dir)
        if out_dir
        else provenance.REPO / "build" / "bench" / time.strftime("load-%Y%m%d-%H%M%S")
    )
    summary = bench_load.run_bench(
        plan, out_dir=folder, names=names, twin_image=twin_image, keep=keep
    )
    if as_json:
        click.echo(json.dumps(summary, indent=2, default=bench_load._jsonable))
    else:
        click.echo(bench_load.report(summary))
