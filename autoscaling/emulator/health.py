"""Test-controlled instance health.

Moto keeps every target healthy and has no API that makes an instance fail its health
checks. The emulator lets a caller declare "instances launched from image X are unhealthy"
(or one instance by id) through POST /moto-api/golden/health; the instance-refresh model
and the target-group patch both read the verdict from here. /moto-api/reset clears it.
"""

from __future__ import annotations

import threading

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
