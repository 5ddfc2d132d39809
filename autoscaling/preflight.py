"""Release pre-flight (pure): every check that must pass before anything changes.

Input is what awsstate read; output is "start a refresh" or "attach to the refresh that a
previous run of the same release started", or a PreflightError listing every problem.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from golden.core.errors import PreflightError

from autoscaling import images, templates

ACTIVE = ("Pending", "InProgress", "Baking", "Cancelling", "RollbackInProgress")


@dataclass
class ReleaseInputs:
    env: str
    role: str
    region: str
    ami_id: str
    template_name: str
    group_name: str
    image: dict | None
    template: dict | None
    group: dict | None
    group_version: dict | None  # the launch-template version the group uses now
    active: dict | None = None  # the active instance refresh, if any
    active_image: str | None = None  # ImageId of that refresh's desired version


@dataclass
class Decision:
    action: str  # "start" | "attach"
    refresh_id: str | None = None
    desired_version: int | None = None


def active_refresh(refreshes: list[dict]) -> dict | None:
    return next((r for r in refreshes if r.get("Status") in ACTIVE), None)


def desired_version(refresh: dict) -> str | None:
    spec = (refresh.get("DesiredConfiguration") or {}).get("LaunchTemplate") or {}
    return spec.get("Version")


def decide(inp: ReleaseInputs, now: datetime) -> Decision:
    problems = images.image_problems(inp.image, inp.ami_id, inp.role, inp.region, now)
    hint = f"run `golden env apply {inp.env}` first"
    if inp.template is None:
        problems.append(f"launch template {inp.template_name} does not exist ({hint})")
    if inp.group is None:
        problems.append(f"Auto Scaling group {inp.group_name} does not exist ({hint})")
    if inp.template is not None and inp.group is not None:
        spec = inp.group.get("LaunchTemplate")
        if not spec:
            problems.append(
                f"group {inp.group_name} does not use a launch template directly "
                f"(launch configuration or mixed instances policy); {hint}"
            )
        else:
            version = str(spec.get("Version") or "$Default")
            if spec.get("LaunchTemplateId") != inp.template["LaunchTemplateId"]:
                problems.append(
                    f"group {inp.group_name} uses launch template "
                    f"{spec.get('LaunchTemplateName')}, expected "
                    f"{inp.template_name} ({hint})"
                )
            elif version.startswith("$"):
                problems.append(
                    f"group {inp.group_name} uses launch template version {version}: "
                    f"rollback needs an explicit version number ({hint})"
                )
            elif inp.group_version is None:
                problems.append(
                    f"group {inp.group_name} uses launch template version {version}, "
                    f"which does not exist"
                )
            else:
                for problem in templates.security_problems(
                    inp.group_version.get("LaunchTemplateData", {})
                ):
                    problems.append(
                        f"launch template {inp.template_name} version {version}: {problem} ({hint})"
                    )
    decision = Decision("start")
    if inp.active is not None:
        same_release = inp.active_image == inp.ami_id and inp.active_image is not None
        if same_release and not problems:
            version = desired_version(inp.active)
            decision = Decision(
                "attach",
                inp.active["InstanceRefreshId"],
                int(version) if version and version.isdigit() else None,
            )
        else:
            problems.append(
                f"instance refresh {inp.active['InstanceRefreshId']} is "
                f"{inp.active.get('Status')} on {inp.group_name} (started "
                f"{inp.active.get('StartTime')}, towards {inp.active_image or 'unknown AMI'}): "
                f"only one release at a time; wait for it, or stop it with "
                f"`golden rollback {inp.env} --role {inp.role}`"
            )
    if problems:
        raise PreflightError(
            "release refused, nothing was changed:\n  - " + "\n  - ".join(problems)
        )
    return decision
