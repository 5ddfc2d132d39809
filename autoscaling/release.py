"""`golden release ENV --role R --ami AMI|latest`: roll an AMI through a group.

1. read (describe only) and pre-flight (preflight.decide); a refusal changes nothing;
2. a new launch-template version: the group's current one (SourceVersion) with the new
   ImageId and freshly rendered user data; one left by an interrupted run is reused;
3. StartInstanceRefresh naming that version only in DesiredConfiguration, AutoRollback on;
   or attach to the refresh an earlier run of the same release started;
4. wait (refresh.wait), then verify every InService instance runs the AMI and version and
   is healthy in its target groups; only then make the version the template's default and
   record it as known-good. Any other end: OperationFailed with AWS's reason and what the
   group runs now.
"""

from __future__ import annotations

import getpass
from dataclasses import dataclass, field
from datetime import datetime, timezone

from botocore.exceptions import ClientError
from golden.core.errors import ConfigError, OperationFailed, PreflightError

from autoscaling import awsstate, batches, images, knowngood, preflight, refresh, templates
from autoscaling.aws import Clients
from autoscaling.progress import Reporter
from autoscaling.settings import Environment, Role


@dataclass
class Options:
    dry_run: bool = False
    timing: refresh.Timing | None = None  # None: derived from the role's timeout
    verify_attempts: int = 10
    reporter: Reporter = field(default_factory=Reporter)


def timing_for(role: Role, timing: refresh.Timing | None) -> refresh.Timing:
    if timing is not None:
        return timing
    return refresh.Timing(timeout=role.refresh["timeout_minutes"] * 60)


def resolve_image(
    env: Environment, clients: Clients, role: Role, ami: str, now: datetime
) -> tuple[str, dict | None]:
    if ami == "latest":
        image = images.pick_latest(
            images.role_images(clients.ec2, role.name), role.name, env.region, now
        )
        if image is None:
            raise PreflightError(
                f"release refused, nothing was changed: no available, tested, "
                f"non-deprecated {role.name} AMI in {env.region}"
            )
        return image["ImageId"], image
    if not images.AMI_ID.match(ami):
        raise ConfigError(
            f"--ami: expected an AMI id like ami-0123456789abcdef0 or 'latest', got {ami!r}"
        )
    return ami, images.describe_image(clients.ec2, ami)


def read_inputs(
    env: Environment, clients: Clients, role: Role, ami_id: str, image: dict | None
) -> preflight.ReleaseInputs:
    ec2, asg = clients.ec2, clients.autoscaling
    template = awsstate.launch_template(ec2, role.template)
    group = awsstate.group(asg, role.group)
    group_version = None
    spec = (group or {}).get("LaunchTemplate") or {}
    if template and spec.get("Version") and not str(spec["Version"]).startswith("$"):
        group_version = awsstate.template_version(
            ec2, template["LaunchTemplateId"], spec["Version"]
        )
    active = active_image = None
    if group is not None:
        active = preflight.active_refresh(awsstate.refreshes(asg, role.group))
        if active is not None and template is not None:
            version = preflight.desired_version(active)
            if version:
                data = awsstate.template_version(ec2, template["LaunchTemplateId"], version)
                active_image = (data or {}).get("LaunchTemplateData", {}).get("ImageId")
    return preflight.ReleaseInputs(
        env=env.name,
        role=role.name,
        region=env.region,
        ami_id=ami_id,
        template_name=role.template,
        group_name=role.group,
        image=image,
        template=template,
        group=group,
        group_version=group_version,
        active=active,
        active_image=active_image,
    )


def _expected_data(current: dict, ami_id: str, user_data: str) -> dict:
    data = dict(current)
    data["ImageId"] = ami_id
    data["UserData"] = user_data
    return data


def _reusable_version(versions: list[dict], after: int, expected: dict) -> int | None:
    """A version a killed run created (newer than the group's, same AMI and data)."""
    for version in sorted(versions, key=lambda v: v["VersionNumber"], reverse=True):
        data = version.get("LaunchTemplateData", {})
        if (
            version["VersionNumber"] > after
            and data.get("ImageId") == expected["ImageId"]
            and templates.managed(data) == templates.managed(expected)
        ):
            return version["VersionNumber"]
    return None


def release(
    env: Environment, clients: Clients, role_name: str, ami: str, opts: Options | None = None
) -> dict:
    opts = opts or Options()
    say = opts.reporter.info
    role = env.role(role_name)
    now = datetime.now(timezone.utc)
    user_data = templates.user_data(env, role.name)  # a settings error stops us here
    ami_id, image = resolve_image(env, clients, role, ami, now)
    say(f"release {ami_id} to {env.name}/{role.name} (group {role.group}, region {env.region})")
    inputs = read_inputs(env, clients, role, ami_id, image)
    decision = preflight.decide(inputs, now)
    template_id = inputs.template["LaunchTemplateId"]
    current_version = int(inputs.group["LaunchTemplate"]["Version"])
    base = {
        "environment": env.name,
        "role": role.name,
        "group": role.group,
        "ami": ami_id,
        "launch_template": role.template,
        "previous_version": current_version,
    }

    if decision.action == "attach":
        say(
            f"attaching to instance refresh {decision.refresh_id} already running for this AMI "
            f"(started {inputs.active.get('StartTime')}); starting nothing new"
        )
        if opts.dry_run:
            return {
                **base,
                "dry_run": True,
                "action": "attach",
                "instance_refresh_id": decision.refresh_id,
            }
        return run_refresh(
            clients,
            role,
            template_id,
            decision.desired_version,
            ami_id,
            decision.refresh_id,
            opts,
            base={**base, "attached": True},
            history_on_success=True,
        )

    expected = _expected_data(inputs.group_version["LaunchTemplateData"], ami_id, user_data)
    versions = awsstate.template_versions(clients.ec2, template_id)
    reuse = _reusable_version(versions, current_version, expected)
    desired = inputs.group.get("DesiredCapacity") or 0
    ref = role.refresh
    plan = {
        **base,
        "new_version": reuse or "(new)",
        "changes": {
            k: [b, a]
            for k, (b, a) in templates.differences(
                inputs.group_version["LaunchTemplateData"], expected
            ).items()
        }
        | ({"ImageId": [inputs.group_version["LaunchTemplateData"].get("ImageId"), ami_id]}),
        "batches": batches.batches(
            desired, desired, ref["min_healthy_percentage"], ref["max_healthy_percentage"]
        ),
        "preferences": refresh.start_request(role, template_id, reuse or 0)["Preferences"],
    }
    if opts.dry_run:
        say("dry run: nothing was changed")
        return {**plan, "dry_run": True, "action": "start"}

    history = knowngood.read(inputs.template)
    if not history:
        # The version the group ran before its first release is the first known-good one.
        knowngood.write(clients.ec2, template_id, [current_version])
    if reuse:
        new_version = reuse
        say(f"reusing launch template version {new_version} left by an interrupted run")
    else:
        result = clients.ec2.create_launch_template_version(
            LaunchTemplateId=template_id,
            SourceVersion=str(current_version),
            VersionDescription=f"golden release {ami_id} by {_who()}",
            LaunchTemplateData={
                "ImageId": ami_id,
                "UserData": user_data,
                "MetadataOptions": dict(templates.METADATA_OPTIONS),
            },
        )["LaunchTemplateVersion"]
        new_version = result["VersionNumber"]
        problems = templates.security_problems(result["LaunchTemplateData"])
        if problems:
            raise OperationFailed(
                f"launch template {role.template} version {new_version}: "
                + "; ".join(problems)
                + " (no refresh was started)"
            )
        say(
            f"created launch template {role.template} version {new_version} "
            f"(from version {current_version})"
        )
    request = refresh.start_request(role, template_id, new_version)
    try:
        refresh_id = clients.autoscaling.start_instance_refresh(**request)["InstanceRefreshId"]
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "InstanceRefreshInProgress":
            raise PreflightError(
                f"another instance refresh started on {role.group} a moment ago (another "
                f"operator?): {exc.response['Error']['Message']} Launch template version "
                f"{new_version} was created but is not used."
            ) from None
        raise
    say(f"started instance refresh {refresh_id}: {role.group} -> version {new_version}")
    return run_refresh(
        clients,
        role,
        template_id,
        new_version,
        ami_id,
        refresh_id,
        opts,
        base={**base, "new_version": new_version},
        history_on_success=True,
    )


def _who() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def run_refresh(
    clients: Clients,
    role: Role,
    template_id: str,
    version: int | None,
    ami_id: str,
    refresh_id: str,
    opts: Options,
    *,
    base: dict,
    history_on_success: bool,
    bad_version: int | None = None,
) -> dict:
    reporter = opts.reporter
    asg = clients.autoscaling

    def describe() -> dict | None:
        items = awsstate.refreshes(asg, role.group, [refresh_id])
        return items[0] if items else None

    reporter.refresh_started(f"instance refresh {refresh_id}")
    try:
        final = refresh.wait(describe, timing_for(role, opts.timing), reporter.refresh_update)
    finally:
        reporter.refresh_done()
    if version is None:
        version = int(preflight.desired_version(final))
    status, reason = final.get("Status"), final.get("StatusReason") or "no reason given"
    result = {
        **base,
        "instance_refresh_id": refresh_id,
        "status": status,
        "status_reason": final.get("StatusReason"),
        "new_version": version,
    }
    if status != "Successful":
        running = running_summary(clients, role)
        raise OperationFailed(
            f"instance refresh {refresh_id} ended {status}: {reason}\n"
            f"the group {role.group} now runs: {running}"
        )
    problems = verify(clients, role, ami_id, version, opts)
    if problems:
        raise OperationFailed(
            f"instance refresh {refresh_id} reported Successful but "
            f"verification failed; launch template default left unchanged:\n"
            f"  - " + "\n  - ".join(problems)
        )
    clients.ec2.modify_launch_template(LaunchTemplateId=template_id, DefaultVersion=str(version))
    template = awsstate.launch_template(clients.ec2, role.template)
    history = knowngood.read(template or {})
    history = (
        knowngood.after_success(history, version)
        if history_on_success
        else knowngood.after_rollback(history, bad_version, version)
    )
    knowngood.write(clients.ec2, template_id, history)
    reporter.info(
        f"done: every instance of {role.group} runs {ami_id} (launch template "
        f"version {version}, now the default)"
    )
    return {
        **result,
        "default_version": version,
        "known_good_versions": history,
        "instances": instance_rows(clients, role),
    }


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


def verification_problems(
    rows: list[dict], ami_id: str, version: int, has_target_groups: bool
) -> list[str]:
    """Pure: what is wrong with the group's instances after a successful refresh."""
    problems = []
    in_service = [r for r in rows if r["lifecycle"] == "InService"]
    if not in_service:
        problems.append("no InService instances")
    for row in in_service:
        if row["ami"] != ami_id:
            problems.append(f"{row['instance_id']} runs {row['ami']}, expected {ami_id}")
        if str(row["launch_template_version"]) != str(version):
            problems.append(
                f"{row['instance_id']} is on launch template version "
                f"{row['launch_template_version']}, expected {version}"
            )
        if row["health"] != "Healthy":
            problems.append(f"{row['instance_id']} health is {row['health']}")
        if has_target_groups and row["targets"] != ["healthy"]:
            problems.append(f"{row['instance_id']} target health is {row['targets']}")
    return problems


def verify(clients: Clients, role: Role, ami_id: str, version: int, opts: Options) -> list[str]:
    timing = timing_for(role, opts.timing)
    problems: list[str] = []
    for attempt in range(max(1, opts.verify_attempts)):
        group = awsstate.group(clients.autoscaling, role.group) or {}
        rows = instance_rows(clients, role)
        problems = verification_problems(rows, ami_id, version, bool(group.get("TargetGroupARNs")))
        if not problems:
            return []
        if attempt + 1 < opts.verify_attempts:
            # Targets pass through "initial" for a few health checks after registration.
            timing.sleep(timing.min_interval)
    return problems
