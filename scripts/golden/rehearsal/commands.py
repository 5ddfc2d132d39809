"""`golden rehearse`: roll images through real instances behind a real load balancer,
under load, and print one row per scenario."""

from __future__ import annotations

import json

import click

from golden.core import output
from golden.core.errors import OperationFailed
from golden.core.output import emit
from golden.rehearsal import plan, run

COLUMNS = ("scenario", "instances", "refresh", "result", "duration_s", "requests", "failed",
           "429", "p95_ms", "launch_to_healthy_s", "memory_mib")  # fmt: skip


def register(main: click.Group) -> None:
    main.add_command(rehearse_command)


@click.command("rehearse")
@click.option("--scenarios", "keys", default="a,b,c,d,e", show_default=True,
              help="Which scenarios (a good release, b bad image, c alarm, d scale-out, "
              "e hotfix); a always runs first.")
@click.option("--users", type=click.IntRange(1, 200), default=50, show_default=True,
              help="Simulated users (think time 1-3 s) during each scenario.")
@click.option("--port", type=int, default=plan.DEFAULT_PORT, show_default=True,
              help="127.0.0.1 port of the load balancer; the emulator takes the next one.")
@click.option("--keep", is_flag=True, help="Leave instances, HAProxy and the emulator up.")
@click.option("--down", "tear_down", is_flag=True,
              help="Remove what a killed rehearsal left (containers, processes) and stop.")
@click.option("--dry-run", is_flag=True, help="Check and show the plan; start nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def rehearse_command(keys, users, port, keep, tear_down, dry_run, as_json):  # noqa: PLR0913
    """Rehearse releases on this machine: instances are twin containers booted from the
    launch template's user data, HAProxy stands in for the ALB with real health checks and
    draining, the AWS APIs are the emulator's, and Locust users load the load balancer
    throughout. Prints one row per scenario; exits 4 when any scenario did not hold.

    About 10-15 minutes on 2 cores the first time (stand-ins, twin image, bakes); bakes
    are reused while their inputs are unchanged. Ctrl-C removes what it started;
    `--down` cleans up after a killed run. What is real and what is emulated:
    docs/rehearsal.md."""
    if tear_down:
        emit(run.down(), as_json=as_json, title="rehearsal clean-up")
        return
    opts = run.Options(names=plan.Names(port).validate(), scenarios=plan.parse_scenarios(keys),
                       users=users, keep=keep)  # fmt: skip
    if dry_run:
        run.preflight(opts)
        result = {
            "scenarios": [plan.SCENARIOS[k].title for k in opts.scenarios],
            "images": [f"{v.label} ({v.origin})" for v in plan.variants_for(opts.scenarios)],
            "ports": opts.names.ports,
            "users": users,
        }
        emit(result, as_json=as_json, title="rehearsal plan (dry run)")
        return
    result = run.rehearse(opts)
    if as_json:
        click.echo(json.dumps(result, indent=2, default=str))
    else:
        # Wide enough for one line per scenario (eleven columns).
        output.print_table("release rehearsal", result["rows"], list(COLUMNS), width=200)
        for row in result["rows"]:
            for problem in row["problems"]:
                click.echo(f"  {row['scenario'][:2]} {problem}", err=True)
    if not result["ok"]:
        raise OperationFailed("rehearsal: a scenario did not hold (see the table)")
