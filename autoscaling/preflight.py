"""Release pre-flight (pure): every check that must pass before anything changes, and what
this run of a release is to do.

Input is what awsstate read; output is a Decision:
- "start": a refresh towards a new launch-template version (or one that already holds
  exactly this release's launch data), gated by the role's alarms;
- "attach": wait for the refresh an earlier run of the SAME release started;
- "none": the group already runs this release (same launch data, every instance on it and
  healthy, recorded as default and known-good): nothing to do;
- "record": the group runs this release and it checks out, but an earlier run stopped
  before making it the default / known-good: only that bookkeeping is left;
or a PreflightError listing every problem (nothing was changed).

A release's identity is its whole launch data (templates.launch_identity), not its AMI:
a version, or a refresh in flight, is "this release" only when every launch parameter
equals what this run would create.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from golden.core.errors import PreflightError

from autoscaling import images, templates, verification

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
    active_data: dict | None = None  # LaunchTemplateData of that refresh's desired version
    expected: dict | None = None  # LaunchTemplateData this run would create
    alarms: dict[str, str | None] = field(default_factory=dict)  # name -> state, None: missing
    rows: list[dict] = field(default_factory=list)  # release.instance_rows of the group
    known_good: list[int] = field(default_factory=list)
    env_ref: str = ""  # ENV as the operator must type it in a suggested command

    @property
    def active_image(self) -> str | None:
        return (self.active_data or {}).get("ImageId")


@dataclass
class Decision:
    action: str  # "start" | "attach" | "none" | "record"
    refresh_id: str | None = None
    desired_version: int | None = None  # attach: the refresh's version; else the group's
    reuse_group_version: bool = False  # start: the group's own version is this release


def active_refresh(refreshes: list[dict]) -> dict | None:
    return next((r for r in refreshes if r.get("Status") in ACTIVE), None)


def desired_version(refresh: dict) -> str | None:
    spec = (refresh.get("DesiredConfiguration") or {}).get("LaunchTemplate") or {}
    return spec.get("Version")


def alarm_problems(alarms: dict[str, str | None], region: str, source: str) -> list[str]:
    """Why the gating ALARMS (name -> state, None: does not exist) cannot gate a refresh
    now: a missing alarm would leave it ungated, one in ALARM would fail it at once."""
    out = []
    for name, state in alarms.items():
        if state is None:
            out.append(
                f"gating alarm {name!r} ({source}) does not exist in {region}: the refresh "
                f"would run without this gate; fix the name or create the alarm"
            )
        elif state == "ALARM":
            out.append(
                f"gating alarm {name!r} is in ALARM now: AWS would fail the refresh at once; "
                f"start it when the alarm is OK"
            )
    return out


def capacity_problems(group: dict, group_name: str) -> list[str]:
    """An empty group has nothing to health-check: AWS would report its refresh
    Successful and the group would launch a version no instance ever ran."""
    if (group.get("DesiredCapacity") or 0) > 0:
        return []
    return [
        f"group {group_name} has desired capacity 0: there is no instance to health-check, "
        f"so AWS would report the refresh Successful and leave the group launching an "
        f"unverified version; give it capacity first (aws autoscaling set-desired-capacity "
        f"--auto-scaling-group-name {group_name} --desired-capacity 1), then release"
    ]


def _resource_problems(inp: ReleaseInputs, now: datetime) -> list[str]:
    problems = images.image_problems(inp.image, inp.ami_id, inp.role, inp.region, now)
    hint = f"run `golden env apply {inp.env_ref or inp.env}` first"
    if inp.template is None:
        problems.append(f"launch template {inp.template_name} does not exist ({hint})")
    if inp.group is None:
        problems.append(f"Auto Scaling group {inp.group_name} does not exist ({hint})")
    if inp.template is None or inp.group is None:
        return problems
    spec = inp.group.get("LaunchTemplate")
    if not spec:
        problems.append(
            f"group {inp.group_name} does not use a launch template directly "
            f"(launch configuration or mixed instances policy); {hint}"
        )
        return problems
    version = str(spec.get("Version") or "$Default")
    if spec.get("LaunchTemplateId") != inp.template["LaunchTemplateId"]:
        problems.append(
            f"group {inp.group_name} uses launch template {spec.get('LaunchTemplateName')}, "
            f"expected {inp.template_name} ({hint})"
        )
    elif version.startswith("$"):
        problems.append(
            f"group {inp.group_name} uses launch template version {version}: "
            f"rollback needs an explicit version number ({hint})"
        )
    elif inp.group_version is None:
        problems.append(
            f"group {inp.group_name} uses launch template version {version}, which does not exist"
        )
    else:
        for problem in templates.security_problems(inp.group_version.get("LaunchTemplateData", {})):
            problems.append(
                f"launch template {inp.template_name} version {version}: {problem} ({hint})"
            )
    return problems


def _refuse(problems: list[str]) -> PreflightError:
    return PreflightError("release refused, nothing was changed:\n  - " + "\n  - ".join(problems))


def _attach_or_refuse(inp: ReleaseInputs) -> tuple[Decision | None, list[str]]:
    active = inp.active or {}
    version = desired_version(active)
    differs = (
        templates.identity_differences(inp.active_data, inp.expected)
        if inp.active_data is not None and inp.expected is not None
        else ["unknown: its desired launch-template version could not be read"]
    )
    if not differs:
        number = int(version) if version and version.isdigit() else None
        return Decision("attach", active["InstanceRefreshId"], number), []
    what = (
        f"towards {inp.active_image}, same AMI but other launch data ({', '.join(differs)} "
        f"differ from what this run would create: settings changed since it started?)"
        if inp.active_image == inp.ami_id
        else f"towards {inp.active_image or 'unknown AMI'}"
    )
    return None, [
        f"instance refresh {active.get('InstanceRefreshId')} is {active.get('Status')} on "
        f"{inp.group_name} (started {active.get('StartTime')}, launch template version "
        f"{version}, {what}): only one release at a time; wait for it, or stop it with "
        f"`golden rollback {inp.env_ref or inp.env} --role {inp.role}`"
    ]


def _same_release_decision(inp: ReleaseInputs, version: int) -> tuple[Decision | None, list[str]]:
    """The group's own version already holds this release's launch data."""
    tgs = bool((inp.group or {}).get("TargetGroupARNs"))
    state = verification.state(inp.rows, inp.ami_id, version, tgs)
    if state == verification.VERIFIED:
        recorded = inp.template.get("DefaultVersionNumber") == version and version in inp.known_good
        return Decision("none" if recorded else "record", desired_version=version), []
    if state == verification.BEHIND:
        return Decision("start", desired_version=version, reuse_group_version=True), []
    if state == verification.EMPTY:
        return None, capacity_problems(inp.group, inp.group_name) or [
            f"group {inp.group_name} has no InService instance yet: retry when it has"
        ]
    found = verification.problems(inp.rows, inp.ami_id, version, tgs)
    return None, [
        f"group {inp.group_name} already runs this release (launch template version "
        f"{version}, same launch data) but it does not check out: {'; '.join(found)}. "
        f"Look with `golden status {inp.env_ref or inp.env} --role {inp.role}`, roll back "
        f"with `golden rollback {inp.env_ref or inp.env} --role {inp.role}`"
    ]


def decide(inp: ReleaseInputs, now: datetime) -> Decision:
    """What this run does (see the module docstring); raises PreflightError naming every
    problem when it may do nothing."""
    problems = _resource_problems(inp, now)
    if problems:
        if inp.active is None:
            problems += alarm_problems(inp.alarms, inp.region, f"roles.{inp.role}.alarms")
        raise _refuse(problems)
    if inp.active is not None:
        decision, problems = _attach_or_refuse(inp)
    else:
        version = int(inp.group["LaunchTemplate"]["Version"])
        current = inp.group_version.get("LaunchTemplateData", {})
        if inp.expected is not None and not templates.identity_differences(current, inp.expected):
            decision, problems = _same_release_decision(inp, version)
        else:
            decision = Decision("start", desired_version=version)
        if decision is not None and decision.action == "start":
            problems = capacity_problems(inp.group, inp.group_name) + alarm_problems(
                inp.alarms, inp.region, f"roles.{inp.role}.alarms"
            )
    if problems or decision is None:
        raise _refuse(problems)
    return decision
