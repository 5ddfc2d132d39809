"""`golden bench image|bake|load`: benchmarks that print tables of measured figures next
to their targets (image steps, bake times, load)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import click

from golden.bench import bake as bench_bake
from golden.bench import cutover as bench_cutover
from golden.bench import image as bench_image
from golden.bench import layouts, runner, workload
from golden.bench import report as bench_report
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


@bench_group.command("cutover")
@click.argument("env", default="local")
@click.option("--from", "root", default=None, type=click.Path(path_type=Path),
              help="A single server's data folder [one made under build/bench/cutover].")
@click.option("--rows", default=200_000, show_default=True, help="Rows of the made source.")
@click.option("--mb", default=200, show_default=True, help="Upload megabytes of the made "
              "source.")
@click.option("--files", default=20, show_default=True, help="Files they are split into.")
@click.option("--vectors", "vectors_n", default=10_000, show_default=True,
              help="Vectors of the made source (384 dimensions).")
@click.option("--ca-bundle", default=None, help="As for golden cutover.")
@click.option("--json", "as_json", is_flag=True)
def cutover_command(env, root, rows, mb, files, vectors_n, ca_bundle, as_json):
    """rows/s, MB/s and vectors/s of the cutover's movers against ENV's services (the
    app's data is not touched: staging schema, a bench prefix, bench collections)."""
    from golden.cutover import plan as cutover_plan
    from golden.cutover import target as cutover_target

    if root is None:
        root = bench_cutover.make_source(
            provenance.repo_root() / "build" / "bench" / "cutover" / "source",
            rows=rows, mb=mb, files=files, vectors_n=vectors_n)
    target = cutover_target.resolve(env, ca_bundle=ca_bundle)
    result = bench_cutover.run_bench(cutover_plan.layout(root), target)
    emit(result, as_json=as_json, title=f"cutover throughput ({target.environment})",
         rows=result)


def _names_option(allowed: tuple[str, ...]):
    """A click callback: a comma list of ``allowed`` names, or a usage error naming the
    option and the allowed values (before anything starts)."""

    def parse(ctx: click.Context, param: click.Parameter, value: str | None):
        if value is None:
            return None
        try:
            return ",".join(workload.parse_names(value, param.opts[0], allowed))
        except ConfigError as exc:
            raise click.BadParameter(str(exc).split(": ", 1)[1], ctx, param) from None

    return parse


@bench_group.command("load")
@click.option("--quick", is_flag=True, help="2-minute smoke: 200 users only, short runs.")
@click.option(
    "--layouts",
    "layout_names",
    default=None,
    callback=_names_option(workload.LAYOUTS),
    help="Layouts to measure, a comma list of " + ",".join(workload.LAYOUTS) + " [all].",
)
@click.option(
    "--parts",
    "part_names",
    default=None,
    callback=_names_option(workload.PARTS),
    help="Parts to run, a comma list of " + ",".join(workload.PARTS)
    + " [every part that measures a selected layout].",
)
@click.option(
    "--plan-workers",
    type=click.IntRange(1, 64),
    default=workload.PLAN_WORKERS,
    show_default=True,
    help="gunicorn workers of the plan layout (the plan's `-w 4`).",
)
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
    default=layouts.PORT_RANGE[0],
    show_default=True,
    help="127.0.0.1 ports BASE..BASE+3.",
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
    layout_names,
    part_names,
    plan_workers,
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
    """The single uvicorn baseline, the plan's own layout (one gunicorn, uvicorn workers)
    and the golden image under the same load.

    Runs Locust (tests/load/locustfile.py) at each user count against each layout, the wrk
    closed loop in rounds interleaved over them, nginx vs one replica, a 100 MB upload
    (baseline and golden), boot-to-healthy; prints the tables, ratios and targets; writes
    results.csv, summary.json and a PNG plot. --layouts and --parts pick a subset, e.g.
    `--parts closed --layouts plan,golden`."""
    plan = workload.plan_from_options(
        quick=quick,
        layouts=layout_names,
        parts=part_names,
        plan_workers=plan_workers,
        levels=levels,
        duration=duration,
        connections=connections,
        closed_seconds=closed_seconds,
        think=think,
    )
    names = layouts.Names(port_base=port_base).validate()
    if dry_run:
        preview = bench_report.plan_preview(plan, names.ports())
        click.echo(
            json.dumps(preview, indent=2) if as_json else bench_report.render_plan_preview(preview)
        )
        return
    folder = (
        Path(out_dir)
        if out_dir
        else provenance.REPO / "build" / "bench" / time.strftime("load-%Y%m%d-%H%M%S")
    )
    summary = runner.run_bench(plan, out_dir=folder, names=names, twin_image=twin_image, keep=keep)
    if as_json:
        click.echo(json.dumps(summary, indent=2, default=bench_report.jsonable))
    else:
        click.echo(bench_report.report(summary))
