"""`golden env plan|apply ENV`: read AWS, plan (envplan), and apply only when asked."""

from __future__ import annotations

from datetime import datetime, timezone

from golden.core import retry
from golden.core.errors import OperationFailed, PreflightError

from autoscaling import awsstate, foundation, images, templates, timeouts
from autoscaling.aws import Clients
from autoscaling.envplan import NEW_VERSION, Current, Desired, RolePlan, Step, plan_role
from autoscaling.settings import Environment, Role


def read_role(env: Environment, clients: Clients, role: Role) -> tuple[Desired, Current]:
    source = f"{env.path}: roles.{role.name}"
    ec2, asg = clients.ec2, clients.autoscaling
    subnets = awsstate.resolve_subnets(ec2, role["subnets"], source)
    sgs = awsstate.resolve_security_groups(ec2, role["security_groups"], source)
    tgs = awsstate.resolve_target_groups(clients.elbv2, role["target_groups"], source)
    desired = Desired(templates.desired_data(env, role, sgs), subnets, tgs,
                      lb_timeouts=_lb_timeouts(role, source))  # fmt: skip
    template = awsstate.launch_template(ec2, role.template)
    group = awsstate.group(asg, role.group)
    version = None
    bootstrap = None
    if template is not None:
        spec = awsstate.group_launch_template(group) if group else None
        wanted = spec.get("Version") if spec else None
        if not wanted or str(wanted).startswith("$"):
            wanted = (
                template["DefaultVersionNumber"]
                if not wanted or wanted == "$Default"
                else template["LatestVersionNumber"]
            )
        version = awsstate.template_version(ec2, template["LaunchTemplateId"], wanted)
    else:
        bootstrap = _bootstrap_ami(env, clients, role)
    policies = awsstate.policies(asg, role.group) if group else []
    balancing = (awsstate.load_balancing_timeouts(clients.elbv2, tgs)
                 if desired.lb_timeouts else {})  # fmt: skip
    return desired, Current(template, group, version, policies, bootstrap, balancing)


def _lb_timeouts(role: Role, source: str) -> dict | None:
    """The app role's load-balancer timeouts: the settings' `load_balancer` values checked
    against the timeout chain of this checkout's state tree, or the chain's own. None for
    another role, without target groups, or without a state tree to read the chain from."""
    if role.name != "app" or not role["target_groups"]:
        return None
    inputs = timeouts.load_inputs()
    if inputs is None:
        return None
    return timeouts.load_balancer_targets(
        timeouts.chain(inputs), role.data.get("load_balancer"), source
    )


def _bootstrap_ami(env: Environment, clients: Clients, role: Role) -> str:
    now = datetime.now(timezone.utc)
    wanted = role["initial_ami"]
    if wanted == "latest":
        image = images.pick_latest(
            images.role_images(clients.ec2, role.name), role.name, env.region, now
        )
        if image is None:
            raise PreflightError(
                f"{role.name}: launch template {role.template} does not exist and there is no "
                f"tested {role.name} AMI in {env.region} to create it with (bake one, or set "
                f"roles.{role.name}.initial_ami)"
            )
        return image["ImageId"]
    problems = images.image_problems(
        images.describe_image(clients.ec2, wanted), wanted, role.name, env.region, now
    )
    if problems:
        raise PreflightError(f"roles.{role.name}.initial_ami: " + "; ".join(problems))
    return wanted


def plan(env: Environment, clients: Clients, roles: list[str] | None = None) -> list[RolePlan]:
    """The steps per role. When the settings name a foundation stack they must agree with
    its outputs first (autoscaling.foundation.check); nothing is planned otherwise."""
    names = list(roles or env.roles)
    foundation.check(env, clients, names)
    out = []
    for name in names:
        role = env.role(name)
        desired, current = read_role(env, clients, role)
        role_plan = plan_role(env, role, desired, current)
        role_plan.current = current
        out.append(role_plan)
    return out


def apply(env: Environment, clients: Clients, plans: list[RolePlan], progress=None) -> list[dict]:
    """Execute the steps in order. A launch-template version is written before the group
    points at it, so a failure part way leaves the group on a complete version.

    PROGRESS, when given, is called with one line per step before it runs. Returns one
    dict per step done (role, op, target, launch_template_version: the version this role's
    plan wrote so far, or None). Raises OperationFailed naming the step that failed."""
    done = []
    for role_plan in plans:
        done += _apply_role(env, clients, role_plan, progress)
    return done


def _apply_role(env: Environment, clients: Clients, role_plan: RolePlan, progress) -> list[dict]:
    done = []
    new_version: int | None = None
    for step in role_plan.steps:
        if progress:
            progress(f"{role_plan.role}: {step.summary}")
        params = _fill(step.params, new_version)
        try:
            written = _execute(clients, step, params)
        except OperationFailed:
            raise
        except Exception as exc:
            raise OperationFailed(
                f"{role_plan.role}: '{step.summary}' failed: {exc}. Steps done before it "
                f"stay; run `golden env plan {env.name}` to see what is left."
            ) from exc
        if written is not None:
            new_version = written
        done.append(
            {
                "role": role_plan.role,
                "op": step.op,
                "target": step.target,
                "launch_template_version": new_version,
            }
        )
    return done


# Steps that are one Auto Scaling call with the step's parameters as they are.
_GROUP_CALLS = {
    "create_group": "create_auto_scaling_group",
    "update_group": "update_auto_scaling_group",
    "attach_target_groups": "attach_load_balancer_target_groups",
    "detach_target_groups": "detach_load_balancer_target_groups",
    "tag_group": "create_or_update_tags",
    "put_policy": "put_scaling_policy",
}
# Steps that are one ELBv2 call with the step's parameters as they are.
_ELB_CALLS = {
    "set_target_group_attributes": "modify_target_group_attributes",
    "set_load_balancer_attributes": "modify_load_balancer_attributes",
}


def _execute(clients: Clients, step: Step, params: dict) -> int | None:
    """Make the AWS calls of one step; returns the launch-template version it wrote, or
    None when it wrote none."""
    if step.op == "create_template":
        return _create_template(clients, params)
    if step.op == "create_version":
        return _create_version(clients, step, params)
    if step.op in _ELB_CALLS:
        getattr(clients.elbv2, _ELB_CALLS[step.op])(**params)
        return None
    call = _GROUP_CALLS.get(step.op)
    if call is None:  # pragma: no cover - plan and apply are written together
        raise OperationFailed(f"unknown plan step {step.op}")
    getattr(clients.autoscaling, call)(**params)
    return None


def _create_template(clients: Clients, params: dict) -> int:
    problems = templates.security_problems(params["LaunchTemplateData"])
    if problems:
        raise OperationFailed("; ".join(problems))
    result = clients.ec2.create_launch_template(**params)["LaunchTemplate"]
    return result["LatestVersionNumber"]


def _create_version(clients: Clients, step: Step, params: dict) -> int:
    """Write the new version, check what AWS stored, then make it the default."""
    result = clients.ec2.create_launch_template_version(**params)["LaunchTemplateVersion"]
    problems = templates.security_problems(result["LaunchTemplateData"])
    if problems:
        raise OperationFailed(
            f"version {result['VersionNumber']} of {step.target}: " + "; ".join(problems)
        )
    new_version = result["VersionNumber"]
    # EC2 may not know the version it just created yet (eventual consistency): bounded
    # back-off on its "not found" answers (golden.core.retry).
    retry.call(
        lambda: clients.ec2.modify_launch_template(
            LaunchTemplateId=result["LaunchTemplateId"], DefaultVersion=str(new_version)
        ),
        retry.TEMPLATE_VERSION_NOT_VISIBLE,
    )
    return new_version


def _fill(value, new_version: int | None):
    if isinstance(value, dict):
        return {k: _fill(v, new_version) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, new_version) for v in value]
    if value == NEW_VERSION:
        if new_version is None:  # pragma: no cover - the plan always creates it first
            raise OperationFailed("plan refers to a launch-template version it did not create")
        return str(new_version)
    return value
