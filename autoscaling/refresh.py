"""Instance refresh: the StartInstanceRefresh request (pure) and the waiting loop.

AWS has no waiter for instance refresh, so this is one: the poll interval starts short,
grows while nothing changes and snaps back when something does, always within
[min_interval, max_interval]; the loop ends at a terminal status or at the deadline.
Clock and sleep are parameters so tests run it in microseconds.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from golden.core.errors import OperationFailed

from autoscaling.settings import Role

TERMINAL = ("Successful", "Failed", "Cancelled", "RollbackSuccessful", "RollbackFailed")


def start_request(
    role: Role, template_id: str, version: int, ungated: tuple[str, ...] = ()
) -> dict:
    """Only DesiredConfiguration names the new version: the group itself keeps the old
    one until AWS adopts the new one on success, so a rollback goes back, not forward.
    Every alarm of the role gates the refresh except those in UNGATED (a rollback's
    alarms already in ALARM, which would fail it at once)."""
    ref = role.refresh
    prefs: dict = {
        "MinHealthyPercentage": ref["min_healthy_percentage"],
        "MaxHealthyPercentage": ref["max_healthy_percentage"],
        "InstanceWarmup": role["instance_warmup"],
        "SkipMatching": ref["skip_matching"],
        "AutoRollback": True,
        "ScaleInProtectedInstances": ref["scale_in_protected_instances"],
        "StandbyInstances": ref["standby_instances"],
    }
    checkpoints = list(ref["checkpoint_percentages"])
    if checkpoints:
        # A last checkpoint below 100 would end the refresh there, half done.
        if checkpoints[-1] != 100:
            checkpoints.append(100)
        prefs["CheckpointPercentages"] = checkpoints
        prefs["CheckpointDelay"] = ref["checkpoint_delay"]
    if ref["bake_time"]:
        prefs["BakeTime"] = ref["bake_time"]
    alarms = [a for a in role["alarms"] if a not in ungated]
    if alarms:
        prefs["AlarmSpecification"] = {"Alarms": alarms}
    return {
        "AutoScalingGroupName": role.group,
        "Strategy": "Rolling",
        "DesiredConfiguration": {
            "LaunchTemplate": {"LaunchTemplateId": template_id, "Version": str(version)}
        },
        "Preferences": prefs,
    }


@dataclass(frozen=True)
class Timing:
    min_interval: float = 5.0
    max_interval: float = 30.0
    factor: float = 1.5
    timeout: float = 7200.0
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic


def next_interval(current: float, changed: bool, timing: Timing) -> float:
    if changed:
        return timing.min_interval
    return min(timing.max_interval, max(timing.min_interval, current * timing.factor))


def _fingerprint(refresh: dict) -> tuple:
    rollback = refresh.get("RollbackDetails") or {}
    return (
        refresh.get("Status"),
        refresh.get("PercentageComplete"),
        refresh.get("InstancesToUpdate"),
        refresh.get("StatusReason"),
        rollback.get("PercentageCompleteOnRollback"),
    )


# A refresh just started may not be listed yet (Auto Scaling, like EC2, answers from an
# eventually consistent view): this many polls may come back empty before it is an error.
NOT_YET_VISIBLE_POLLS = 5


def wait(
    describe: Callable[[], dict | None],
    timing: Timing,
    on_update: Callable[[dict], None] | None = None,
) -> dict:
    """Poll ``describe`` (returns the refresh, None while it is not listed) until a
    terminal status; returns it. Raises OperationFailed at the deadline, or when the
    refresh is not listed after NOT_YET_VISIBLE_POLLS polls or disappears once seen."""
    deadline = timing.clock() + timing.timeout
    max_polls = int(timing.timeout / max(timing.min_interval, 1e-3)) + 2
    interval = timing.min_interval
    last = None
    refresh: dict | None = None
    unseen = 0
    for _ in range(max_polls):
        refresh = describe()
        if refresh is None:
            unseen += 1
            if last is not None:
                raise OperationFailed("the instance refresh disappeared while waiting for it")
            if unseen >= NOT_YET_VISIBLE_POLLS:
                raise OperationFailed(
                    f"the instance refresh just started is still not listed after {unseen} "
                    f"polls; run the same command again to attach to it"
                )
            timing.sleep(interval)
            continue
        changed = _fingerprint(refresh) != last
        last = _fingerprint(refresh)
        if changed and on_update:
            on_update(refresh)
        if refresh.get("Status") in TERMINAL:
            return refresh
        interval = next_interval(interval, changed, timing)
        if timing.clock() + interval > deadline:
            break
        timing.sleep(interval)
    status = refresh.get("Status") if refresh else "unknown"
    raise OperationFailed(
        f"gave up waiting after {timing.timeout:.0f}s: instance refresh "
        f"{(refresh or {}).get('InstanceRefreshId')} is still {status}. It goes on in AWS: run "
        f"the same release again to attach to it, or `golden rollback` to stop it."
    )
