"""`golden env plan`: what must change so AWS matches the settings (pure).

The plan is a list of steps, each with a readable diff and the API parameters that
envapply executes in order. An empty plan means nothing to do; applying a plan and
planning again gives an empty plan.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from autoscaling import templates
from autoscaling.settings import Environment, Role

NEW_VERSION = "<new version>"  # filled in by envapply with the number AWS gives


@dataclass
class Step:
    op: str
    target: str
    summary: str
    params: dict = field(default_factory=dict)
    diff: list[tuple[str, Any, Any]] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "op": self.op,
            "target": self.target,
            "summary": self.summary,
            "diff": [{"field": f, "before": b, "after": a} for f, b, a in self.diff],
        }


@dataclass
class RolePlan:
    role: str
    steps: list[Step] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # What AWS had when the plan was made (envapply sets it): reports under the plan,
    # such as the monthly cost delta, compare it with the settings.
    current: Current | None = None

    def as_dict(self) -> dict:
        return {"role": self.role, "steps": [s.as_dict() for s in self.steps], "notes": self.notes}


@dataclass
class Current:
    """What AWS has now for one role (from awsstate)."""

    template: dict | None
    group: dict | None
    version: dict | None  # the launch-template version the group runs (or default)
    policies: list[dict]
    bootstrap_ami: str | None  # only used when the template does not exist yet
    # awsstate.load_balancing_timeouts: deregistration delay per target group, idle
    # timeout per load balancer in front of them (seconds, as AWS reports them).
    load_balancing: dict = field(default_factory=dict)


@dataclass
class Desired:
    data: dict  # launch-template data without ImageId
    subnet_ids: list[str]
    target_group_arns: list[str]
    # The timeout chain's load-balancer values (autoscaling.timeouts): idle_timeout,
    # deregistration_delay in seconds; None when the role has no chain to follow.
    lb_timeouts: dict | None = None


def _short(value: Any) -> Any:
    if isinstance(value, str) and "\n" in value:
        lines = value.count("\n")
        return f"<{lines} lines>"
    return value


def _group_tags(env: Environment, role: Role) -> dict[str, str]:
    return env.tags(role.name)


def _policy_params(role: Role) -> dict | None:
    policy = role["scaling_policy"]
    if not policy:
        return None
    metric = {"PredefinedMetricType": "ASGAverageCPUUtilization"}
    if policy["metric"] == "alb_request_count":
        metric = {
            "PredefinedMetricType": "ALBRequestCountPerTarget",
            "ResourceLabel": policy["resource_label"],
        }
    return {
        "AutoScalingGroupName": role.group,
        "PolicyName": policy["name"],
        "PolicyType": "TargetTrackingScaling",
        "TargetTrackingConfiguration": {
            "PredefinedMetricSpecification": metric,
            "TargetValue": float(policy["target_value"]),
            "DisableScaleIn": bool(policy["disable_scale_in"]),
        },
        "EstimatedInstanceWarmup": role["instance_warmup"],
    }


def _policy_view(policy: dict) -> dict:
    conf = policy.get("TargetTrackingConfiguration") or {}
    metric = conf.get("PredefinedMetricSpecification") or {}
    return {
        "PolicyType": policy.get("PolicyType"),
        "PredefinedMetricType": metric.get("PredefinedMetricType"),
        "ResourceLabel": metric.get("ResourceLabel"),
        "TargetValue": float(conf["TargetValue"]) if "TargetValue" in conf else None,
        "DisableScaleIn": bool(conf.get("DisableScaleIn", False)),
    }


def plan_role(env: Environment, role: Role, desired: Desired, current: Current) -> RolePlan:
    """Steps that bring one role's launch template, group and scaling policy in line with
    the settings, in the order envapply must run them, plus notes for the reader.

    DESIRED and CURRENT are plain data (see the dataclasses above); nothing is read here.
    """
    plan = RolePlan(role.name)
    template_steps, version_ref = _template_steps(env, role, desired, current)
    plan.steps += template_steps
    if current.group is None:
        plan.steps.append(_create_group_step(env, role, desired, version_ref))
    else:
        plan.steps += _group_steps(env, role, desired, current.group, version_ref)
        if version_ref == NEW_VERSION:
            plan.notes.append(
                f"{role.name}: running instances keep their configuration until the next "
                f"release (golden release {env.name} --role {role.name} --ami ...)"
            )
    plan.steps += load_balancing_steps(desired, current)
    want_policy = _policy_params(role)
    if want_policy:
        plan.steps += _policy_steps(want_policy, current.policies)
    others = [
        p["PolicyName"]
        for p in current.policies
        if not want_policy or p.get("PolicyName") != want_policy["PolicyName"]
    ]
    if others:
        plan.notes.append(
            f"{role.name}: scaling policies not in the settings are left alone: {', '.join(others)}"
        )
    return plan


# -- launch template ----------------------------------------------------------------------


def _template_steps(
    env: Environment, role: Role, desired: Desired, current: Current
) -> tuple[list[Step], str]:
    """The launch-template step (none, a first template, or a new version) and the version
    the group should run: NEW_VERSION when a step writes one, else the current number."""
    if current.template is None:
        return [_create_template_step(env, role, desired, current.bootstrap_ami)], NEW_VERSION
    current_data = (current.version or {}).get("LaunchTemplateData", {})
    changed = templates.differences(current_data, desired.data)
    number = (current.version or {}).get("VersionNumber")
    if not changed:
        return [], str(number)
    step = Step(
        "create_version",
        role.template,
        f"new version of {role.template} based on version {number} (same AMI)",
        {
            "LaunchTemplateId": current.template["LaunchTemplateId"],
            "SourceVersion": str(number),
            "VersionDescription": "golden env apply: settings changed",
            "LaunchTemplateData": {
                k: desired.data[k] for k in templates.MANAGED_KEYS if k in desired.data
            },
        },
        [(k, _short(b), _short(a)) for k, (b, a) in changed.items()],
    )
    return [step], NEW_VERSION


def _create_template_step(
    env: Environment, role: Role, desired: Desired, bootstrap_ami: str | None
) -> Step:
    data = {"ImageId": bootstrap_ami, **desired.data}
    return Step(
        "create_template",
        role.template,
        f"create launch template {role.template} (version 1, AMI {bootstrap_ami})",
        {
            "LaunchTemplateName": role.template,
            "LaunchTemplateData": data,
            "VersionDescription": "golden env apply: initial version",
            "TagSpecifications": [
                {
                    "ResourceType": "launch-template",
                    "Tags": [
                        {"Key": k, "Value": v} for k, v in sorted(_group_tags(env, role).items())
                    ],
                }
            ],
        },
        [
            (k, None, _short(v) if k != "UserData" else "<instance settings document>")
            for k, v in templates.managed(data).items()
        ]
        + [("ImageId", None, bootstrap_ami)],
    )


# -- group --------------------------------------------------------------------------------


def _asg_tags(group_name: str, tags: dict[str, str]) -> list[dict]:
    """TAGS as Auto Scaling tag parameters on GROUP_NAME, propagated at launch, by key."""
    return [
        {
            "Key": k,
            "Value": v,
            "PropagateAtLaunch": True,
            "ResourceId": group_name,
            "ResourceType": "auto-scaling-group",
        }
        for k, v in sorted(tags.items())
    ]


def _create_group_step(env: Environment, role: Role, desired: Desired, version_ref: str) -> Step:
    cap = role["capacity"]
    hc = role["health_check"]
    return Step(
        "create_group",
        role.group,
        f"create Auto Scaling group {role.group} ({cap['min']}..{cap['max']}, desired "
        f"{cap['desired']})",
        {
            "AutoScalingGroupName": role.group,
            "LaunchTemplate": {"LaunchTemplateName": role.template, "Version": version_ref},
            "MinSize": cap["min"],
            "MaxSize": cap["max"],
            "DesiredCapacity": cap["desired"],
            "VPCZoneIdentifier": ",".join(desired.subnet_ids),
            "TargetGroupARNs": desired.target_group_arns,
            "HealthCheckType": hc["type"],
            "HealthCheckGracePeriod": hc["grace_period"],
            "Tags": _asg_tags(role.group, _group_tags(env, role)),
        },
        [
            ("LaunchTemplate", None, f"{role.template} version {version_ref}"),
            (
                "MinSize/MaxSize/DesiredCapacity",
                None,
                f"{cap['min']}/{cap['max']}/{cap['desired']}",
            ),
            ("VPCZoneIdentifier", None, ",".join(desired.subnet_ids)),
            ("TargetGroupARNs", None, desired.target_group_arns),
            ("HealthCheck", None, f"{hc['type']}, grace {hc['grace_period']}s"),
        ],
    )


def _group_steps(
    env: Environment, role: Role, desired: Desired, group: dict, version_ref: str
) -> list[Step]:
    """Steps for a group that exists: update its settings, attach and detach target
    groups, add missing tags, in that order; empty when it already matches."""
    steps = []
    update, diff = _group_update(role, desired, group, version_ref)
    if update:
        steps.append(
            Step(
                "update_group",
                role.group,
                f"update Auto Scaling group {role.group}",
                {"AutoScalingGroupName": role.group, **update},
                diff,
            )
        )
    steps += _target_group_steps(role, desired, group)
    tag_step = _tag_group_step(env, role, group)
    if tag_step:
        steps.append(tag_step)
    return steps


def _group_update(
    role: Role, desired: Desired, group: dict, version_ref: str
) -> tuple[dict[str, Any], list[tuple[str, Any, Any]]]:
    """UpdateAutoScalingGroup parameters that differ from GROUP (without its name), and
    the readable diff of them. The desired capacity is only clamped into min..max."""
    cap = role["capacity"]
    hc = role["health_check"]
    update: dict[str, Any] = {}
    diff: list[tuple[str, Any, Any]] = []
    spec = group.get("LaunchTemplate") or {}
    if spec.get("LaunchTemplateName") != role.template or str(spec.get("Version")) != str(
        version_ref
    ):
        update["LaunchTemplate"] = {"LaunchTemplateName": role.template, "Version": version_ref}
        diff.append(
            (
                "LaunchTemplate",
                f"{spec.get('LaunchTemplateName')} version {spec.get('Version')}",
                f"{role.template} version {version_ref}",
            )
        )
    for key, want in (
        ("MinSize", cap["min"]),
        ("MaxSize", cap["max"]),
        ("HealthCheckType", hc["type"]),
        ("HealthCheckGracePeriod", hc["grace_period"]),
    ):
        if group.get(key) != want:
            update[key] = want
            diff.append((key, group.get(key), want))
    have_desired = group.get("DesiredCapacity", 0)
    clamped = min(max(have_desired, cap["min"]), cap["max"])
    if clamped != have_desired:
        update["DesiredCapacity"] = clamped
        diff.append(("DesiredCapacity", have_desired, clamped))
    have_subnets = sorted(filter(None, (group.get("VPCZoneIdentifier") or "").split(",")))
    if have_subnets != sorted(desired.subnet_ids):
        update["VPCZoneIdentifier"] = ",".join(desired.subnet_ids)
        diff.append(("VPCZoneIdentifier", ",".join(have_subnets), ",".join(desired.subnet_ids)))
    return update, diff


def _target_group_steps(role: Role, desired: Desired, group: dict) -> list[Step]:
    have_tgs = set(group.get("TargetGroupARNs") or [])
    want_tgs = set(desired.target_group_arns)
    steps = []
    for op, verb, arns in (
        ("attach_target_groups", "attach", want_tgs - have_tgs),
        ("detach_target_groups", "detach", have_tgs - want_tgs),
    ):
        if arns:
            steps.append(
                Step(
                    op,
                    role.group,
                    f"{verb} target groups",
                    {"AutoScalingGroupName": role.group, "TargetGroupARNs": sorted(arns)},
                    [("TargetGroupARNs", sorted(have_tgs), sorted(want_tgs))],
                )
            )
    return steps


def _tag_group_step(env: Environment, role: Role, group: dict) -> Step | None:
    """The step that adds the settings' tags GROUP lacks (or has unpropagated), or None."""
    have_tags = {
        t["Key"]: (t["Value"], bool(t.get("PropagateAtLaunch"))) for t in group.get("Tags") or []
    }
    missing = {k: v for k, v in _group_tags(env, role).items() if have_tags.get(k) != (v, True)}
    if not missing:
        return None
    return Step(
        "tag_group",
        role.group,
        "tag the group (propagated at launch)",
        {"Tags": _asg_tags(role.group, missing)},
        [(f"tag {k}", have_tags.get(k, (None,))[0], v) for k, v in sorted(missing.items())],
    )


# -- load balancing (the timeout chain) ------------------------------------------------------


def load_balancing_steps(desired: Desired, current: Current) -> list[Step]:
    """Steps that set the target groups' deregistration delay and the idle timeout of the
    load balancers in front of them to the timeout chain's values, where AWS differs."""
    want = desired.lb_timeouts
    if not want:
        return []
    steps = []
    for arn, have in sorted((current.load_balancing.get("target_groups") or {}).items()):
        value = str(want["deregistration_delay"])
        if have != value:
            steps.append(Step(
                "set_target_group_attributes", arn,
                f"deregistration delay {value}s (the timeout chain)",
                {"TargetGroupArn": arn, "Attributes": [
                    {"Key": "deregistration_delay.timeout_seconds", "Value": value}]},
                [("deregistration_delay.timeout_seconds", have, value)],
            ))  # fmt: skip
    for arn, have in sorted((current.load_balancing.get("load_balancers") or {}).items()):
        value = str(want["idle_timeout"])
        if have != value:
            steps.append(Step(
                "set_load_balancer_attributes", arn,
                f"load balancer idle timeout {value}s (the timeout chain)",
                {"LoadBalancerArn": arn, "Attributes": [
                    {"Key": "idle_timeout.timeout_seconds", "Value": value}]},
                [("idle_timeout.timeout_seconds", have, value)],
            ))  # fmt: skip
    return steps


# -- scaling policy -----------------------------------------------------------------------


def _policy_steps(want_policy: dict, policies: list[dict]) -> list[Step]:
    """A put_policy step when the settings' policy is missing from POLICIES or differs in
    what the settings say; empty otherwise."""
    have = next((p for p in policies if p.get("PolicyName") == want_policy["PolicyName"]), None)
    want_view = _policy_view(want_policy)
    have_view = _policy_view(have) if have else None
    if have_view == want_view:
        return []
    return [
        Step(
            "put_policy",
            want_policy["PolicyName"],
            f"{'update' if have else 'create'} target-tracking policy {want_policy['PolicyName']}",
            want_policy,
            [
                (k, (have_view or {}).get(k), v)
                for k, v in want_view.items()
                if (have_view or {}).get(k) != v
            ],
        )
    ]
