"""`golden infra plan|apply|outputs ENV`: the foundation stack through change sets.

Order of every command: read and check everything local first (settings, template,
parameter file: ConfigError naming the key, no AWS call), then read AWS (pre-flight:
PreflightError, nothing changed), then change it. `plan` and `apply` without --yes leave
nothing behind: the change set they made is deleted, and so is the empty stack
CloudFormation makes for a change set of a stack that did not exist.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone

from autoscaling import settings as env_settings
from autoscaling import timeouts
from autoscaling.aws import Clients
from golden.core.errors import OperationFailed, PreflightError
from golden.infra import changeset, parameters, stack
from golden.infra import template as tmpl

# The SecureStrings the instances read at boot (besides those the stack itself reads).
INSTANCE_SECRETS = ("db_password", "redis_auth_token", "chroma_token", "app_secret_key")


def stack_name(env: env_settings.Environment) -> str:
    """The settings' foundation_stack, else golden-ENV-foundation."""
    return env.raw.get("foundation_stack") or f"golden-{env.name}-foundation"


def lb_timeouts(env: env_settings.Environment) -> dict | None:
    """The load balancer's part of the timeout chain for the app role (the values `golden
    env apply` would set), or None without an app role or a state tree to derive it."""
    if "app" not in env.roles:
        return None
    inputs = timeouts.load_inputs()
    if inputs is None:
        return None
    role = env.role("app")
    return timeouts.load_balancer_targets(timeouts.chain(inputs), role.data.get("load_balancer"),
                                          f"{env.path}: roles.app")  # fmt: skip


@dataclass
class Context:
    env: env_settings.Environment
    clients: Clients
    template: tmpl.Template
    parameters: dict[str, str]
    stack: str
    wait: stack.Wait
    report: Callable[[str], None]
    tags: dict[str, str] = field(default_factory=dict)
    # The stack's parameter values before the change set (None: a new stack); read by
    # _change_set, for the reports under the plan (the monthly cost delta).
    current_parameters: dict[str, str] | None = None


def prepare(env_arg: str, parameter_file: str | None, wait: stack.Wait,
            report: Callable[[str], None]) -> Context:  # fmt: skip
    """Everything `plan` and `apply` need, checked; no AWS call is made here."""
    env = env_settings.load(env_arg)
    template = tmpl.load()
    path = tmpl.parameter_file(env.name, parameter_file)
    values = parameters.build(
        template.parameters, parameters.from_settings(env.raw, lb_timeouts(env)),
        tmpl.read_parameter_file(path), str(path), str(env.path), env.region,
    )  # fmt: skip
    tags = {str(k): str(v) for k, v in env.raw["tags"].items()}
    tags["golden:environment"] = env.name
    return Context(env, Clients.for_env(env), template, values, stack_name(env), wait, report,
                   tags)  # fmt: skip


def _check_secrets(ctx: Context) -> None:
    """The SecureStrings CloudFormation reads when it creates the database and the cache
    must exist first (a missing one fails the stack half way)."""
    path = ctx.parameters["SsmPath"]
    names = [f"{path}{name}" for name in ctx.template.secure_parameters()]
    missing = stack.missing_secure_strings(ctx.clients.ssm, names)
    if missing:
        commands = "\n  ".join(
            f"aws ssm put-parameter --region {ctx.env.region} --type SecureString "
            f"--name {name} --value '...'" for name in missing
        )  # fmt: skip
        raise PreflightError(
            f"the stack reads these SecureString parameters when it creates the database and "
            f"the cache, and they do not exist (or are not SecureString): "
            f"{', '.join(missing)}. Put them first (docs/foundation.md):\n  {commands}"
        )


def _change_set(ctx: Context) -> tuple[dict, bool, str]:
    """Make the change set for the stack as it is now: (its description, whether the stack
    did not exist before, CREATE or UPDATE)."""
    current = stack.describe(ctx.clients.cloudformation, ctx.stack)
    kind = changeset.change_set_type(current, ctx.env.name, ctx.env.region)
    ctx.current_parameters = None if kind == "CREATE" else {
        p["ParameterKey"]: p.get("ParameterValue", "") for p in current.get("Parameters") or []}
    name = "golden-" + datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S-%f")
    ctx.report(f"creating change set {name} ({kind}) for stack {ctx.stack} in {ctx.env.region}")
    made = stack.create_change_set(ctx.clients.cloudformation, {
        "stack": ctx.stack, "name": name, "body": ctx.template.text,
        "parameters": ctx.parameters, "type": kind, "tags": ctx.tags,
    })  # fmt: skip
    described = stack.wait_change_set(ctx.clients.cloudformation, made["Id"], ctx.wait)
    if described["Status"] == "FAILED" and not changeset.is_no_change(described):
        stack.discard(ctx.clients.cloudformation, described, kind == "CREATE" and current is None)
        raise OperationFailed(f"CloudFormation refused the change set: "
                              f"{described.get('StatusReason')}")  # fmt: skip
    return described, kind == "CREATE", kind


def _result(ctx: Context, described: dict, kind: str) -> dict:
    return {
        "environment": ctx.env.name,
        "stack": ctx.stack,
        "region": ctx.env.region,
        "change_set_type": kind,
        "changes": changeset.rows(described.get("Changes") or [], ctx.template.data_stores),
        "no_changes": changeset.is_no_change(described),
        "parameters": dict(sorted(ctx.parameters.items())),
    }  # fmt: skip


def plan(ctx: Context) -> dict:
    """The change set CloudFormation would execute, as rows; nothing is left behind."""
    _check_secrets(ctx)
    described, new, kind = _change_set(ctx)
    stack.discard(ctx.clients.cloudformation, described, new)
    return _result(ctx, described, kind)


def apply(ctx: Context, yes: bool) -> dict:
    """The plan; with YES, execute it and wait. Raises OperationFailed explaining the
    failed resources (and the clean-up of a rolled-back creation)."""
    _check_secrets(ctx)
    cfn = ctx.clients.cloudformation
    described, new, kind = _change_set(ctx)
    result = _result(ctx, described, kind)
    if result["no_changes"] or not yes:
        stack.discard(cfn, described, new)
        result["executed"] = False
        return result
    seen = stack.known_events(cfn, described["StackId"])
    stack.execute(cfn, described["ChangeSetId"])
    ctx.report(f"executing {described['ChangeSetName']}; waiting for {ctx.stack} "
               f"(events as they come)")  # fmt: skip
    status, events = stack.wait_stack(cfn, described["StackId"], seen, ctx.wait,
                                      lambda e: ctx.report(_event_line(e)))  # fmt: skip
    if status not in changeset.SUCCEEDED:
        raise OperationFailed(changeset.explain(ctx.stack, status,
                                                changeset.failed_events(events),
                                                ctx.env.region, ctx.env.name))  # fmt: skip
    result["executed"] = True
    result["status"] = status
    result["outputs"] = outputs_of(cfn, ctx.stack)
    path = ctx.parameters["SsmPath"]
    result["secrets_missing"] = stack.missing_secure_strings(
        ctx.clients.ssm, [f"{path}{name}" for name in INSTANCE_SECRETS])
    return result


def _event_line(event: dict) -> str:
    reason = event.get("ResourceStatusReason")
    return (f"  {event.get('LogicalResourceId')} ({event.get('ResourceType')}) "
            f"{event.get('ResourceStatus')}" + (f": {reason}" if reason else ""))  # fmt: skip


def outputs_of(cfn, name: str, env_name: str = "ENV") -> dict[str, str]:
    described = stack.describe(cfn, name)
    if described is None:
        raise PreflightError(f"no stack {name} (create it: golden infra apply {env_name} --yes)")
    return {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs") or []}

