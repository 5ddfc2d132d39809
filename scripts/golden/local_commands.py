"""`golden local up|down|status`: the full stack on this machine (see localstack.py)."""

from __future__ import annotations

import click

from golden.output import emit


def register(main: click.Group) -> None:
    from golden import bake_standin

    bake_standin.register(local_group)
    main.add_command(local_group)


@click.group("local")
def local_group():
    """The whole platform on this machine: stand-ins for RDS, ElastiCache, Chroma, S3/SSM
    and the twin booted from launch-template user data."""


@local_group.command("up")
@click.option("--port", default=8080, show_default=True, help="127.0.0.1 port of the twin's nginx.")
@click.option("--no-build", is_flag=True, help="Use the twin image as it is.")
@click.option("--json", "as_json", is_flag=True)
def local_up(port, no_build, as_json):
    """Build what is missing, start the stand-ins, seed S3/SSM, boot the twin, wait for
    health, print endpoints and dependency status. Idempotent: a second run reuses all."""
    from golden import localstack

    result = localstack.up(port, build=not no_build)
    deps = localstack.dependency_status(port)
    rows = localstack.status(port)
    if as_json:
        emit({**result, "services": rows, "dependencies": deps}, as_json=True)
        return
    emit(rows, as_json=False, title="local stack (127.0.0.1 only)", rows=rows)
    dep_rows = [{"dependency": k, **v} for k, v in (deps.get("dependencies") or deps).items()
                if isinstance(v, dict)]
    if dep_rows:
        emit(dep_rows, as_json=False, title="dependencies seen by the twin", rows=dep_rows)
    click.echo(f"twin: {result['url']}  (ready in {result['seconds']}s)")
    click.echo("stop: make local-down   (data kept; `golden local down --purge` removes it)")


@local_group.command("down")
@click.option("--purge", is_flag=True, help="Also delete the stand-ins' data (.state/local).")
@click.option("--json", "as_json", is_flag=True)
def local_down(purge, as_json):
    """Stop and remove the twin and every stand-in container; keep data unless --purge."""
    from golden import localstack

    emit(localstack.down(purge=purge), as_json=as_json, title="local stack")


@local_group.command("status")
@click.option("--port", default=8080, show_default=True)
@click.option("--json", "as_json", is_flag=True)
def local_status(port, as_json):
    """What runs, where."""
    from golden import localstack

    rows = localstack.status(port)
    emit(rows, as_json=as_json, title="local stack", rows=rows)
