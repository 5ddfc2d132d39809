"""`golden rollback ENV --role R`.

While a refresh is active: RollbackInstanceRefresh (AWS puts the group back on the version
it ran before the refresh), then golden checks that every instance runs that version.
Otherwise: a release of the previous known-good launch-template version (knowngood),
which AWS still has, with its own AMI and user data, gated by the role's alarms. A gating
alarm that does not exist refuses the rollback (exit 3, nothing changed); one already in
ALARM -- likely why you roll back -- would fail the refresh at once, so it does not gate
this refresh and the output says so. A group scaled to zero is rolled back too: there
is nothing to check, and the version was verified when it was released.

A plain rollback always goes one known-good version further back, so retrying one that
went through would roll back again; `--to-version N` names where to go instead, and when
the group already runs N (every instance checked, N the default) nothing is done.
"""

from __future__ import annotations

from datetime import datetime, timezone

from botocore.exceptions import ClientError
from golden.core import retry
from golden.core import tags as T
from golden.core.errors import OperationFailed, PreflightError

from autoscaling import awsstate, images, knowngood, preflight, refresh, verification
from autoscaling.aws import Clients
from autoscaling.fleet import instance_rows, running_summary, verify
from autoscaling.release import Options, env_ref, run_refresh, timing_for
from autoscaling.settings import Environment, Role


def rollback(
    env: Environment,
    clients: Clients,
    role_name: str,
    opts: Options | None = None,
    to_version: int | None = None,
) -> dict:
    """Roll ROLE_NAME's group back: the active refresh if there is one, else to the
    previous known-good launch-template version, or to TO_VERSION (a known-good version)
    when given: then a group that already runs TO_VERSION, every instance checked, is left
    alone (a retried rollback changes nothing). Returns the report dict (with dry_run:
    True and nothing changed when OPTS.dry_run). Raises PreflightError when the group or
    template is missing or there is nothing to roll back to, OperationFailed when AWS
    refuses or the rollback ends other than successfully."""
    opts = opts or Options()
    role = env.role(role_name)
    asg, ec2 = clients.autoscaling, clients.ec2
    group = awsstate.group(asg, role.group)
    template = awsstate.launch_template(ec2, role.template)
    if group is None or template is None:
        raise PreflightError(
            f"rollback refused: group {role.group} or launch template "
            f"{role.template} does not exist"
        )
    active = preflight.active_refresh(awsstate.refreshes(asg, role.group))
    base = {"environment": env.name, "role": role.name, "group": role.group}
    current = str((group.get("LaunchTemplate") or {}).get("Version") or "")
    current_version = int(current) if current.isdigit() else None
    if active is not None:
        if to_version is not None and to_version != current_version:
            raise PreflightError(
                f"rollback refused: instance refresh {active['InstanceRefreshId']} is active; "
                f"rolling it back returns {role.group} to version {current_version}, not "
                f"{to_version}. Omit --to-version, or wait for the refresh to end"
            )
        return _roll_back_refresh(clients, role, active, base, opts)
    target = _target(role, template, current_version, to_version)
    if target == current_version:
        done = _already_there(clients, role, template, target, base)
        if done is not None:
            opts.reporter.info(
                f"{role.group} already runs known-good version {target}, every instance "
                f"checked; nothing to do"
            )
            return done
    return _release_known_good(env, clients, role, template, base, opts, current_version, target)


def _target(role: Role, template: dict, current: int | None, to_version: int | None) -> int:
    """The known-good version to go to: TO_VERSION when given (it must be recorded as
    known-good), else the most recent one other than CURRENT."""
    history = knowngood.read(template)
    if to_version is not None:
        if to_version not in history:
            raise PreflightError(
                f"rollback refused: version {to_version} is not recorded as known-good on "
                f"{role.template} (tag {T.KNOWN_GOOD} = {knowngood.render(history)!r})"
            )
        return to_version
    target = knowngood.previous_good(history, current)
    if target is None:
        raise PreflightError(
            f"rollback refused: no known-good launch template version other than "
            f"{current} is recorded on {role.template} (tag {T.KNOWN_GOOD} "
            f"= {knowngood.render(history)!r}); release a chosen AMI with `golden release`"
        )
    return target


def _already_there(
    clients: Clients, role: Role, template: dict, version: int, base: dict
) -> dict | None:
    """The report when the group runs VERSION and every instance checks out, else None."""
    data = awsstate.template_version(clients.ec2, template["LaunchTemplateId"], version)
    ami_id = (data or {}).get("LaunchTemplateData", {}).get("ImageId")
    group = awsstate.group(clients.autoscaling, role.group) or {}
    rows = instance_rows(clients, role)
    problems = verification.problems(
        rows,
        ami_id,
        version,
        bool(group.get("TargetGroupARNs")),
        expect_instances=bool(group.get("DesiredCapacity")),
    )
    if problems or template.get("DefaultVersionNumber") != version:
        return None
    return {**base, "action": "none", "to_version": version, "ami": ami_id, "instances": rows}


def _roll_back_refresh(
    clients: Clients, role: Role, active: dict, base: dict, opts: Options
) -> dict:
    """RollbackInstanceRefresh on the ACTIVE refresh (unless AWS already rolls it back),
    then wait for it to end."""
    asg = clients.autoscaling
    say = opts.reporter.info
    refresh_id = active["InstanceRefreshId"]
    if opts.dry_run:
        return {
            **base,
            "dry_run": True,
            "action": "rollback_instance_refresh",
            "instance_refresh_id": refresh_id,
            "status": active.get("Status"),
        }
    if active.get("Status") != "RollbackInProgress":
        try:
            asg.rollback_instance_refresh(AutoScalingGroupName=role.group)
        except ClientError as exc:
            raise OperationFailed(
                f"RollbackInstanceRefresh on {role.group} refused: "
                f"{exc.response['Error']['Message']}"
            ) from None
        say(f"rolling back instance refresh {refresh_id} on {role.group}")
    else:
        say(f"instance refresh {refresh_id} is already rolling back; waiting for it")

    def describe():
        items = awsstate.refreshes(asg, role.group, [refresh_id])
        return items[0] if items else None

    opts.reporter.refresh_started(f"rollback of {refresh_id}")
    try:
        final = refresh.wait(describe, timing_for(role, opts.timing), opts.reporter.refresh_update)
    finally:
        opts.reporter.refresh_done()
    running = running_summary(clients, role)
    if final.get("Status") != "RollbackSuccessful":
        raise OperationFailed(
            f"rollback of {refresh_id} ended {final.get('Status')}: "
            f"{final.get('StatusReason')}\nthe group now runs: {running}"
        )
    _check_rolled_back(clients, role, refresh_id, opts)
    say(f"rolled back: {running}")
    return {
        **base,
        "action": "rollback_instance_refresh",
        "instance_refresh_id": refresh_id,
        "status": final.get("Status"),
        "status_reason": final.get("StatusReason"),
        "running": running,
    }


def _release_known_good(
    env: Environment,
    clients: Clients,
    role: Role,
    template: dict,
    base: dict,
    opts: Options,
    current_version: int | None,
    target: int,
) -> dict:
    """Release known-good version TARGET to the group (which runs CURRENT_VERSION), after
    checking its AMI still exists and the gates."""
    asg, ec2 = clients.autoscaling, clients.ec2
    data = awsstate.template_version(ec2, template["LaunchTemplateId"], target)
    ami_id = (data or {}).get("LaunchTemplateData", {}).get("ImageId")
    image = images.describe_image(ec2, ami_id) if ami_id else None
    if image is None or image.get("State") != "available":
        raise PreflightError(
            f"rollback refused: known-good version {target} uses {ami_id}, "
            f"which is no longer available in {env.region}"
        )
    ungated = _gate(env, clients, role)
    plan = {
        **base,
        "action": "release_known_good",
        "from_version": current_version,
        "to_version": target,
        "ami": ami_id,
        "ungated_alarms": list(ungated),
    }
    if opts.dry_run:
        return {**plan, "dry_run": True}
    request = refresh.start_request(role, template["LaunchTemplateId"], target, ungated)
    try:
        refresh_id = retry.call(
            lambda: asg.start_instance_refresh(**request)["InstanceRefreshId"],
            retry.RESOURCE_CONTENTION,
            opts.backoff,
        )
    except ClientError as exc:
        raise OperationFailed(
            f"could not start the rollback refresh: {exc.response['Error']['Message']}"
        ) from None
    opts.reporter.info(
        f"rolling {role.group} back to known-good version {target} ({ami_id}) with instance "
        f"refresh {refresh_id}"
    )
    started = datetime.now(timezone.utc).isoformat()
    return run_refresh(
        clients,
        role,
        template["LaunchTemplateId"],
        target,
        ami_id,
        refresh_id,
        opts,
        base={**plan, "started": started, "env_ref": env_ref(env)},
        history_on_success=False,
        bad_version=current_version if current_version != target else None,
    )


def _gate(env: Environment, clients: Clients, role: Role) -> tuple[str, ...]:
    """The role's gating alarms that may NOT gate a rollback refresh: those already in
    ALARM (they would fail it at once). Raises PreflightError, nothing changed, when a
    gating alarm does not exist (a typo would silently drop the gate)."""
    states = awsstate.alarm_states(clients.cloudwatch, list(role["alarms"]))
    missing = {name: None for name, state in states.items() if state is None}
    problems = preflight.alarm_problems(missing, env.region, f"roles.{role.name}.alarms")
    if problems:
        raise PreflightError(
            "rollback refused, nothing was changed:\n  - " + "\n  - ".join(problems)
        )
    return tuple(name for name, state in states.items() if state == "ALARM")


def _check_rolled_back(clients: Clients, role: Role, refresh_id: str, opts: Options) -> None:
    """AWS reported RollbackSuccessful: check that every instance runs the group's
    version (the one it ran before the refresh) and is healthy."""
    group = awsstate.group(clients.autoscaling, role.group) or {}
    version = (group.get("LaunchTemplate") or {}).get("Version")
    template = awsstate.launch_template(clients.ec2, role.template) or {}
    data = awsstate.template_version(clients.ec2, template.get("LaunchTemplateId"), version)
    ami_id = (data or {}).get("LaunchTemplateData", {}).get("ImageId")
    problems = verify(
        clients,
        role,
        ami_id,
        version,
        timing_for(role, opts.timing),
        opts.verify_attempts,
        expect_instances=False,
    )
    if problems:
        raise OperationFailed(
            f"rollback of {refresh_id} reported RollbackSuccessful, but golden's own check "
            f"of {role.group} (launch template version {version}, {ami_id}) failed:\n  - "
            + "\n  - ".join(problems)
            + "\nthe group's launch template version is unchanged; look with `golden status`"
        )
