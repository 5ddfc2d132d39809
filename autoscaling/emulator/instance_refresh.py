"""Instance refresh for moto's Auto Scaling backend (Start/Describe/Cancel/Rollback).

State lives on the moto backend object (``backend.__dict__``), so POST /moto-api/reset,
which rebuilds every backend, clears it. The model follows the AWS documentation:

- one active refresh per group (InstanceRefreshInProgress), ActiveInstanceRefreshNotFound
  for Cancel/Rollback without one, IrreversibleInstanceRefresh for a rollback that has
  no DesiredConfiguration or that uses $Latest/$Default;
- AutoRollback requires a DesiredConfiguration with an explicit launch-template version,
  and a group that does not use $Latest/$Default (ValidationError otherwise);
- instances are replaced in batches sized from Min/MaxHealthyPercentage as AWS documents
  them (emulator/refresh_batches.py, written from the documentation, never from golden's
  own preview): old instances terminated while their replacements launch, or new ones
  launched first (the group briefly above its desired capacity) and the old ones
  terminated once those are warmed up; SkipMatching leaves instances already on the
  desired version;
- "it waits until the instances pass your health checks and complete warmup before it
  moves on to replacing other instances": a batch warms up for InstanceWarmup (default
  the group's health check grace period) before it counts in PercentageComplete and
  InstancesToUpdate, and before the next batch starts;
- while it warms up, the new instances are checked: one that is unhealthy (see
  emulator.health) or a gating alarm in ALARM fails the refresh; with AutoRollback the
  group is put back on its original launch-template version (RollbackInProgress ->
  RollbackSuccessful), without it the refresh ends Failed;
- CheckpointPercentages: a batch stops at the next checkpoint, the refresh pauses for
  CheckpointDelay once per step at the highest checkpoint reached, a last checkpoint
  below 100 ends the refresh there; BakeTime is spent in status Baking while alarms are
  still watched; on Successful the group adopts the desired version.

Not modelled: a gating alarm that does not exist (ignored here; AWS does not document
what it does), rollbacks do not warm up (each step replaces one batch), instances added
by a scale-out during a refresh, the instance maintenance policy (defaults come from the
request or AWS's documented defaults).

Time: a refresh moves at most one step per DescribeInstanceRefreshes call (after the
reply is built, so each status is reported at least once) and at most once every
``step_seconds`` (emulator.config); waits are multiplied by ``time_scale``.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from moto.autoscaling.exceptions import AutoscalingClientError, ValidationError
from moto.cloudwatch.models import cloudwatch_backends

from autoscaling.emulator import config, health
from autoscaling.emulator import refresh_batches as batches
from autoscaling.emulator.refresh_model import Refresh, now_utc

ACTIVE = ("Pending", "InProgress", "Baking", "Cancelling", "RollbackInProgress")
_lock = threading.RLock()


class InstanceRefreshInProgress(AutoscalingClientError):
    code = "InstanceRefreshInProgress"


class ActiveInstanceRefreshNotFound(AutoscalingClientError):
    code = "ActiveInstanceRefreshNotFound"


class IrreversibleInstanceRefresh(AutoscalingClientError):
    code = "IrreversibleInstanceRefresh"


def _store(backend) -> dict[str, list[Refresh]]:
    # Kept in the backend's own __dict__ so that moto's reset (which empties it) clears us.
    return backend.__dict__.setdefault("golden_instance_refreshes", {})


def _group(backend, name: str):
    group = backend.autoscaling_groups.get(name)
    if group is None:
        raise ValidationError(f"AutoScalingGroup name not found - {name}")
    return group


def _is_alias(version: Any) -> bool:
    return str(version).lower() in ("$latest", "$default")


def resolve_template(ec2_backend, spec: dict):
    if spec.get("LaunchTemplateId"):
        return ec2_backend.get_launch_template(spec["LaunchTemplateId"])
    return ec2_backend.get_launch_template_by_name(spec["LaunchTemplateName"])


def instance_version(state) -> int | None:
    return getattr(state, "golden_launch_version", None)


# -- actions ----------------------------------------------------------------------------------
def start(
    backend, group_name: str, strategy: str | None, preferences: dict | None, desired: dict | None
) -> str:
    with _lock:
        group = _group(backend, group_name)
        refreshes = _store(backend).setdefault(group_name, [])
        if any(r.status in ACTIVE for r in refreshes):
            raise InstanceRefreshInProgress(
                "An Instance Refresh is already in progress and blocks the execution of this "
                "Instance Refresh."
            )
        prefs = _normalise_preferences(preferences or {})
        if group.ec2_launch_template is None:
            raise ValidationError(
                "The emulator models instance refresh only for groups that use a launch template."
            )
        desired_lt = (desired or {}).get("LaunchTemplate")
        if prefs.get("AutoRollback"):
            if not desired_lt:
                raise ValidationError("AutoRollback requires a DesiredConfiguration.")
            if _is_alias(desired_lt.get("Version", "$Default")) or _is_alias(
                group.launch_template_version
            ):
                raise ValidationError(
                    "AutoRollback is not supported when the Auto Scaling group or the desired "
                    "configuration uses the $Latest or $Default launch template version."
                )
        if desired_lt and not (
            desired_lt.get("LaunchTemplateId") or desired_lt.get("LaunchTemplateName")
        ):
            raise ValidationError(
                "DesiredConfiguration.LaunchTemplate needs LaunchTemplateId or LaunchTemplateName."
            )
        refresh = Refresh(group, prefs, desired, strategy or "Rolling")
        if desired_lt:
            template = resolve_template(backend.ec2_backend, desired_lt)
            version = template.get_version(desired_lt.get("Version", "$Default"))
            refresh.desired_template_id = template.id
            refresh.desired_version = version.number
        else:
            template = group.ec2_launch_template
            refresh.desired_template_id = template.id
            refresh.desired_version = template.get_version(group.launch_template_version).number
        skip = prefs.get("SkipMatching", False)
        refresh.to_replace = [
            s.instance.id
            for s in group.instance_states
            if s.lifecycle_state == "InService"
            and not (skip and _matches(s, refresh.desired_template_id, refresh.desired_version))
        ]
        refresh.total = len(refresh.to_replace)
        refresh.last_step = time.monotonic()
        refreshes.insert(0, refresh)
        return refresh.id


def describe(backend, group_name: str, ids: list[str] | None) -> list[dict]:
    with _lock:
        refreshes = _store(backend).get(group_name, [])
        # Report, then advance: every status (Pending, Cancelling, ...) is seen once.
        out = [r.describe() for r in refreshes if not ids or r.id in ids]
        for refresh in refreshes:
            if refresh.status in ACTIVE:
                _maybe_step(backend, refresh)
        return out


def cancel(backend, group_name: str) -> str:
    with _lock:
        _group(backend, group_name)
        refresh = _active(backend, group_name)
        if refresh is None or refresh.status in ("Cancelling", "RollbackInProgress"):
            raise ActiveInstanceRefreshNotFound(
                f"No in progress or pending Instance Refresh found for Auto Scaling group "
                f"{group_name}"
            )
        refresh.status = "Cancelling"
        refresh.status_reason = "Cancellation requested by the user."
        return refresh.id


def rollback(backend, group_name: str) -> str:
    with _lock:
        group = _group(backend, group_name)
        refresh = _active(backend, group_name)
        if refresh is None or refresh.status in ("Cancelling", "RollbackInProgress"):
            raise ActiveInstanceRefreshNotFound(
                f"No in progress or pending Instance Refresh found for Auto Scaling group "
                f"{group_name}"
            )
        desired_lt = (refresh.desired_spec or {}).get("LaunchTemplate")
        if (
            not desired_lt
            or _is_alias(desired_lt.get("Version", "$Default"))
            or _is_alias(group.launch_template_version)
        ):
            raise IrreversibleInstanceRefresh(
                "The instance refresh cannot be rolled back: it has no DesiredConfiguration or "
                "uses $Latest/$Default."
            )
        _begin_rollback(backend, refresh, "Rollback requested by the user.")
        return refresh.id


def _active(backend, group_name: str) -> Refresh | None:
    return next((r for r in _store(backend).get(group_name, []) if r.status in ACTIVE), None)


def _matches(state, template_id: str | None, version: int | None) -> bool:
    group = state.auto_scaling_group
    tid = group.ec2_launch_template.id if group.ec2_launch_template else None
    return tid == template_id and instance_version(state) == version


def _normalise_preferences(prefs: dict) -> dict:
    out = dict(prefs)
    out.setdefault("MinHealthyPercentage", 90)
    out.setdefault("SkipMatching", False)
    out.setdefault("AutoRollback", False)
    out.setdefault("ScaleInProtectedInstances", "Ignore")
    out.setdefault("StandbyInstances", "Ignore")
    mn = int(out["MinHealthyPercentage"])
    mx = int(out.get("MaxHealthyPercentage", 100))
    if not 0 <= mn <= 100:
        raise ValidationError("MinHealthyPercentage must be between 0 and 100.")
    if not 100 <= mx <= 200:
        raise ValidationError("MaxHealthyPercentage must be between 100 and 200.")
    if mx - mn > 100:
        raise ValidationError(
            "The difference between MaxHealthyPercentage and "
            "MinHealthyPercentage cannot be more than 100."
        )
    checkpoints = out.get("CheckpointPercentages") or []
    if checkpoints and (sorted(checkpoints) != list(checkpoints) or checkpoints[-1] > 100):
        raise ValidationError("CheckpointPercentages must be ascending values up to 100.")
    return out


# -- the state machine ------------------------------------------------------------------------
def _maybe_step(backend, refresh: Refresh) -> None:
    now = time.monotonic()
    if now - refresh.last_step < config.get("step_seconds"):
        return
    refresh.last_step = now
    _step(backend, refresh, now)


def _scaled(seconds: Any) -> float:
    return float(seconds or 0) * config.get("time_scale")


def _finish(refresh: Refresh, status: str, reason: str | None) -> None:
    refresh.status = status
    refresh.status_reason = reason
    refresh.end_time = now_utc()


def _step(backend, refresh: Refresh, now: float) -> None:
    """Move REFRESH one step on from its state at NOW (time.monotonic() seconds)."""
    group = backend.autoscaling_groups.get(refresh.group_name)
    if group is None:
        _finish(refresh, "Failed", "The Auto Scaling group was deleted.")
        return
    if _control_step(backend, group, refresh):
        return
    if _checks_failed(backend, group, refresh):
        return
    if refresh.status == "Baking":
        if now - (refresh.bake_started or now) >= _scaled(refresh.preferences.get("BakeTime")):
            _succeed(backend, group, refresh)
        else:
            refresh.status_reason = "Waiting for the bake time to end."
        return
    if refresh.warm_until is not None:
        _warm_up(backend, group, refresh, now)
        return
    if _at_checkpoint(refresh, now):
        return
    if refresh.to_replace:
        _replace_batch(backend, group, refresh, now)
        return
    if refresh.preferences.get("BakeTime"):
        refresh.status = "Baking"
        refresh.status_reason = "Waiting for the bake time to end."
        refresh.bake_started = now
        return
    _succeed(backend, group, refresh)


def _control_step(backend, group, refresh: Refresh) -> bool:
    """Step a refresh that is starting, cancelling or rolling back; False for any other."""
    if refresh.status == "Pending":
        refresh.status = "InProgress"
        refresh.status_reason = None
        return True
    if refresh.status == "Cancelling":
        _finish(refresh, "Cancelled", "The instance refresh was cancelled.")
        return True
    if refresh.status == "RollbackInProgress":
        _rollback_step(backend, group, refresh)
        return True
    return False


def _checks_failed(backend, group, refresh: Refresh) -> bool:
    """Fail REFRESH (see _fail) when a gating alarm fires or an instance of the last batch
    is unhealthy, marking those instances Unhealthy in the group; True when it did."""
    firing = _firing_alarms(backend, refresh)
    if firing:
        _fail(backend, refresh, f"Alarm(s) {', '.join(firing)} in ALARM state.")
        return True
    sick = [i for i in refresh.last_batch if _health(backend, group, i) == health.UNHEALTHY]
    if not sick:
        return False
    for state in group.instance_states:
        if state.instance.id in sick:
            state.health_status = "Unhealthy"
    _fail(
        backend,
        refresh,
        f"{len(sick)} new instance(s) failed their health checks: {', '.join(sick)}.",
    )
    return True


def _at_checkpoint(refresh: Refresh, now: float) -> bool:
    """True while a checkpoint delay runs; clears the checkpoint once it has ended."""
    if refresh.checkpoint_until is None:
        return False
    if now < refresh.checkpoint_until:
        refresh.status_reason = "Waiting for the checkpoint delay to end."
        return True
    refresh.checkpoint_until = None
    refresh.status_reason = None
    return False


def _checkpoints(refresh: Refresh) -> list[int]:
    return list(refresh.preferences.get("CheckpointPercentages") or [])


def _warm_up(backend, group, refresh: Refresh, now: float) -> None:
    """The batch in flight warms up; once it has, the old instances it replaces that
    were kept until then are terminated, it counts as done, and checkpoints are reached."""
    from autoscaling.emulator.group_instances import terminate_group_instances

    if not _batch_ready(backend, group, refresh, now):
        return
    terminate_group_instances(backend, group, refresh.retire)
    before = refresh.done
    refresh.done += len(refresh.last_batch)
    # last_batch stays: its instances are still checked until the next batch replaces it.
    refresh.retire, refresh.warm_until = [], None
    refresh.status_reason = None
    checkpoints = _checkpoints(refresh)
    hit = batches.reached(refresh.total, before, refresh.done, checkpoints)
    if checkpoints and checkpoints[-1] < 100 and checkpoints[-1] in hit:
        # "To replace only a portion of your Auto Scaling group and then stop completely".
        refresh.to_replace = []
        return
    if hit and max(hit) < 100:
        refresh.checkpoints_done.update(hit)
        delay = refresh.preferences.get("CheckpointDelay", 3600)
        refresh.checkpoint_until = now + _scaled(delay)
        refresh.status_reason = f"Checkpoint {max(hit)}% reached."


def _warmup_seconds(group, refresh: Refresh) -> float:
    """InstanceWarmup, else the group's DefaultInstanceWarmup, else its health check
    grace period (API_RefreshPreferences)."""
    value = refresh.preferences.get("InstanceWarmup")
    if value is None:
        value = getattr(group, "default_instance_warmup", None)
    if value is None:
        value = getattr(group, "health_check_grace_period", 0)
    return _scaled(value)


def _next_batch(group, refresh: Refresh, left: int, checkpoints: list[int]) -> batches.Batch:
    prefs = refresh.preferences
    given = prefs.get("MaxHealthyPercentage")
    room = batches.room_to_checkpoint(refresh.total, refresh.done, checkpoints)
    return batches.next_batch(
        group.desired_capacity or 0,
        left,
        int(prefs["MinHealthyPercentage"]),
        None if given is None else int(given),
        room,
    )


def _replace_batch(backend, group, refresh: Refresh, now: float) -> None:
    from autoscaling.emulator.group_instances import launch_instances, terminate_group_instances

    batch = _next_batch(group, refresh, len(refresh.to_replace), _checkpoints(refresh))
    old, refresh.to_replace = refresh.to_replace[: batch.size], refresh.to_replace[batch.size :]
    template = backend.ec2_backend.get_launch_template(refresh.desired_template_id)
    terminate_group_instances(backend, group, old[: batch.terminate_first])
    refresh.retire = old[batch.terminate_first :]
    refresh.last_batch = launch_instances(group, len(old), template, refresh.desired_version)
    refresh.warm_until = now + _warmup_seconds(group, refresh)
    refresh.status_reason = None


def _health(backend, group, instance_id: str) -> str:
    """healthy | pending | unhealthy (emulator.health.instance_health); an instance that
    left the group (a scale-in took it) is nothing to wait for: healthy."""
    state = next((s for s in group.instance_states if s.instance.id == instance_id), None)
    if state is None:
        return health.HEALTHY_NOW
    return health.instance_health(backend, group, state)


def _batch_ready(backend, group, refresh: Refresh, now: float) -> bool:
    """The batch in flight counts once every new instance passed its health checks and
    the warm-up has run (AWS waits for both before the next replacement; while health is
    unknown it says so, in its own words)."""
    waiting = [i for i in refresh.last_batch if _health(backend, group, i) != health.HEALTHY_NOW]
    if waiting:
        refresh.status_reason = (
            f"Waiting for remaining instances to be available. For example: {waiting[0]} has "
            f"insufficient data to evaluate its health with Elastic Load Balancing."
        )
        return False
    if now < (refresh.warm_until or now):
        refresh.status_reason = "Waiting for the new instances to warm up."
        return False
    return True


def _firing_alarms(backend, refresh: Refresh) -> list[str]:
    spec = refresh.preferences.get("AlarmSpecification") or {}
    names = spec.get("Alarms") or []
    if not names:
        return []
    cw = cloudwatch_backends[backend.account_id][backend.region_name]
    return [n for n in names if n in cw.alarms and cw.alarms[n].state_value == "ALARM"]


def _fail(backend, refresh: Refresh, reason: str) -> None:
    if refresh.preferences.get("AutoRollback"):
        _begin_rollback(backend, refresh, reason)
    else:
        _finish(refresh, "Failed", reason)


def _begin_rollback(backend, refresh: Refresh, reason: str) -> None:
    group = backend.autoscaling_groups[refresh.group_name]
    refresh.status = "RollbackInProgress"
    refresh.status_reason = f"{reason} Rolling back to the previous configuration."
    refresh.checkpoint_until = None
    refresh.warm_until = None
    _drop_surplus(backend, group, refresh)
    refresh.rollback_left = [
        s.instance.id
        for s in group.instance_states
        if not _matches(s, refresh.original_template_id, refresh.original_version)
    ]
    refresh.rollback_total = len(refresh.rollback_left)
    refresh.rollback = {"RollbackReason": reason, "RollbackStartTime": now_utc()}


def _drop_surplus(backend, group, refresh: Refresh) -> None:
    """A batch launched before terminating left the group above its desired capacity:
    the rollback terminates that surplus of new instances first (an assumption; AWS
    documents no detail) and keeps the old instances that were waiting to retire."""
    from autoscaling.emulator.group_instances import terminate_group_instances

    surplus = len(group.instance_states) - (group.desired_capacity or 0)
    new = [i for i in refresh.last_batch if i in {s.instance.id for s in group.instance_states}]
    terminate_group_instances(backend, group, new[: max(0, surplus)])
    refresh.retire = []


def _rollback_step(backend, group, refresh: Refresh) -> None:
    """A rollback replaces the new instances in batches as a refresh does (launch-first
    when the maximum allows, waiting for the replacements' health and warm-up); a
    replacement failing its checks ends the rollback RollbackFailed."""
    from autoscaling.emulator.group_instances import launch_instances, terminate_group_instances

    now = time.monotonic()
    if refresh.warm_until is not None:
        sick = [i for i in refresh.last_batch if _health(backend, group, i) == health.UNHEALTHY]
        if sick:
            _finish(refresh, "RollbackFailed",
                    f"{refresh.rollback['RollbackReason']} The rollback failed: "
                    f"{', '.join(sick)} failed their health checks.")  # fmt: skip
            return
        if not _batch_ready(backend, group, refresh, now):
            return
        terminate_group_instances(backend, group, refresh.retire)
        refresh.retire, refresh.warm_until, refresh.last_batch = [], None, []
        return
    if refresh.rollback_left:
        batch = _next_batch(group, refresh, len(refresh.rollback_left), [])
        old = refresh.rollback_left[: batch.size]
        refresh.rollback_left = refresh.rollback_left[batch.size :]
        template = backend.ec2_backend.get_launch_template(refresh.original_template_id)
        terminate_group_instances(backend, group, old[: batch.terminate_first])
        refresh.retire = old[batch.terminate_first :]
        refresh.last_batch = launch_instances(group, len(old), template, refresh.original_version)
        refresh.warm_until = now + _warmup_seconds(group, refresh)
        return
    _finish(
        refresh,
        "RollbackSuccessful",
        f"{refresh.rollback['RollbackReason']} The group was rolled back to launch template "
        f"version {refresh.original_version}.",
    )


def _succeed(backend, group, refresh: Refresh) -> None:
    desired_lt = (refresh.desired_spec or {}).get("LaunchTemplate")
    if desired_lt:
        template = backend.ec2_backend.get_launch_template(refresh.desired_template_id)
        group.ec2_launch_template = template
        group.launch_template_version = desired_lt.get("Version", "$Default")
        group.provided_launch_template_version = desired_lt.get("Version")
    refresh.to_replace = []
    refresh.last_batch = []
    refresh.done = refresh.total
    _finish(refresh, "Successful", None)


def tick_all() -> None:
    """Move every active refresh of every existing Auto Scaling backend on (the ticker)."""
    from moto.autoscaling.models import autoscaling_backends

    with _lock:
        # dict.values: only backends that exist; indexing would create one per region.
        for per_account in list(autoscaling_backends.values()):
            for backend in list(dict.values(per_account)):
                for refreshes in list(_store(backend).values()):
                    for refresh in refreshes:
                        if refresh.status in ACTIVE:
                            _maybe_step(backend, refresh)
