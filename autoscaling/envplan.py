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


@dataclass
class Desired:
    data: dict  # launch-template data without ImageId
    subnet_ids: list[str]
    target_group_arns: list[str]


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
    plan = RolePlan(role.name)
    steps = plan.steps
    version_ref: str | int

    # -- launch template ------------------------------------------------------------------
    if current.template is None:
        data = {"ImageId": current.bootstrap_ami, **desired.data}
        steps.append(
            Step(
                "create_template",
                role.template,
                f"create launch template {role.template} (version 1, AMI {current.bootstrap_ami})",
                {
                    "LaunchTemplateName": role.template,
                    "LaunchTemplateData": data,
                    "VersionDescription": "golden env apply: initial version",
                    "TagSpecifications": [
                        {
                            "ResourceType": "launch-template",
                            "Tags": [
                                {"Key": k, "Value": v}
                                for k, v in sorted(_group_tags(env, role).items())
                            ],
                        }
                    ],
                },
                [
                    (k, None, _short(v) if k != "UserData" else "<instance settings document>")
                    for k, v in templates.managed(data).items()
                ]
                + [("ImageId", None, current.bootstrap_ami)],
            )
        )
        version_ref = NEW_VERSION
    else:
        current_data = (current.version or {}).get("LaunchTemplateData", {})
        changed = templates.differences(current_data, desired.data)
        number = (current.version or {}).get("VersionNumber")
        if changed:
            steps.append(
                Step(
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
            )
            version_ref = NEW_VERSION
        else:
            version_ref = str(number)

    # -- group ----------------------------------------------------------------------------
    cap = role["capacity"]
    hc = role["health_check"]
    if current.group is None:
        steps.append(
            Step(
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
                    "Tags": [
                        {
                            "Key": k,
                            "Value": v,
                            "PropagateAtLaunch": True,
                            "ResourceId": role.group,
                            "ResourceType": "auto-scaling-group",
                        }
                        for k, v in sorted(_group_tags(env, role).items())
                    ],
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
        )
    else:
        g = current.group
        update: dict[str, Any] = {}
        diff: list[tuple[str, Any, Any]] = []
        spec = g.get("LaunchTemplate") or {}
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
            if g.get(key) != want:
                update[key] = want
                diff.append((key, g.get(key), want))
        have_desired = g.get("DesiredCapacity", 0)
        clamped = min(max(have_desired, cap["min"]), cap["max"])
        if clamped != have_desired:
            update["DesiredCapacity"] = clamped
            diff.append(("DesiredCapacity", have_desired, clamped))
        have_subnets = sorted(filter(None, (g.get("VPCZoneIdentifier") or "").split(",")))
        if have_subnets != sorted(desired.subnet_ids):
            update["VPCZoneIdentifier"] = ",".join(desired.subnet_ids)
            diff.append(("VPCZoneIdentifier", ",".join(have_subnets), ",".join(desired.subnet_ids)))
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
        have_tgs = set(g.get("TargetGroupARNs") or [])
        want_tgs = set(desired.target_group_arns)
        if want_tgs - have_tgs:
            steps.append(
                Step(
                    "attach_target_groups",
                    role.group,
                    "attach target groups",
                    {
                        "AutoScalingGroupName": role.group,
                        "TargetGroupARNs": sorted(want_tgs - have_tgs),
                    },
                    [("TargetGroupARNs", sorted(have_tgs), sorted(want_tgs))],
                )
            )
        if have_tgs - want_tgs:
            steps.append(
                Step(
                    "detach_target_groups",
                    role.group,
                    "detach target groups",
                    {
                        "AutoScalingGroupName": role.group,
                        "TargetGroupARNs": sorted(have_tgs - want_tgs),
                    },
                    [("TargetGroupARNs", sorted(have_tgs), sorted(want_tgs))],
                )
            )
        have_tags = {
            t["Key"]: (t["Value"], bool(t.get("PropagateAtLaunch"))) for t in g.get("Tags") or []
        }
        missing = {k: v for k, v in _group_tags(env, role).items() if have_tags.get(k) != (v, True)}
        if missing:
            steps.append(
                Step(
                    "tag_group",
                    role.group,
                    "tag the group (propagated at launch)",
                    {
                        "Tags": [
                            {
                                "Key": k,
                                "Value": v,
                                "PropagateAtLaunch": True,
                                "ResourceId": role.group,
                                "ResourceType": "auto-scaling-group",
                            }
                            for k, v in sorted(missing.items())
                        ]
                    },
                    [
                        (f"tag {k}", have_tags.get(k, (None,))[0], v)
                        for k, v in sorted(missing.items())
                    ],
                )
            )
        if version_ref == NEW_VERSION:
            plan.notes.append(
                f"{role.name}: running instances keep their configuration until the next "
                f"release (golden release {env.name} --role {role.name} --ami ...)"
            )

    # -- scaling policy -------------------------------------------------------------------
    want_policy = _policy_params(role)
    if want_policy:
        have = next(
            (p for p in current.policies if p.get("PolicyName") == want_policy["PolicyName"]), None
        )
        want_view = _policy_view(want_policy)
        have_view = _policy_view(have) if have else None
        if have_view != want_view:
            steps.append(
                Step(
                    "put_policy",
                    want_policy["PolicyName"],
                    f"{'update' if have else 'create'} target-tracking policy "
                    f"{want_policy['PolicyName']}",
                    want_policy,
                    [
                        (k, (have_view or {}).get(k), v)
                        for k, v in want_view.items()
                        if (have_view or {}).get(k) != v
                    ],
                )
            )
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
