"""`golden env plan|apply ENV`: read AWS, plan (envplan), and apply only when asked."""

from __future__ import annotations

from datetime import datetime, timezone

from golden.core.errors import OperationFailed, PreflightError

from autoscaling import awsstate, images, templates
from autoscaling.aws import Clients
from autoscaling.envplan import NEW_VERSION, Current, Desired, RolePlan, plan_role
from autoscaling.settings import Environment, Role


def read_role(env: Environment, clients: Clients, role: Role) -> tuple[Desired, Current]:
    source = f"{env.path}: roles.{role.name}"
    ec2, asg = clients.ec2, clients.autoscaling
    subnets = awsstate.resolve_subnets(ec2, role["subnets"], source)
    sgs = awsstate.resolve_security_groups(ec2, role["security_groups"], source)
    tgs = awsstate.resolve_target_groups(clients.elbv2, role["target_groups"], source)
    desired = Desired(templates.desired_data(env, role, sgs), subnets, tgs)
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
    return desired, Current(template, group, version, policies, bootstrap)


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
    out = []
    for name in roles or env.roles:
        role = env.role(name)
        desired, current = read_role(env, clients, role)
        out.append(plan_role(env, role, desired, current))
    return out


def apply(env: Environment, clients: Clients, plans: list[RolePlan], progress=None) -> list[dict]:
    """Execute the steps in order. A launch-template version is written before the group
    points at it, so a failure part way leaves the group on a complete version."""
    done = []
    for role_plan in plans:
        new_version: int | None = None
        for step in role_plan.steps:
            if progress:
                progress(f"{role_plan.role}: {step.summary}")
            params = _fill(step.params, new_version)
            try:
                if step.op == "create_template":
                    problems = templates.security_problems(params["LaunchTemplateData"])
                    if problems:
                        raise OperationFailed("; ".join(problems))
                    result = clients.ec2.create_launch_template(**params)["LaunchTemplate"]
                    new_version = result["LatestVersionNumber"]
                elif step.op == "create_version":
                    result = clients.ec2.create_launch_template_version(**params)[
                        "LaunchTemplateVersion"
                    ]
                    problems = templates.security_problems(result["LaunchTemplateData"])
                    if problems:
                        raise OperationFailed(
                            f"version {result['VersionNumber']} of {step.target}: "
                            + "; ".join(problems)
                        )
                    new_version = result["VersionNumber"]
                    clients.ec2.modify_launch_template(
                        LaunchTemplateId=result["LaunchTemplateId"], DefaultVersion=str(new_version)
                    )
                elif step.op == "create_group":
                    clients.autoscaling.create_auto_scaling_group(**params)
                elif step.op == "update_group":
                    clients.autoscaling.update_auto_scaling_group(**params)
                elif step.op == "attach_target_groups":
                    clients.autoscaling.attach_load_balancer_target_groups(**params)
                elif step.op == "detach_target_groups":
                    clients.autoscaling.detach_load_balancer_target_groups(**params)
                elif step.op == "tag_group":
                    clients.autoscaling.create_or_update_tags(**params)
                elif step.op == "put_policy":
                    clients.autoscaling.put_scaling_policy(**params)
                else:  # pragma: no cover - plan and apply are written together
                    raise OperationFailed(f"unknown plan step {step.op}")
            except OperationFailed:
                raise
            except Exception as exc:
                raise OperationFailed(
                    f"{role_plan.role}: '{step.summary}' failed: {exc}. Steps done before it "
                    f"stay; run `golden env plan {env.name}` to see what is left."
                ) from exc
            done.append(
                {
                    "role": role_plan.role,
                    "op": step.op,
                    "target": step.target,
                    "launch_template_version": new_version,
                }
            )
    return done


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
