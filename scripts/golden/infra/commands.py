"""`golden infra plan|apply|outputs|destroy ENV`: the foundation stack (autoscaling/stacks/
foundation.yaml) through CloudFormation change sets. Progress goes to stderr, results to
stdout (a table, or JSON with --json)."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console

from autoscaling import commands as release_commands
from autoscaling import settings as env_settings
from autoscaling.aws import Clients
from autoscaling.commands import aws_errors
from autoscaling.progress import Reporter
from golden.core import output
from golden.infra import destroy as destroy_ops
from golden.infra import outputs as outputs_ops
from golden.infra import run, stack

ENV_HELP = "environment name (autoscaling/environments/ENV.yaml) or path to a settings file"


def register(main: click.Group) -> None:
    main.add_command(infra_group)


def _out() -> Console:
    return output.console(160)


def _table(title: str, rows: list[dict], columns: list[str]) -> None:
    output.print_table(title, rows, columns, width=160)


_emit_json = output.print_json


def _wait(poll_seconds: float, timeout_minutes: float) -> stack.Wait:
    return stack.Wait(poll=poll_seconds, timeout=timeout_minutes * 60)


_parameters_option = click.option(
    "--parameters", "parameter_file", type=click.Path(dir_okay=False), default=None,
    help="Parameter file (default: autoscaling/stacks/params/ENV.yaml).")
_json_option = click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")


def _wait_options(func):
    func = click.option("--timeout-minutes", type=click.FloatRange(min=0.01), default=90.0,
                        show_default=True, help="Give up waiting after this long (the "
                        "operation goes on in AWS).")(func)  # fmt: skip
    func = click.option("--poll-seconds", type=click.FloatRange(min=0.0), default=10.0,
                        show_default=True, help="Pause between two reads of the stack.")(func)
    return func


@click.group("infra")
def infra_group() -> None:
    """The foundation stack an environment's images run on (docs/foundation.md): VPC, load
    balancer, security groups, RDS, ElastiCache, buckets, instance profiles, alarms, log
    groups. The Auto Scaling groups and launch templates stay `golden env apply`'s."""


def _reports(ctx: run.Context, result: dict, reporter: Reporter) -> dict:
    """The reports other jobs register under the stack's plan (golden.cost: the monthly
    cost delta), their data put under result["reports"]; returns name -> (lines, data)."""
    reports = release_commands.run_reports(
        release_commands.STACK_PLAN_REPORTS, (ctx.env, ctx.current_parameters, ctx.parameters),
        reporter)  # fmt: skip
    result["reports"] = {name: data for name, (_, data) in reports.items()}
    return reports


def _print_changes(result: dict) -> None:
    if result["no_changes"]:
        _out().print(f"{result['stack']}: no changes; the stack matches the template and "
                     f"parameters.")  # fmt: skip
        return
    _table(f"{result['stack']} ({result['change_set_type']}, {result['region']})",
           result["changes"],
           ["action", "logical_id", "type", "physical_id", "replacement", "note"])  # fmt: skip


@infra_group.command("plan")
@click.argument("env")
@_parameters_option
@_json_option
@aws_errors
def infra_plan(env, parameter_file, as_json):
    """Show the change set `golden infra apply ENV --yes` would execute (nothing is left
    behind: the change set is deleted again).

    Parameters are checked first, naming the key: the settings give names, ports, buckets,
    paths and the timeout chain; the parameter file gives the rest (CIDRs inside the VPC
    and not overlapping, two zones of the region, ARN forms). Under the table: what the
    change adds to the environment's month and a warning when it crosses budget_usd (the
    report golden cost registers).
    """
    reporter = Reporter()
    ctx = run.prepare(env, parameter_file, stack.Wait(poll=1.0, timeout=600.0),
                      reporter.info)  # fmt: skip
    result = run.plan(ctx)
    reports = _reports(ctx, result, reporter)
    if as_json:
        _emit_json(result)
    else:
        _print_changes(result)
        release_commands.print_reports(reports)


@infra_group.command("apply")
@click.argument("env")
@_parameters_option
@click.option("--yes", is_flag=True, help="Execute the change set (without it: show it only).")
@_json_option
@_wait_options
@aws_errors
def infra_apply(env, parameter_file, yes, as_json, poll_seconds, timeout_minutes):
    """Create or update the foundation stack through a change set, shown first; executed
    only with --yes, then followed until it ends (each resource's events on stderr).

    A second apply with nothing changed changes nothing. A failed creation is rolled back
    by CloudFormation; the failed resources and their reasons are printed with the command
    that removes the rolled-back stack. Exit codes: 0 applied (or nothing to do), 2 bad
    input, 3 refused before any change, 4 CloudFormation failed.
    """
    reporter = Reporter()
    ctx = run.prepare(env, parameter_file, _wait(poll_seconds, timeout_minutes), reporter.info)
    result = run.apply(ctx, yes)
    reports = _reports(ctx, result, reporter)
    if as_json:
        _emit_json(result)
        return
    _print_changes(result)
    release_commands.print_reports(reports)
    if result["no_changes"]:
        return
    if not result["executed"]:
        reporter.info("plan only: add --yes to execute it")
        return
    _table(f"{result['stack']} outputs",
           [{"output": k, "value": v} for k, v in sorted(result["outputs"].items())],
           ["output", "value"])  # fmt: skip
    for name in result["secrets_missing"]:
        reporter.info(f"put the secret before instances boot: aws ssm put-parameter --region "
                      f"{result['region']} --type SecureString --name {name} --value '...'")
    reporter.info(f"next: golden infra outputs {ctx.env.name} --write (the settings take the "
                  f"stack's subnets, groups, profiles, endpoints and alarms)")  # fmt: skip


@infra_group.command("outputs")
@click.argument("env")
@click.option("--write", is_flag=True,
              help="Write the stack's values into the settings file (the diff is shown first).")
@_json_option
@aws_errors
def infra_outputs(env, write, as_json):
    """The foundation stack's outputs, and where the settings disagree with them (subnets,
    security groups, target groups, instance profiles, alarms, endpoints, buckets, paths).
    With --write those keys and foundation_stack are written into the settings file."""
    environment = env_settings.load(env)
    clients = Clients.for_env(environment)
    name = run.stack_name(environment)
    outputs = run.outputs_of(clients.cloudformation, name, environment.name)
    problems = outputs_ops.compare(environment, clients, outputs)
    changes = [(path, want) for path, _have, want in problems]
    diff = ""
    if write:
        path = Path(environment.path)
        before = path.read_text(encoding="utf-8")
        after = outputs_ops.updated_text(before, changes, name)
        diff = outputs_ops.diff(path, before, after)
        click.echo(diff or f"{path}: already agrees with {name}", err=as_json)
        if after != before:
            path.write_text(after, encoding="utf-8")
            Reporter().info(f"wrote {path}")
    if as_json:
        _emit_json({"stack": name, "outputs": outputs, "written": bool(write and diff),
                    "disagreements": [{"key": ".".join(p), "settings": h, "stack": w}
                                      for p, h, w in problems]})  # fmt: skip
        return
    _table(f"{name} outputs", [{"output": k, "value": v} for k, v in sorted(outputs.items())],
           ["output", "value"])  # fmt: skip
    if problems and not write:
        _table("settings that disagree with the stack (golden infra outputs ENV --write)",
               [{"key": ".".join(p), "settings": h, "stack": w} for p, h, w in problems],
               ["key", "settings", "stack"])  # fmt: skip


@infra_group.command("destroy")
@click.argument("env")
@click.option("--yes", is_flag=True, help="Delete (without it: say what would happen).")
@click.option("--delete-data", is_flag=True,
              help="Also delete the data stores (database, cache, Chroma volume: no final "
                   "snapshot; the uploads bucket and its objects).")
@click.option("--confirm", default=None, metavar="ENV",
              help="The environment's name, typed: required for prod or a stack with "
                   "DeletionProtection true.")
@_json_option
@_wait_options
@aws_errors
def infra_destroy(env, yes, delete_data, confirm, as_json, poll_seconds, timeout_minutes):
    """Delete the foundation stack. Data stores are kept (final snapshots of the database,
    cache and Chroma volume; the uploads bucket itself) unless --delete-data. Refused while
    the environment's Auto Scaling groups exist, and for a protected stack without
    --confirm ENV."""
    reporter = Reporter()
    result = destroy_ops.destroy(destroy_ops.Request(
        env, yes, delete_data, confirm, _wait(poll_seconds, timeout_minutes), reporter.info))
    if as_json:
        _emit_json(result)
        return
    verb = "deleted" if result.get("deleted") else "would delete"
    _out().print(f"{result['stack']}: {verb}" + (f" ({result['note']})" if "note" in result
                                                 else ""))  # fmt: skip
    done = bool(result.get("deleted"))
    for bucket in result.get("emptied") or []:
        _out().print(f"  {'emptied' if done else 'would empty'} first: {bucket}", markup=False)
    for line in result.get("kept") or []:
        _out().print(f"  {'kept' if done else 'would keep'}: {line}", markup=False)
    if not yes and "note" not in result:
        reporter.info("dry run: add --yes to delete")
