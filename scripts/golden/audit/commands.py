"""`golden audit [ENV]`: the image checked with lynis, ssh-audit and gixy, as one table."""

from __future__ import annotations

import click

from golden.core.errors import GoldenError
from golden.core.output import emit


def register(main: click.Group) -> None:
    main.add_command(audit_command)


@click.command("audit")
@click.argument("env", default="local")
@click.option("--role", type=click.Choice(("app", "chroma")), default="app", show_default=True,
              help="Which role's Auto Scaling group (ENV other than local).")
@click.option("--twin", default="golden-local-app", show_default=True,
              help="ENV local: the twin container.")
@click.option("--instance", default=None, help="The instance to audit (default: the group's "
              "first InService instance).")
@click.option("--min-hardening-index", type=click.IntRange(0, 100), default=80,
              show_default=True, help="lynis hardening index that passes.")
@click.option("--ssh-port", type=click.IntRange(1, 65535), default=22, show_default=True)
@click.option("--timeout-minutes", type=click.FloatRange(min=1), default=20,
              show_default=True, help="Bound on the whole audit on the target.")
@click.option("--poll-seconds", type=click.FloatRange(min=0.001), default=5.0,
              show_default=True, help="Pause between two polls of the SSM command.")
@click.option("--details", is_flag=True, help="Also list every warning, suggestion, failure "
              "and finding.")
@click.option("--json", "as_json", is_flag=True, help="Print the whole result as JSON.")
def audit_command(env, role, twin, instance, min_hardening_index, ssh_port, timeout_minutes,
                  poll_seconds, details, as_json):
    """Audit the running twin (ENV `local`, the default) or an instance of ENV's group
    over SSM: lynis inside it (leaving nothing behind), ssh-audit against its sshd, gixy on
    its nginx configuration, its security headers and the security updates pending when
    it was baked. Exit 0 when every target is met, 1 when one is missed, 4 when the audit
    could not run."""
    from golden.audit import reports
    from golden.audit import run as audit

    req = audit.Request(env=env, role=role, twin=twin, instance=instance, ssh_port=ssh_port,
                        targets=reports.Targets(min_hardening_index=min_hardening_index),
                        timeout_minutes=timeout_minutes, poll_seconds=poll_seconds)  # fmt: skip
    result = audit.audit(req)
    if as_json:
        emit(result, as_json=True)
    else:
        target = result["target"]
        where = target.get("name") or f"{target.get('group')} {target.get('instance')}"
        emit(result["rows"], as_json=False, rows=result["rows"], title=f"golden audit: {where}")
        if details and result["details"]:
            emit(result["details"], as_json=False, rows=result["details"], title="details")
    if result["missed"]:
        raise GoldenError(f"audit: target missed: {', '.join(result['missed'])}", exit_code=1)
