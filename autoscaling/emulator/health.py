"""Instance health: from test-set rules, or from the runtime's real health checks.

Moto keeps every target healthy and has no API that makes an instance fail its health
checks. The emulator lets a caller declare "instances launched from image X are unhealthy"
(or one instance by id) through POST /moto-api/golden/health; the instance-refresh model
and the target-group patch both read the verdict from here. /moto-api/reset clears it.

When a runtime checks health for real (the rehearsal's load balancer,
emulator/runtime.py), :func:`instance_health` takes an ELB-checked group's verdict from
the instance's target groups instead, as Auto Scaling does with health check type ELB:
healthy once every target group reports it healthy; unhealthy once one reports it
unhealthy after the group's health check grace period (HealthCheckGracePeriod, from
launch, scaled by the emulator's time_scale), pending before either.
"""

from __future__ import annotations

import threading
import time

_lock = threading.Lock()
_by_image: dict[str, str] = {}
_by_instance: dict[str, str] = {}

HEALTHY = "healthy"
UNHEALTHY = "unhealthy"


def set_rule(
    *, image_id: str | None = None, instance_id: str | None = None, state: str = UNHEALTHY
) -> None:
    if state not in (HEALTHY, UNHEALTHY):
        raise ValueError(f"state must be {HEALTHY!r} or {UNHEALTHY!r}, got {state!r}")
    if not image_id and not instance_id:
        raise ValueError("give image_id or instance_id")
    with _lock:
        if image_id:
            _by_image[image_id] = state
        if instance_id:
            _by_instance[instance_id] = state


def clear() -> None:
    with _lock:
        _by_image.clear()
        _by_instance.clear()


def rules() -> dict:
    with _lock:
        return {"images": dict(_by_image), "instances": dict(_by_instance)}


def verdict(instance_id: str, image_id: str | None) -> str:
    """An instance-specific rule wins over its image's rule; the default is healthy."""
    with _lock:
        if instance_id in _by_instance:
            return _by_instance[instance_id]
        if image_id and image_id in _by_image:
            return _by_image[image_id]
    return HEALTHY


HEALTHY_NOW = "healthy"
PENDING = "pending"


def instance_health(backend, group, state, now: float | None = None) -> str:
    """healthy | pending | unhealthy for an instance of ``group`` (its InstanceState)."""
    from autoscaling.emulator import config, lifecycle

    instance = state.instance
    rule = verdict(instance.id, instance.image_id)
    if rule == UNHEALTHY:
        return UNHEALTHY
    if (group.health_check_type or "EC2") != "ELB" or not group.target_group_arns:
        return HEALTHY_NOW
    states = []
    for arn in group.target_group_arns:
        target_group = backend.elbv2_backend.target_groups.get(arn)
        if target_group is None:
            continue
        checked = lifecycle.target_health(target_group, instance.id)
        if checked is None:
            return HEALTHY_NOW  # no runtime checks health: the rules above decided
        states.append(checked["State"])
    if states and all(s == "healthy" for s in states):
        return HEALTHY_NOW
    launched = getattr(state, "golden_launched_at", None)
    grace = float(group.health_check_grace_period or 0) * config.get("time_scale")
    now = time.monotonic() if now is None else now
    if "unhealthy" in states and (launched is None or now - launched >= grace):
        return UNHEALTHY
    return PENDING
