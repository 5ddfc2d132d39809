"""The emulator's lifecycle moments handed to the installed runtime (emulator/runtime.py).

Each function is called by the moto patches where AWS would act on a real machine:
an instance launched by an Auto Scaling group, a target registered or deregistered, an
instance terminated after its targets drained. Without a runtime they do nothing, and
instances stay records. A runtime failing at launch leaves the instance a record (it
never passes a health check), with the error printed on the emulator's stderr: AWS
would show an instance that never became healthy too.
"""

from __future__ import annotations

import base64
import binascii
import sys
import traceback

from autoscaling.emulator import config, runtime


def _text(user_data) -> str | None:
    """Launch-template UserData (base64 text, or bytes once moto parsed it) as text."""
    if user_data is None:
        return None
    if isinstance(user_data, bytes):
        raw = user_data
    else:
        try:
            raw = base64.b64decode(str(user_data), validate=True)
        except (binascii.Error, ValueError):
            return str(user_data)
    return raw.decode("utf-8", errors="replace")


def scaled(seconds: float) -> float:
    """A wait AWS would take, on the emulator's time scale (0 = do not wait)."""
    return float(seconds or 0) * config.get("time_scale")


def _report(what: str) -> None:
    print(f"golden emulator: runtime {what} failed:", file=sys.stderr)
    traceback.print_exc(file=sys.stderr)


def launched(ec2_backend, instance, data: dict, group_name: str | None, version: int | None):
    """An instance was launched from launch-template data ``data`` (the version's)."""
    if not runtime.provides("launch"):
        return
    images = ec2_backend.describe_images(ami_ids=[instance.image_id]) if instance.image_id else []
    tags = {t["key"]: t["value"] for t in images[0].get_tags()} if images else {}
    spec = runtime.LaunchSpec(
        instance_id=instance.id,
        image_id=instance.image_id,
        image_tags=tags,
        user_data=_text(data.get("UserData")),
        group_name=group_name,
        template_version=version,
        instance_type=data.get("InstanceType"),
        private_ip=getattr(instance, "private_ip", None),
    )
    try:
        runtime.call("launch", spec)
    except Exception:  # noqa: BLE001 - the runtime's failure is the instance's, not the API's
        _report(f"launch of {instance.id}")


def deregistration_delay(target_group) -> float:
    """The target group's deregistration delay (attribute, seconds; ELB default 300)."""
    raw = target_group.attributes.get("deregistration_delay.timeout_seconds", 300)
    return float(raw)


def target_registered(target_group, instance_id: str, port: int) -> None:
    if runtime.provides("register_target"):
        try:
            runtime.call("register_target", target_group.arn, instance_id, port)
        except Exception:  # noqa: BLE001
            _report(f"registration of {instance_id}")


def target_deregistered(target_group, instance_id: str) -> float:
    """Start draining ``instance_id``; returns how long the drain lasts (seconds)."""
    delay = scaled(deregistration_delay(target_group))
    if runtime.provides("deregister_target"):
        try:
            runtime.call("deregister_target", target_group.arn, instance_id, delay)
        except Exception:  # noqa: BLE001
            _report(f"deregistration of {instance_id}")
    return delay


def terminated(instance_id: str, drain_seconds: float) -> None:
    if runtime.provides("terminate"):
        try:
            runtime.call("terminate", instance_id, drain_seconds)
        except Exception:  # noqa: BLE001
            _report(f"termination of {instance_id}")


def target_health(target_group, instance_id: str) -> dict | None:
    """The runtime's TargetHealth for a registered instance target, or None when the
    runtime does not check health (the rules of emulator/health.py apply then)."""
    if not runtime.provides("target_health"):
        return None
    try:
        states = runtime.call("target_health", target_group.arn) or {}
    except Exception:  # noqa: BLE001
        _report(f"target health of {target_group.arn}")
        return None
    return states.get(instance_id)
