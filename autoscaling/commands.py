"""`golden env`, `golden release`, `golden status`, `golden rollback`, `golden amis`.

Each command parses, calls one orchestration function and prints: progress and errors on
stderr, the result on stdout (a table, or JSON with --json).
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable
from datetime import timedelta

import click
from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError
from golden.core import output
from golden.core.errors import ConfigError, GoldenError, OperationFailed

from autoscaling import amis as amis_ops
from autoscaling import envapply, refresh, settings, supplychain
from autoscaling import migration as migration_ops
from autoscaling import release as release_ops
from autoscaling import rollback as rollback_ops
from autoscaling import status as status_ops
from autoscaling.aws import Clients
from autoscaling.progress import Reporter

ENV_HELP = "environment name (autoscaling/environments/ENV.yaml) or path to a settings file"

# Reports that other jobs print under `golden env plan` and `golden env apply`'s plan, by
# name (golden.cost registers "cost": the monthly cost delta and the budget warning).
# Each is called with (environment, clients, plans) and returns (lines, data); its lines
# follow the plan, its data goes under "reports" in --json. A report that fails is a note
# on stderr: it never fails or blocks the plan.
PLAN_REPORTS: dict[str, Callable] = {}
# Reports that other jobs print under `golden infra plan` and `golden infra apply`, the
# same way (golden.cost registers "cost": the monthly delta of the stack's change). Each
# is called with (environment, current, planned): the stack's parameter values now
# ({ParameterKey: text}, None when there is no stack yet) and those the change set
# deploys. Here, below both golden.infra and golden.cost, so neither imports the other.
STACK_PLAN_REPORTS: dict[str, Callable] = {}


def register(main: click.Group) -> None:
    for command in (env_group, release, status, rollback, amis_group):
        main.add_command(command)


def aws_errors(func):
    """botocore failures become one readable line and exit code 4 (via GoldenError)."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except GoldenError:
            raise
        except EndpointConnectionError as exc:
            raise OperationFailed(
                f"cannot reach the AWS endpoint {exc.kwargs.get('endpoint_url')}"
                f" (for the `local` environment start the emulator: make "
                f"emulator)"
            ) from None
        except ClientError as exc:
            err = exc.response.get("Error", {})
            raise OperationFailed(
                f"AWS {exc.operation_name} failed: {err.get('Code')}: {err.get('Message')}"
            ) from None
        except BotoCoreError as exc:
            raise OperationFailed(f"AWS call failed: {exc}") from None

    return wrapper


_out = output.console
_emit_json = output.print_json
_table = output.print_table


def _load(env: str) -> tuple[settings.Environment, Clients]:
    environment = settings.load(env)
    return environment, Clients.for_env(environment)


def _timing(
    role: settings.Role, poll_min: float, poll_max: float, timeout_minutes: float | None
) -> refresh.Timing:
    if poll_max < poll_min:
        raise ConfigError("--poll-max-seconds: expected a value >= --poll-min-seconds")
    minutes = timeout_minutes or role.refresh["timeout_minutes"]
    return refresh.Timing(min_interval=poll_min, max_interval=poll_max, timeout=minutes * 60)


WAIT_KEYS = ("poll_min_seconds", "poll_max_seconds", "timeout_minutes")  # _wait_options


def _wait_options(func):
    func = click.option(
        "--timeout-minutes",
        type=click.FloatRange(min=0.01),
        default=None,
        help="Give up waiting after this long (default: the role's "
        "refresh.timeout_minutes). The refresh goes on in AWS.",
    )(func)
    func = click.option(
        "--poll-max-seconds",
        type=click.FloatRange(min=0.001),
        default=float(os.environ.get("GOLDEN_POLL_MAX_SECONDS", 30)),
        show_default=True,
        help="Longest pause between two status polls.",
    )(func)
    func = click.option(
        "--poll-min-seconds",
        type=click.FloatRange(min=0.001),
        default=float(os.environ.get("GOLDEN_POLL_MIN_SECONDS", 5)),
        show_default=True,
        help="Shortest pause between two polls (the interval grows while nothing changes).",
    )(func)
    return func


# -- env ----------------------------------------------------------------------------------------
@click.group("env")
def env_group() -> None:
    """Make launch templates, Auto Scaling groups and scaling policies match the settings."""


def _print_plan(plans, env_name: str) -> None:
    out = _out()
    total = sum(len(p.steps) for p in plans)
    if not total:
        out.print(f"{env_name}: no changes; AWS matches the settings.")
    for plan in plans:
        for step in plan.steps:
            out.print(f"[bold]{plan.role}[/bold]: {step.summary}")
            for field_name, before, after in step.diff:
                out.print(f"    {field_name}: {_brief(before)} -> {_brief(after)}", markup=False)
        for note in plan.notes:
            out.print(f"note: {note}", markup=False)


def run_reports(registry: dict[str, Callable], args: tuple, reporter: Reporter) -> dict:
    """Call every report of REGISTRY (PLAN_REPORTS, STACK_PLAN_REPORTS) with ARGS; returns
    name -> (lines, data). A report that fails is a note on stderr, never an error."""
    out = {}
    for name, report in registry.items():
        try:
            out[name] = report(*args)
        except Exception as exc:  # an optional report never blocks the plan
            kind = "" if isinstance(exc, GoldenError) else f"{type(exc).__name__}: "
            reporter.info(f"note: {name} report not available: {kind}{exc}")
    return out


def _plan_reports(environment, clients, plans, reporter: Reporter) -> dict:
    """Run every registered plan report; returns name -> (lines, data)."""
    return run_reports(PLAN_REPORTS, (environment, clients, plans), reporter)


def print_reports(reports: dict) -> None:
    """Each report's lines on stdout, in registration order."""
    for lines, _ in reports.values():
        for line in lines:
            _out().print(line, markup=False)


def _brief(value) -> str:
    text = json.dumps(value, default=str, sort_keys=True) if not isinstance(value, str) else value
    if "\n" in text:
        text = f"<{text.count(chr(10))} lines>"
    return text if len(text) <= 160 else text[:157] + "..."


@env_group.command("plan")
@click.argument("env")
@click.option(
    "--role",
    "roles",
    multiple=True,
    type=click.Choice(settings.ROLES),
    help="Only this role (repeatable; default: every role in the settings).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
@aws_errors
def env_plan(env, roles, as_json):
    """Show what `golden env apply ENV` would change (read-only).

    ENV is a name (autoscaling/environments/ENV.yaml) or a path to a settings file.
    """
    environment, clients = _load(env)
    plans = envapply.plan(environment, clients, list(roles) or None)
    reports = _plan_reports(environment, clients, plans, Reporter())
    if as_json:
        _emit_json(
            {
                "environment": environment.name,
                "plans": [p.as_dict() for p in plans],
                "changes": sum(len(p.steps) for p in plans),
                "reports": {name: data for name, (_, data) in reports.items()},
            }
        )
    else:
        _print_plan(plans, environment.name)
        print_reports(reports)


@env_group.command("apply")
@click.argument("env")
@click.option(
    "--role",
    "roles",
    multiple=True,
    type=click.Choice(settings.ROLES),
    help="Only this role (repeatable).",
)
@click.option("--yes", is_flag=True, help="Apply the plan (without it: show it only).")
@click.option("--dry-run", is_flag=True, help="Show the plan and change nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print plan and result as JSON.")
@aws_errors
def env_apply(env, roles, yes, dry_run, as_json):
    """Create or update the launch template, group and scaling policy of each role.

    Prints the plan first and applies it only with --yes; when AWS already matches the
    settings nothing is changed. Every launch-template version written requires IMDSv2
    and encrypted gp3 volumes; the group always names an explicit version.
    """
    environment, clients = _load(env)
    reporter = Reporter()
    plans = envapply.plan(environment, clients, list(roles) or None)
    reports = _plan_reports(environment, clients, plans, reporter)
    changes = sum(len(p.steps) for p in plans)
    execute = yes and not dry_run and changes > 0
    if not as_json:
        _print_plan(plans, environment.name)
        print_reports(reports)
    done = []
    if execute:
        done = envapply.apply(environment, clients, plans, progress=reporter.info)
        reporter.info(f"applied {len(done)} change(s) to {environment.name}")
    elif changes and not yes:
        reporter.info("plan only: add --yes to apply it")
    if as_json:
        _emit_json(
            {
                "environment": environment.name,
                "plans": [p.as_dict() for p in plans],
                "changes": changes,
                "applied": done,
                "dry_run": not execute,
                "reports": {name: data for name, (_, data) in reports.items()},
            }
        )


# -- release ------------------------------------------------------------------------------------
@click.command("release")
@click.argument("env")
@click.option(
    "--role",
    required=True,
    type=click.Choice(settings.ROLES),
    help="Which role's group to release to.",
)
@click.option(
    "--ami", required=True, help="AMI id, or 'latest' for the newest tested AMI of the role."
)
@click.option(
    "--migrate",
    "migrate",
    metavar="CMD",
    default=None,
    help="The app's migration command (e.g. 'alembic upgrade head'), run once with the new "
    "image and the environment's settings on a one-off instance before the refresh; a "
    "failure stops the release with nothing rolled (default: the role's migration.command).",
)
@click.option(
    "--migrate-service",
    default=None,
    help="The app:services service whose container runs it (default: the role's "
    "migration.service, else app:healthz_service).",
)
@click.option(
    "--migrate-timeout",
    type=click.IntRange(min=30, max=172800),
    default=None,
    help="Seconds the migration command may run (default: the role's "
    f"migration.timeout_seconds, else {migration_ops.DEFAULT_TIMEOUT_SECONDS}).",
)
@click.option("--dry-run", is_flag=True, help="Run the pre-flight and show the plan only.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@_wait_options
@aws_errors
def release(env, role, ami, migrate, migrate_service, migrate_timeout, dry_run, as_json, **wait):
    """Roll an AMI through ENV's Auto Scaling group for ROLE, with health gates and
    automatic rollback.

    \b
    Pre-flight (nothing changes if any check fails, exit 3):
      the AMI exists in the region, is available, tagged golden:role=ROLE and
      golden:tested=true, not deprecated; the launch template and group exist; the group
      names an explicit launch-template version; no other refresh is active; every
      gating alarm exists and is not in ALARM; the group's desired capacity is above 0.
    A release is its whole launch data (AMI, user data rendered now, every other launch
    parameter): when the group already runs it, nothing is done (exit 0).
    Then: a launch-template version with that data (reused if one exists, else created
    from the current one), StartInstanceRefresh with that version in
    DesiredConfiguration only, AutoRollback, the role's gating alarms, min/max healthy %,
    warmup, checkpoints and bake time. A progress bar follows the refresh; on success
    every instance is checked (new AMI, new version, healthy targets) and the version
    becomes the default; when that check fails the error names the state and the
    rollback command.

    \b
    Example (against the local emulator):
      $ golden release local --role app --ami latest
      release ami-0f3c... to local/app (group golden-local-app, region us-east-1)
      created launch template golden-local-app version 3 (from version 2)
      started instance refresh 5d0e...: golden-local-app -> version 3
        InProgress          50%  1 instance(s) left  Checkpoint 50% reached.
        Baking             100%  0 instance(s) left  Waiting for the bake time to end.
        Successful         100%  0 instance(s) left
      done: every instance of golden-local-app runs ami-0f3c... (version 3, now the default)

    With --migrate CMD, CMD runs once before the refresh on a one-off instance of the
    new version, outside the group; a failure stops the release, nothing rolled (exit
    4). A release that rolls nothing (already released, attaching) runs no migration.

    If new instances fail their health checks or a gating alarm fires, AWS rolls the
    group back; the command exits 4 with AWS's reason and what the group runs now.
    Interrupted? Run the same command again: it attaches to the refresh in flight (only
    if that refresh's version holds exactly this release's launch data).
    Exit codes: 0 released or already released, 2 bad input, 3 refused by pre-flight,
    4 failed/rolled back/not verified.
    """
    environment, clients = _load(env)
    role_settings = environment.role(role)
    opts = release_ops.Options(
        dry_run=dry_run,
        reporter=Reporter(),
        timing=_timing(role_settings, *(wait[k] for k in WAIT_KEYS)),
        migration=migration_ops.resolve(
            role_settings, migrate, migrate_service, migrate_timeout, str(environment.path)
        ),
    )
    result = release_ops.release(environment, clients, role, ami, opts)
    _print_result(result, as_json, "release")


def _print_result(result: dict, as_json: bool, title: str) -> None:
    if as_json:
        _emit_json(result)
        return
    rows = result.get("instances")
    hidden = ("instances", "preferences", "changes", "steps", "migration")
    summary = {k: v for k, v in result.items() if k not in hidden}
    _table(title, [{"key": k, "value": _brief(v)} for k, v in summary.items()], ["key", "value"])
    if result.get("changes"):
        _table(
            "launch template changes",
            [
                {"field": k, "before": _brief(b), "after": _brief(a)}
                for k, (b, a) in result["changes"].items()
            ],
            ["field", "before", "after"],
        )
    if result.get("steps"):
        _table(
            "plan", [{"n": n, "step": s} for n, s in enumerate(result["steps"], 1)], ["n", "step"]
        )
    if result.get("migration"):
        _table(
            "migration",
            [{"key": k, "value": _brief(v)} for k, v in result["migration"].items()],
            ["key", "value"],
        )
    if rows:
        _table(
            "instances",
            rows,
            [
                "instance_id",
                "ami",
                "launch_template_version",
                "lifecycle",
                "health",
                "targets",
                "zone",
            ],
        )


# -- status / rollback --------------------------------------------------------------------------
@click.command("status")
@click.argument("env")
@click.option(
    "--role",
    "roles",
    multiple=True,
    type=click.Choice(settings.ROLES),
    help="Only this role (repeatable).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
@aws_errors
def status(env, roles, as_json):
    """Per role: the group, its launch-template version, the refresh in flight, and each
    instance's AMI, launch-template version and health (read-only)."""
    environment, clients = _load(env)
    result = status_ops.status(environment, clients, list(roles) or None)
    if as_json:
        _emit_json(result)
        return
    for entry in result["roles"]:
        if not entry["exists"]:
            _out().print(
                f"{entry['role']}: group {entry['group']} does not exist "
                f"(golden env apply {environment.name})"
            )
            continue
        last = entry.get("last_refresh") or {}
        _out().print(
            f"[bold]{entry['role']}[/bold] {entry['group']}: launch template "
            f"{entry['launch_template']} version {entry['group_version']} (default "
            f"{entry['default_version']}), capacity {entry['capacity']}; refresh "
            f"{'IN FLIGHT ' if entry['refresh_in_flight'] else ''}"
            f"{last.get('status', 'none')} {last.get('percentage', '')}"
        )
        _table(
            f"{entry['role']} instances",
            entry["instances"],
            [
                "instance_id",
                "ami",
                "launch_template_version",
                "lifecycle",
                "health",
                "targets",
                "zone",
            ],
        )


@click.command("rollback")
@click.argument("env")
@click.option("--role", required=True, type=click.Choice(settings.ROLES))
@click.option(
    "--to-version",
    type=click.IntRange(min=1),
    default=None,
    help="Go to this known-good launch-template version (default: the one before the "
    "group's). With it a retry is safe: a group already on it is left alone.",
)
@click.option("--dry-run", is_flag=True, help="Say what would be done; change nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@_wait_options
@aws_errors
def rollback(
    env, role, to_version, dry_run, as_json, poll_min_seconds, poll_max_seconds, timeout_minutes
):
    """Roll ROLE back: RollbackInstanceRefresh while a refresh is active, otherwise a
    release of the previous known-good launch-template version (recorded on the template
    by every successful release), or of --to-version.

    Without --to-version every run goes one known-good version further back, so a retry
    of a rollback that went through rolls back again; in scripts and CI use
    --to-version N (`--dry-run` shows N): a group already on N is left alone (exit 0).
    """
    environment, clients = _load(env)
    role_settings = environment.role(role)
    opts = release_ops.Options(
        dry_run=dry_run,
        reporter=Reporter(),
        timing=_timing(role_settings, poll_min_seconds, poll_max_seconds, timeout_minutes),
    )
    result = rollback_ops.rollback(environment, clients, role, opts, to_version)
    _print_result(result, as_json, "rollback")


# -- amis ---------------------------------------------------------------------------------------
@click.group("amis")
def amis_group() -> None:
    """List and prune golden AMIs (region and endpoint from --env, else AWS_REGION)."""


def _ami_clients(env: str | None, region: str | None) -> Clients:
    if env:
        environment = settings.load(env)
        return Clients(region or environment.region, environment.endpoint_url)
    region = region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if not region:
        raise ConfigError("--env/--region: give an environment or a region (or set AWS_REGION)")
    return Clients(region)


_env_option = click.option(
    "--env", "env", default=None, help=ENV_HELP + " (for region and endpoint)"
)
_region_option = click.option("--region", default=None, help="AWS region (overrides --env's).")


@amis_group.command("list")
@click.option("--role", required=True, type=click.Choice(("app", "chroma", "base")))
@_env_option
@_region_option
@click.option("--json", "as_json", is_flag=True, help="Print the list as JSON.")
@aws_errors
def amis_list(role, env, region, as_json):
    """AMIs of ROLE owned by this account (disabled ones too), newest first, with
    provenance, lifecycle stage (in use, available, deprecated, disabled), deregistration
    protection and deprecation time."""
    rows = amis_ops.list_images(_ami_clients(env, region), role)
    if as_json:
        _emit_json(rows)
        return
    for row in rows:
        row["protected"] = row["deregistration_protection"]
    _table(
        f"{role} AMIs",
        rows,
        ["image_id", "stage", "version", "tested", "protected", "deprecation_time",
         "disabled_at", "build_time", "git_revision"],
    )  # fmt: skip


@amis_group.command("prune")
@click.option("--role", required=True, type=click.Choice(("app", "chroma", "base")))
@click.option(
    "--keep",
    required=True,
    type=click.IntRange(min=0),
    help="Keep the newest N AMIs (AMIs in use are always kept).",
)
@click.option(
    "--grace-days",
    type=click.IntRange(min=0),
    default=None,
    help="Deregister an AMI only once it has been disabled this long (default: "
    "amis.disabled_grace_days in security/supply-chain.yaml; 0: disable and deregister "
    "in one run).",
)
@_env_option
@_region_option
@click.option("--yes", is_flag=True, help="Really do it (without it: dry run).")
@click.option("--dry-run", is_flag=True, help="Show what would be done (the default).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@aws_errors
def amis_prune(role, keep, grace_days, env, region, yes, dry_run, as_json):
    """Retire ROLE's AMIs in stages: protect every AMI in use from deregistration,
    disable the AMIs beyond the newest N that nothing uses, deregister those disabled for
    the grace period and delete their snapshots, and delete ROLE's orphaned snapshots
    (tagged by the bake, used by no registered AMI). Never disables or removes an AMI
    referenced by any launch-template version or any instance, nor a snapshot any AMI or
    launch-template version uses. Dry run unless --yes.

    A snapshot EC2 still reports in use right after its AMI was deregistered is retried
    with bounded back-off; whatever could not be done is listed at the end (exit 4) and a
    later prune finds it again.
    """
    if grace_days is None:
        grace_days = supplychain.load().disabled_grace_days
    result = amis_ops.prune(
        _ami_clients(env, region), role, keep, execute=yes and not dry_run,
        grace=timedelta(days=grace_days), reporter=Reporter(),
    )  # fmt: skip
    if as_json:
        _emit_json(result)
    else:
        done = yes and not dry_run
        rows = [{**r, "actions": "keep"} for r in result["kept"] + result["removed"]]
        for row in rows:
            actions = [s["action"] for s in result["steps"] if s["image_id"] == row["image_id"]]
            if actions:
                row["actions"] = ", ".join(actions) + ("" if done else " (dry run)")
        _table(
            f"prune {role} (keep {keep}, grace {grace_days} day(s))",
            rows,
            ["image_id", "version", "build_time", "stage", "disabled_at", "actions"],
        )
        if result["orphan_snapshots"]:
            _table(
                f"orphaned {role} snapshots (no AMI uses them)",
                [
                    {**s, "action": "delete" if done else "would delete"}
                    for s in result["orphan_snapshots"]
                ],
                ["snapshot_id", "version", "build_time", "start_time", "action"],
            )
    unfinished = result.get("unfinished") or []
    if unfinished:
        raise OperationFailed(
            f"prune did not finish {len(unfinished)} removal(s):\n  - "
            + "\n  - ".join(
                f"{u['action']} {u['resource']}: {u['error']} ({u['note']})" for u in unfinished
            )
        )
