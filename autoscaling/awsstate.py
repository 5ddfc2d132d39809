"""Read-only AWS lookups shared by env plan, release, status and rollback.

Every function here only describes; none changes anything, so a failed pre-flight has
made zero mutating calls.
"""

from __future__ import annotations

from botocore.exceptions import ClientError
from golden.core.errors import PreflightError


def _code(exc: ClientError) -> str:
    return exc.response.get("Error", {}).get("Code", "")


# -- network names -> ids ---------------------------------------------------------------------
def resolve_subnets(ec2, names: list[str], source: str) -> list[str]:
    wanted = [n for n in names if not n.startswith("subnet-")]
    found: dict[str, str] = {}
    if wanted:
        for subnet in ec2.describe_subnets(Filters=[{"Name": "tag:Name", "Values": wanted}]).get(
            "Subnets", []
        ):
            name = next((t["Value"] for t in subnet.get("Tags", []) if t["Key"] == "Name"), None)
            found[name] = subnet["SubnetId"]
    missing = [n for n in wanted if n not in found]
    if missing:
        raise PreflightError(
            f"{source}.subnets: no subnet with Name tag {missing[0]!r} in the region"
        )
    return [n if n.startswith("subnet-") else found[n] for n in names]


def resolve_security_groups(ec2, names: list[str], source: str) -> list[str]:
    wanted = [n for n in names if not n.startswith("sg-")]
    found: dict[str, str] = {}
    if wanted:
        for group in ec2.describe_security_groups(
            Filters=[{"Name": "group-name", "Values": wanted}]
        ).get("SecurityGroups", []):
            found[group["GroupName"]] = group["GroupId"]
    missing = [n for n in wanted if n not in found]
    if missing:
        raise PreflightError(
            f"{source}.security_groups: no security group named {missing[0]!r} in the region"
        )
    return [n if n.startswith("sg-") else found[n] for n in names]


def resolve_target_groups(elbv2, names: list[str], source: str) -> list[str]:
    wanted = [n for n in names if not n.startswith("arn:")]
    found: dict[str, str] = {}
    for name in wanted:
        try:
            groups = elbv2.describe_target_groups(Names=[name]).get("TargetGroups", [])
        except ClientError as exc:
            if _code(exc) != "TargetGroupNotFound":
                raise
            groups = []
        if groups:
            found[name] = groups[0]["TargetGroupArn"]
    missing = [n for n in wanted if n not in found]
    if missing:
        raise PreflightError(f"{source}.target_groups: no target group named {missing[0]!r}")
    return [n if n.startswith("arn:") else found[n] for n in names]


# -- launch templates, groups, refreshes ------------------------------------------------------
def launch_template(ec2, name: str) -> dict | None:
    try:
        items = ec2.describe_launch_templates(LaunchTemplateNames=[name]).get("LaunchTemplates", [])
    except ClientError as exc:
        if _code(exc) in (
            "InvalidLaunchTemplateName.NotFoundException",
            "InvalidLaunchTemplateId.NotFound",
            "InvalidLaunchTemplateName.NotFound",
        ):
            return None
        raise
    return items[0] if items else None


def template_version(ec2, template_id: str, version: str | int) -> dict | None:
    try:
        items = ec2.describe_launch_template_versions(
            LaunchTemplateId=template_id, Versions=[str(version)]
        ).get("LaunchTemplateVersions", [])
    except ClientError as exc:
        if _code(exc).startswith("InvalidLaunchTemplate"):
            return None
        raise
    return items[0] if items else None


def template_versions(ec2, template_id: str) -> list[dict]:
    pages = ec2.get_paginator("describe_launch_template_versions").paginate(
        LaunchTemplateId=template_id
    )
    return [v for page in pages for v in page.get("LaunchTemplateVersions", [])]


def group(autoscaling, name: str) -> dict | None:
    items = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[name]).get(
        "AutoScalingGroups", []
    )
    return items[0] if items else None


def group_launch_template(group_desc: dict) -> dict | None:
    """The group's launch-template spec, also when it sits in a MixedInstancesPolicy."""
    spec = group_desc.get("LaunchTemplate")
    if spec:
        return spec
    mixed = group_desc.get("MixedInstancesPolicy") or {}
    return (mixed.get("LaunchTemplate") or {}).get("LaunchTemplateSpecification")


def policies(autoscaling, group_name: str) -> list[dict]:
    return autoscaling.describe_policies(AutoScalingGroupName=group_name).get("ScalingPolicies", [])


def refreshes(autoscaling, group_name: str, ids: list[str] | None = None) -> list[dict]:
    kwargs = {"AutoScalingGroupName": group_name, "MaxRecords": 10}
    if ids:
        kwargs["InstanceRefreshIds"] = ids
    return autoscaling.describe_instance_refreshes(**kwargs).get("InstanceRefreshes", [])


def instances(ec2, ids: list[str]) -> dict[str, dict]:
    if not ids:
        return {}
    out = {}
    for page in ec2.get_paginator("describe_instances").paginate(InstanceIds=ids):
        for reservation in page.get("Reservations", []):
            for instance in reservation.get("Instances", []):
                out[instance["InstanceId"]] = instance
    return out


def target_health(elbv2, target_group_arns: list[str]) -> dict[str, dict[str, str]]:
    """{instance id: {target group arn: state}}"""
    out: dict[str, dict[str, str]] = {}
    for arn in target_group_arns:
        for item in elbv2.describe_target_health(TargetGroupArn=arn).get(
            "TargetHealthDescriptions", []
        ):
            out.setdefault(item["Target"]["Id"], {})[arn] = item["TargetHealth"]["State"]
    return out


def alarm_states(cloudwatch, names: list[str]) -> dict[str, str | None]:
    """{alarm name: its StateValue (OK | ALARM | INSUFFICIENT_DATA), None when no metric
    or composite alarm of that name exists}, in the order of NAMES."""
    found: dict[str, str | None] = {}
    for start in range(0, len(names), 100):  # DescribeAlarms takes at most 100 names
        pages = cloudwatch.get_paginator("describe_alarms").paginate(
            AlarmNames=names[start : start + 100], AlarmTypes=["MetricAlarm", "CompositeAlarm"]
        )
        for page in pages:
            for alarm in page.get("MetricAlarms", []) + page.get("CompositeAlarms", []):
                found[alarm["AlarmName"]] = alarm.get("StateValue")
    return {name: found.get(name) for name in names}


# -- load balancing: the timeout chain's part in AWS ---------------------------------------------
# AWS's defaults when an attribute is not reported (ELBv2 API reference, attributes).
DEFAULT_IDLE_TIMEOUT = "60"
DEFAULT_DEREGISTRATION_DELAY = "300"


def load_balancing_timeouts(elbv2, target_group_arns: list[str]) -> dict:
    """{"target_groups": {arn: deregistration delay seconds (str)}, "load_balancers":
    {arn: idle timeout seconds (str)}} for the given target groups and the load
    balancers in front of them."""
    groups: dict[str, str] = {}
    balancers: dict[str, str] = {}
    for arn in target_group_arns:
        attrs = elbv2.describe_target_group_attributes(TargetGroupArn=arn)["Attributes"]
        groups[arn] = _attribute(attrs, "deregistration_delay.timeout_seconds",
                                 DEFAULT_DEREGISTRATION_DELAY)  # fmt: skip
        described = elbv2.describe_target_groups(TargetGroupArns=[arn])["TargetGroups"]
        for lb_arn in described[0].get("LoadBalancerArns") or [] if described else []:
            if lb_arn not in balancers:
                lb_attrs = elbv2.describe_load_balancer_attributes(LoadBalancerArn=lb_arn)
                balancers[lb_arn] = _attribute(lb_attrs["Attributes"],
                                               "idle_timeout.timeout_seconds",
                                               DEFAULT_IDLE_TIMEOUT)  # fmt: skip
    return {"target_groups": groups, "load_balancers": balancers}


def _attribute(attributes: list[dict], key: str, default: str) -> str:
    return next((a["Value"] for a in attributes if a.get("Key") == key), default)
