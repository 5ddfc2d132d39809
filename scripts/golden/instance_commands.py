"""`golden instance ...`: commands that run ON an instance (from /opt/salt/bin/golden)."""

from __future__ import annotations

import click

from golden.output import emit


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
    from golden import instance_boot as boot

    result = boot.boot()
    emit(result, as_json=as_json, title="golden boot")
