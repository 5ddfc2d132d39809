"""Where the emulator's instances live: records (the default) or a plug-in that makes them
real, such as the release rehearsal's containers behind HAProxy (golden.rehearsal).

moto keeps an instance as a record: its user data never runs, nothing answers a health
check, Run Command reaches no one. A runtime turns the emulator's few lifecycle moments
into real effects. The emulator calls it; the runtime never calls AWS APIs back, so the
release engine sees the very same API answers whichever runtime is installed.

Lifecycle moments (all optional: a runtime implements what it models)
- ``launch(spec) -> address | None``: an instance was launched (RunInstances through an
  Auto Scaling group or an instance refresh). ``spec`` is a :class:`LaunchSpec`. The
  address is what a load balancer reaches the instance at.
- ``terminate(instance_id, drain_seconds)``: the instance was terminated; it may keep
  serving for ``drain_seconds`` (the longest deregistration delay of its target groups).
- ``register_target(arn, instance_id, port)`` / ``deregister_target(arn, instance_id,
  delay_seconds)``: target-group membership, as Auto Scaling's attachment makes it.
- ``target_health(arn) -> {instance_id: TargetHealth}``: the health a real check found
  (State initial | healthy | unhealthy | draining, Reason, Description).
- ``run_command(instance_id, script, timeout) -> (response_code, stdout, stderr)``: runs
  an SSM Run Command script inside the instance, blocking, in a worker thread.
- ``close()``: the emulator stops.

Installed by ``python -m autoscaling.emulator --runtime MODULE:FACTORY`` (or the
GOLDEN_EMULATOR_RUNTIME variable): FACTORY is called once with no arguments in the
emulator's process. The AWS emulator never imports a runtime by name; a plug-in is
the only way in, so autoscaling/ keeps its layer.
"""

from __future__ import annotations

import importlib
import threading
from dataclasses import dataclass, field
from typing import Any

_lock = threading.Lock()
_runtime: Any = None


@dataclass(frozen=True)
class LaunchSpec:
    """What an instance is launched from: ids, the AMI (with its tags), the user data as
    text (base64 decoded), the group and the launch-template version."""

    instance_id: str
    image_id: str
    image_tags: dict[str, str] = field(default_factory=dict)
    user_data: str | None = None
    group_name: str | None = None
    template_version: int | None = None
    instance_type: str | None = None
    private_ip: str | None = None


def load(reference: str) -> Any:
    """Import ``module:factory`` and call the factory; raise ValueError naming what is
    wrong with the reference."""
    module_name, _, attribute = reference.partition(":")
    if not module_name or not attribute:
        raise ValueError(f"--runtime: expected MODULE:FACTORY, got {reference!r}")
    try:
        factory = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"--runtime {reference}: {exc}") from None
    return factory()


def install(runtime: Any) -> None:
    global _runtime
    with _lock:
        _runtime = runtime


def current() -> Any:
    with _lock:
        return _runtime


def call(method: str, *args, **kwargs) -> Any:
    """Call ``method`` of the installed runtime if it has one; None otherwise."""
    runtime = current()
    func = getattr(runtime, method, None) if runtime is not None else None
    return func(*args, **kwargs) if func is not None else None


def provides(method: str) -> bool:
    runtime = current()
    return runtime is not None and callable(getattr(runtime, method, None))


def close() -> None:
    runtime = current()
    if runtime is not None and callable(getattr(runtime, "close", None)):
        runtime.close()
    install(None)
