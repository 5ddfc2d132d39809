"""Does a group run a release? Golden's own check of the instances (pure).

ROWS are release.instance_rows: one dict per group member with instance_id, ami,
launch_template_version, lifecycle, health (Auto Scaling's) and targets (the distinct
target-group states, None without target groups).
"""

from __future__ import annotations

VERIFIED = "verified"  # every InService instance runs the AMI and version, healthy
BEHIND = "behind"  # some InService instance runs another AMI or version
UNHEALTHY = "unhealthy"  # all on the AMI and version, but not all healthy
EMPTY = "empty"  # no InService instance


def problems(
    rows: list[dict],
    ami_id: str,
    version: int | str,
    has_target_groups: bool,
    *,
    expect_instances: bool = True,
) -> list[str]:
    """What is wrong with the group's instances for "it runs AMI_ID from launch-template
    VERSION": one sentence per problem, empty when nothing is. No InService instance is a
    problem unless EXPECT_INSTANCES is False (a group scaled to zero on purpose)."""
    out = []
    in_service = [r for r in rows if r["lifecycle"] == "InService"]
    if not in_service and expect_instances:
        out.append("no InService instances")
    for row in in_service:
        if row["ami"] != ami_id:
            out.append(f"{row['instance_id']} runs {row['ami']}, expected {ami_id}")
        if str(row["launch_template_version"]) != str(version):
            out.append(
                f"{row['instance_id']} is on launch template version "
                f"{row['launch_template_version']}, expected {version}"
            )
        if row["health"] != "Healthy":
            out.append(f"{row['instance_id']} health is {row['health']}")
        if has_target_groups and row["targets"] != ["healthy"]:
            out.append(f"{row['instance_id']} target health is {row['targets']}")
    return out


def state(rows: list[dict], ami_id: str, version: int | str, has_target_groups: bool) -> str:
    """VERIFIED, BEHIND, UNHEALTHY or EMPTY (see the constants)."""
    in_service = [r for r in rows if r["lifecycle"] == "InService"]
    if not in_service:
        return EMPTY
    if any(
        r["ami"] != ami_id or str(r["launch_template_version"]) != str(version) for r in in_service
    ):
        return BEHIND
    if problems(rows, ami_id, version, has_target_groups):
        return UNHEALTHY
    return VERIFIED
