"""Database migrations in a release: the app's migration command (e.g. ``alembic upgrade
head``), run ONCE, with the NEW image and the environment's settings, BEFORE the
instance refresh starts.

Where it runs: a one-off instance launched from the release's launch-template version
(the new AMI, the environment's user data, so the boot step writes the same settings and
secrets from SSM Parameter Store as on every instance), outside the Auto Scaling group
(RunInstances: no target group, no health check, no refresh counts it), tagged
``golden:task=migration``. Once its SSM agent is online, one AWS-RunShellScript command
(SSM Run Command) keeps the app off the instance, waits for the boot step and runs
``docker compose run --rm`` of the chosen service's first container with the command:
the service's image, env files (app-settings.env, app.env), CA bundle and limits, exactly
as the app runs it. Its exit code and the tail of its output are the result. The
instance is terminated in every outcome (success, failure, timeout, Ctrl-C).

Decisions here are pure (what to run, the script, the RunInstances request, what an
invocation's answer means); the AWS calls are in autoscaling/oneoff.py; ``run`` joins
them. The release (autoscaling/release.py) calls ``run`` after the launch-template
version exists and before StartInstanceRefresh, so a failed migration leaves the group as
it was: same launch-template version, same instances, no refresh.
"""

from __future__ import annotations

import shlex
import uuid
from dataclasses import dataclass

from botocore.exceptions import ClientError
from golden.core.errors import ConfigError, OperationFailed

from autoscaling.aws import Clients
from autoscaling.awsstate import template_version
from autoscaling.fleet import running_summary
from autoscaling.oneoff import OneOff
from autoscaling.progress import Reporter
from autoscaling.refresh import Timing
from autoscaling.settings import Role

# What --migrate-timeout defaults to: the migration command's own run, in seconds. A
# schema change on a large table can take minutes; half an hour is a deliberate ceiling.
DEFAULT_TIMEOUT_SECONDS = 1800
# The one-off instance's first boot until its SSM agent answers: EC2 start, cloud-init,
# the agent's registration (a few minutes on AWS; the boot step itself is waited for by
# the script, within the migration's own timeout).
BOOT_TIMEOUT_SECONDS = 900
# Golden's wait for the command's answer beyond its executionTimeout: the agent reports
# the end a little after the script's deadline.
ANSWER_MARGIN_SECONDS = 60
# How much of the command's output the report keeps (the end is where the error is).
TAIL_LINES = 20
TAIL_CHARS = 2000

# Why a release runs no migration (by preflight.Decision.action): it runs only when the
# release starts a refresh, i.e. when something rolls.
NOT_RUN = {
    "none": "the group already runs this release; nothing rolls",
    "record": "the group already runs this release (only its record was missing)",
    "attach": "attaching to the refresh in flight, whose run migrated before starting it",
}

TASK_TAG = "golden:task"
TASK = "migration"

# Paths of the app formula on an instance (salt/app/defaults.yaml dir /opt/app and
# project app, salt/app/service.sls, salt/app/config.sls); tests/release/test_migration.py
# reads them back from the state tree so the two cannot drift apart.
PROJECT = "app"
COMPOSE_FILE = "/opt/app/compose.yaml"
LIMITS_ENV = "/run/app/limits.env"
SERVICES_JSON = "/etc/app/services.json"
APP_RUNTIME = "/usr/local/sbin/golden-app-runtime"
# A runtime drop-in (systemd.unit(5): /run/systemd/system/UNIT.d/*.conf applies to a unit
# wherever its file is) that keeps app.service from starting on the one-off instance.
DROP_IN_DIR = "/run/systemd/system/app.service.d"
DROP_IN = ("[Unit]", "ConditionPathExists=/run/golden-migration/app-may-start")

# The first container of SERVICE (argv[1]; empty: the service nginx's /healthz answers
# from, app:healthz_service) in /etc/app/services.json, which the app formula writes from
# app:services (salt/_modules/golden_app.py runtime_plan). Compose names its services
# after the containers (`api` for one replica, else `api-1`, ...).
_PICK_CONTAINER = (
    "import json, sys; want, path = sys.argv[1], sys.argv[2]; "
    'rows = json.load(open(path))["containers"]; '
    'names = [r["name"] for r in rows if (r["service"] == want if want else r.get("healthz"))]; '
    "print(names[0]) if names else sys.exit("
    '"golden-migration: no service %r in %s (declared: %s)" % ('
    'want or "app:healthz_service", path, ", ".join(sorted({r["service"] for r in rows}))))'
)


@dataclass(frozen=True)
class Migration:
    """What to run: ``command`` the argv given to the container (it replaces the
    service's command/args; the image's entrypoint, or the service's declared
    ``command``, stays, as with ``docker compose run``), ``service`` the app:services
    name whose container definition runs it (None: app:healthz_service, the backend
    behind /healthz), ``timeout`` seconds the command may run."""

    command: tuple[str, ...]
    service: str | None
    timeout: int

    @property
    def command_line(self) -> str:
        return shlex.join(self.command)


def resolve(
    role: Role,
    command: str | None,
    service: str | None,
    timeout: int | None,
    source: str,
) -> Migration | None:
    """The migration of this release: ``command`` (the --migrate text, split like a
    shell would) or else the role's ``migration.command`` setting (a string or a list of
    arguments); ``service`` and ``timeout`` (seconds) likewise over ``migration.service``
    and ``migration.timeout_seconds``. None when neither gives a command. SOURCE names the
    settings file in errors. Raises ConfigError (a role other than app, unbalanced
    quotes, an empty command)."""
    settings = role.data.get("migration") or {}
    text = command if command is not None else settings.get("command")
    where = "--migrate" if command is not None else f"{source}: roles.{role.name}.migration.command"
    if text is None:
        return None
    if role.name != "app":
        raise ConfigError(
            f"{where}: only the app role runs the app's migrations, not {role.name!r}"
        )
    if isinstance(text, str):
        try:
            argv = tuple(shlex.split(text))
        except ValueError as exc:
            raise ConfigError(f"{where}: cannot split {text!r} into arguments ({exc})") from None
    else:
        argv = tuple(str(a) for a in text)
    if not argv or not argv[0]:
        raise ConfigError(f"{where}: expected a command such as 'alembic upgrade head'")
    chosen = service if service is not None else settings.get("service")
    if chosen is not None and not chosen.strip():
        raise ConfigError("--migrate-service: expected a service name of app:services")
    seconds = timeout if timeout is not None else settings.get("timeout_seconds")
    return Migration(argv, chosen, int(seconds or DEFAULT_TIMEOUT_SECONDS))


def script(migration: Migration) -> list[str]:
    """AWS-RunShellScript's ``commands`` (POSIX sh, every argument quoted):

    0. schedule the instance's power-off a minute past golden's deadline;
    1. keep app.service from starting (a runtime drop-in whose condition never holds, so
       its start job queued at boot is skipped; `systemctl mask` would not do, the unit
       file in /etc/systemd/system outranks a mask in /run) and stop it if it started:
       this instance serves nothing, and the new version's containers (a queue worker
       above all) must not run before the schema is there;
    2. ``systemctl start golden-boot.service``: waits for the boot step (app.env from the
       settings document and SSM) or runs it; fails the script if it fails;
    3. golden-app-runtime: the env file of WEB_CONCURRENCY and the containers' limits
       (what app.service's ExecStartPre writes);
    4. the service's first container from /etc/app/services.json;
    5. ``docker compose run --rm --no-deps -T CONTAINER COMMAND...``, exec'd, so the
       script's exit code is the command's."""
    service = migration.service or ""
    compose = [
        "docker", "compose", "--project-name", PROJECT, "--file", COMPOSE_FILE,
        "--env-file", LIMITS_ENV, "run", "--rm", "--no-deps", "-T",
    ]  # fmt: skip
    # Past the deadline the instance powers off, which terminates it (launch_request's
    # shutdown behaviour), even when golden was killed before its own cleanup.
    minutes = -(-(migration.timeout + ANSWER_MARGIN_SECONDS) // 60) + 1
    return [
        "set -eu",
        f"shutdown -P +{minutes} 'golden migration: one-off instance deadline'",
        "echo 'golden-migration: keeping the app off this one-off instance'",
        f"mkdir -p {shlex.quote(DROP_IN_DIR)}",
        f"printf '%s\\n' {shlex.join(DROP_IN)} > {shlex.quote(DROP_IN_DIR)}/golden-migration.conf",
        "systemctl daemon-reload",
        "systemctl stop app.service",
        "echo 'golden-migration: waiting for the boot step (settings and secrets)'",
        "systemctl start golden-boot.service",
        shlex.quote(APP_RUNTIME),
        "container=$(python3 -c "
        + shlex.quote(_PICK_CONTAINER)
        + f" {shlex.quote(service)} {shlex.quote(SERVICES_JSON)})",
        'echo "golden-migration: running in container $container: "'
        + shlex.quote(migration.command_line),
        "exec " + shlex.join(compose) + ' "$container" ' + shlex.join(migration.command),
    ]


def launch_request(
    template_id: str, version: int, subnet_id: str | None, tags: dict[str, str], token: str
) -> dict:
    """RunInstances for the one-off instance: the launch template at VERSION (AMI, user
    data, instance type, profile, security groups, volumes), one instance in SUBNET_ID,
    TAGS on it (RunInstances' TagSpecifications: the version's instance tags plus
    golden:task=migration), shut down = terminated (a run killed before its cleanup
    leaves an instance that ends itself at the script's deadline), TOKEN the idempotency
    ClientToken (a retried call launches no second instance)."""
    request = {
        "LaunchTemplate": {"LaunchTemplateId": template_id, "Version": str(version)},
        "MinCount": 1,
        "MaxCount": 1,
        "InstanceInitiatedShutdownBehavior": "terminate",
        "TagSpecifications": [
            {
                "ResourceType": "instance",
                "Tags": [{"Key": k, "Value": v} for k, v in sorted(tags.items())],
            }
        ],
        "ClientToken": token,
    }
    if subnet_id:
        request["SubnetId"] = subnet_id
    return request


def instance_tags(version_data: dict, group: str) -> dict[str, str]:
    """The version's own instance tags, with golden:task=migration and a Name saying what
    the instance is for."""
    tags = {}
    for spec in version_data.get("TagSpecifications") or []:
        if spec.get("ResourceType") == "instance":
            tags.update({t["Key"]: t["Value"] for t in spec.get("Tags", [])})
    tags[TASK_TAG] = TASK
    tags["Name"] = f"{group}-migration"
    return tags


def first_subnet(group: dict) -> str | None:
    """The first subnet of the group (VPCZoneIdentifier): the instance reaches the
    database from where the group's instances do."""
    subnets = [s for s in (group.get("VPCZoneIdentifier") or "").split(",") if s]
    return subnets[0] if subnets else None


def tail(text: str | None) -> str:
    """The last TAIL_LINES lines of TEXT, at most TAIL_CHARS characters."""
    lines = (text or "").rstrip().splitlines()[-TAIL_LINES:]
    return "\n".join(lines)[-TAIL_CHARS:]


def outcome(invocation: dict, finished: bool, timeout: int) -> dict:
    """What the command's GetCommandInvocation answer means: ``succeeded`` True only for
    Status Success with ResponseCode 0; ``reason`` says why not (the exit code, Execution
    Timed Out, never delivered, or golden's own wait ended first); the tails of stdout
    and stderr. FINISHED is False when golden stopped waiting before the answer ended."""
    status = invocation.get("Status") or "Pending"
    details = invocation.get("StatusDetails") or status
    code = invocation.get("ResponseCode")
    result = {
        "ssm_status": status,
        "ssm_status_details": details,
        "exit_code": code,
        "stdout_tail": tail(invocation.get("StandardOutputContent")),
        "stderr_tail": tail(invocation.get("StandardErrorContent")),
    }
    if not finished:
        reason = f"no answer within {timeout}s (--migrate-timeout); last status {details}"
    elif status == "Success" and code == 0:
        return {**result, "succeeded": True, "reason": None}
    elif details == "Execution Timed Out":
        reason = f"the command ran longer than {timeout}s (--migrate-timeout) and was stopped"
    elif status == "Failed" and details == "Failed":
        reason = f"the command exited with code {code}"
    else:
        reason = f"Run Command ended {status} ({details})"
    return {**result, "succeeded": False, "reason": reason}


def plan_step(migration: Migration, template: str, version: int | str, subnet: str | None) -> dict:
    """The migration as --dry-run shows it."""
    return {
        "command": migration.command_line,
        "service": migration.service or "app:healthz_service",
        "timeout_seconds": migration.timeout,
        "where": f"a one-off instance from launch template {template} version {version} "
        f"in subnet {subnet or '(default)'}, outside the group, terminated afterwards",
        "when": "before the instance refresh; a failure stops the release",
    }


def failure_message(result: dict, group_state: str) -> str:
    """The error of a failed migration: why, where, the output's end, and that nothing
    was rolled (GROUP_STATE: what the group launches now)."""
    where = result.get("instance_id") or "none launched"
    if not result.get("instance_id"):
        left = ""
    elif result.get("terminated"):
        left = ", terminated"
    else:
        left = f", NOT terminated: {result['terminate_note']}"
    lines = [f"migration failed: {result['reason']} (one-off instance {where}{left})"]
    for key, label in (("stdout_tail", "output"), ("stderr_tail", "errors")):
        if result.get(key):
            lines.append(f"{label} (end):\n" + result[key])
    lines.append(f"nothing was rolled: no instance refresh was started; {group_state}")
    return "\n".join(lines)


@dataclass
class Context:
    """Where a migration runs: the release's launch template and version, the group."""

    template_id: str
    template_name: str
    version: int
    version_data: dict
    group: dict


def run(
    oneoff: OneOff, migration: Migration, ctx: Context, timing: Timing, reporter: Reporter
) -> dict:
    """Launch the one-off instance, wait for its agent, run the script, interpret the
    answer; terminate the instance in every case (also on Ctrl-C, which then goes on).
    Returns the result: plan_step's keys, ``instance_id``, ``succeeded``, ``reason``,
    outcome's keys when the command ran, ``terminated`` (and ``terminate_note`` when
    terminating failed). Never raises for a failed migration: the release decides."""
    group_name = ctx.group["AutoScalingGroupName"]
    request = launch_request(
        ctx.template_id,
        ctx.version,
        first_subnet(ctx.group),
        instance_tags(ctx.version_data, group_name),
        f"golden-migration-{uuid.uuid4()}",
    )
    result: dict = {
        "instance_id": None,
        **plan_step(migration, ctx.template_name, ctx.version, request.get("SubnetId")),
    }
    try:
        instance_id = oneoff.launch(request)
    except ClientError as exc:
        return {**result, "succeeded": False, "reason": f"RunInstances failed: {_code(exc)}"}
    result["instance_id"] = instance_id
    reporter.info(
        f"migration: launched one-off instance {instance_id} from launch template "
        f"{ctx.template_name} version {ctx.version} (outside {group_name})"
    )
    try:
        oneoff.wait_managed(instance_id, BOOT_TIMEOUT_SECONDS, timing)
        reporter.info(f"migration: running {migration.command_line!r} on {instance_id}")
        answer, finished = oneoff.run_script(
            instance_id,
            script(migration),
            comment=f"golden migration for {group_name}",
            execution_timeout=migration.timeout,
            wait=migration.timeout + ANSWER_MARGIN_SECONDS,
            timing=timing,
        )
        result.update(outcome(answer, finished, migration.timeout))
    except OperationFailed as exc:
        result.update({"succeeded": False, "reason": str(exc)})
    except ClientError as exc:
        result.update({"succeeded": False, "reason": _code(exc)})
    finally:
        note = oneoff.terminate(instance_id)
        result["terminated"] = note is None
        if note:
            result["terminate_note"] = note
            reporter.info(f"migration: {note}")
    if result["succeeded"]:
        reporter.info(f"migration: succeeded on {instance_id} (terminated)")
    return result


def _code(exc: ClientError) -> str:
    err = exc.response.get("Error", {})
    return f"AWS {exc.operation_name}: {err.get('Code')}: {err.get('Message')}"


def release_plan(migration: Migration | None, role: Role, version: int | str, group: dict) -> dict:
    """What a release's --dry-run shows of its order: ``steps`` (the launch-template
    version, the migration when there is one, the instance refresh) and ``migration``
    (plan_step)."""
    steps = [f"launch template {role.template} version {version}"]
    extra: dict = {}
    if migration is not None:
        extra["migration"] = plan_step(migration, role.template, version, first_subnet(group))
        steps.append(f"migration: {migration.command_line} (one-off instance)")
    steps.append(f"instance refresh of {role.group} to version {version}")
    return {**extra, "steps": steps}


def before_refresh(
    clients: Clients,
    role: Role,
    template_id: str,
    version: int,
    group: dict,
    migration: Migration,
    timing: Timing,
    reporter: Reporter,
) -> dict:
    """Run MIGRATION on a one-off instance of launch-template VERSION (``run``) for the
    release to ROLE's GROUP (its describe answer, before any change). Returns the result;
    raises OperationFailed when it did not succeed, naming what the group launches and
    runs, which the release has not touched."""
    data = template_version(clients.ec2, template_id, version) or {}
    ctx = Context(template_id, role.template, version, data.get("LaunchTemplateData") or {}, group)
    result = run(OneOff(clients), migration, ctx, timing, reporter)
    if not result["succeeded"]:
        state = (
            f"the group {role.group} is as it was: {running_summary(clients, role)}; "
            f"launch template version {version} stays unused, not the default (the same "
            f"release run again reuses it)"
        )
        raise OperationFailed(failure_message(result, state))
    return result
