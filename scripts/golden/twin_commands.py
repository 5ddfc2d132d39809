"""`golden base-image`, `golden wheelhouse`, `golden twin ...`: the local twin's commands."""

from __future__ import annotations

import click

from golden import baseimage, twin
from golden.output import emit


def register(main: click.Group) -> None:
    from golden import bench_bake

    main.add_command(base_image)
    main.add_command(twin_group)
    bench_bake.register(bench_group)
    main.add_command(bench_group)


@click.command("base-image")
@click.option(
    "--suite",
    default="bookworm",
    show_default=True,
    help="Distribution suite to debootstrap (bookworm = Debian 12, jammy = Ubuntu 22.04).",
)
@click.option("--mirror", default=None, help="Package mirror URL (default: the suite's own).")
@click.option("--components", default=None, help="Archive components, comma separated.")
@click.option("--name", default=None, help="Image name (default golden/base:SUITE).")
@click.option("--force", is_flag=True, help="Rebuild even when the inputs are unchanged.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def base_image(suite, mirror, components, name, force, as_json):
    """Build the twin's systemd base image with debootstrap (no registry needed)."""
    spec = baseimage.BaseImageSpec(suite=suite, mirror=mirror, components=components, name=name)
    emit(baseimage.build(spec, force=force), as_json=as_json, title="base image")


@click.group("twin")
def twin_group():
    """Build and run the local twin (the image in a systemd container)."""


@twin_group.command("build")
@click.option("--role", type=click.Choice(twin.ROLES), default="app", show_default=True)
@click.option("--keep", is_flag=True, help="Keep the build container for debugging.")
@click.option("--json", "as_json", is_flag=True, help="Print the build record as JSON.")
def twin_build(role, keep, as_json):
    """Build golden/twin-ROLE:latest through scripts/provision.sh (the one provisioning
    path): base image, wheelhouse, app images, highstate, in-image tests, clean-up."""
    emit(twin.build(role, keep=keep), as_json=as_json, title=f"twin image ({role})")


@twin_group.command("up")
@click.option("--role", type=click.Choice(twin.ROLES), default="app", show_default=True)
@click.option("--name", default=None, help="Container name (default golden-twin-ROLE).")
@click.option("--port", default=8080, show_default=True, help="127.0.0.1 port for nginx.")
@click.option("--seed", "seed_dir", default=None, help="NoCloud seed folder (user-data).")
@click.option("--wait", default=90.0, show_default=True, help="Seconds to wait for /healthz.")
@click.option("--json", "as_json", is_flag=True)
def twin_up(role, name, port, seed_dir, wait, as_json):
    """Boot a twin instance and wait until /healthz answers 200."""
    spec = twin.TwinSpec(
        role=role, name=name or f"golden-twin-{role}", port=port, seed_dir=seed_dir
    )
    emit(twin.up(spec, wait=wait), as_json=as_json, title="twin")


@twin_group.command("down")
@click.option("--name", default="golden-twin-app", show_default=True)
@click.option("--json", "as_json", is_flag=True)
def twin_down(name, as_json):
    """Stop and remove a twin instance."""
    emit(twin.down(name), as_json=as_json, title="twin")


@click.group("bench")
def bench_group():
    """Benchmarks: print tables of measured figures next to their targets."""


@bench_group.command("image")
@click.option("--role", type=click.Choice(twin.ROLES), default="app", show_default=True)
@click.option("--no-base", is_flag=True, help="Do not rebuild the base image.")
@click.option("--port", default=18090, show_default=True)
@click.option("--json", "as_json", is_flag=True)
def bench_image(role, no_base, port, as_json):
    """Base image build, fresh and no-op highstate, start to healthy."""
    from golden import bench_image as bench

    rows = bench.run_bench(role, rebuild_base=not no_base, port=port)
    emit(rows, as_json=as_json, title=f"image benchmark ({role})", rows=rows)
