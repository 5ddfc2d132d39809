"""What a role's group runs now, read from AWS: one row per instance, a one-line summary,
and golden's verification of a release against it (the decision is
verification.problems; this module only reads)."""

from __future__ import annotations

from autoscaling import awsstate
from autoscaling import verification as check
from autoscaling.aws import Clients
from autoscaling.refresh import Timing
from autoscaling.settings import Role


def instance_rows(clients: Clients, role: Role) -> list[dict]:
    group = awsstate.group(clients.autoscaling, role.group) or {}
    members = group.get("Instances") or []
    details = awsstate.instances(clients.ec2, [m["InstanceId"] for m in members])
    health = awsstate.target_health(clients.elbv2, group.get("TargetGroupARNs") or [])
    rows = []
    for m in members:
        iid = m["InstanceId"]
        rows.append(
            {
                "instance_id": iid,
                "ami": details.get(iid, {}).get("ImageId"),
                "launch_template_version": (m.get("LaunchTemplate") or {}).get("Version"),
                "lifecycle": m.get("LifecycleState"),
                "health": m.get("HealthStatus"),
                "targets": sorted(set(health.get(iid, {}).values())) or None,
                "zone": m.get("AvailabilityZone"),
            }
        )
    return rows


def running_summary(clients: Clients, role: Role) -> str:
    rows = instance_rows(clients, role)
    group = awsstate.group(clients.autoscaling, role.group) or {}
    version = (group.get("LaunchTemplate") or {}).get("Version")
    counts: dict[str, int] = {}
    for row in rows:
        if row["lifecycle"] == "InService":
            counts[row["ami"]] = counts.get(row["ami"], 0) + 1
    amis = (
        ", ".join(f"{ami} on {n} instance(s)" for ami, n in sorted(counts.items()))
        or "no InService instances"
    )
    return f"{amis}; group launch template version {version}"


def verify(
    clients: Clients,
    role: Role,
    ami_id: str,
    version: int,
    timing: Timing,
    attempts: int,
    *,
    expect_instances: bool = True,
) -> list[str]:
    """check.problems for the group now, re-read up to ATTEMPTS times, TIMING.min_interval
    apart, while there are problems (targets pass through "initial" for a few health
    checks after registration). EXPECT_INSTANCES False accepts a group whose desired
    capacity is 0."""
    problems: list[str] = []
    for attempt in range(max(1, attempts)):
        group = awsstate.group(clients.autoscaling, role.group) or {}
        rows = instance_rows(clients, role)
        empty_ok = not expect_instances and not (group.get("DesiredCapacity") or 0)
        problems = check.problems(
            rows,
            ami_id,
            version,
            bool(group.get("TargetGroupARNs")),
            expect_instances=not empty_ok,
        )
        if not problems:
            return []
        if attempt + 1 < attempts:
            timing.sleep(timing.min_interval)
    return problems
