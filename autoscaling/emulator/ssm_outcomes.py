"""Test-controlled outcomes of SSM Run Command invocations.

The emulator runs nothing on its "instances". A test says what an instance answers
(POST /moto-api/golden/ssm/outcome)::

    {"instance_id": "i-...", "status": "Success" | "Failed" | "Undeliverable" |
     "TimedOut" | "DeliveryTimedOut", "stdout": "...", "stderr": "...",
     "response_code": 1, "steps": 1, "match": "text in the commands" (optional)}

A rule with ``match`` applies only to commands whose script contains that text and wins
over the instance's rule without one; ``steps`` is how many steps the invocation stays In
Progress. ``"instance_id": "*"`` is a rule for every instance without one of its own
(an instance a test cannot name in advance, such as one the code under test launches).
Without a rule an invocation succeeds with empty output. /moto-api/reset clears the
rules.
"""

from __future__ import annotations

import threading

_lock = threading.Lock()
_rules: dict[str, list[dict]] = {}
ANY = "*"
STATUSES = ("Success", "Failed", "Undeliverable", "TimedOut", "DeliveryTimedOut")


def set_rule(payload: dict) -> dict:
    instance_id = payload.get("instance_id")
    if not isinstance(instance_id, str) or not instance_id:
        raise ValueError("instance_id: expected an instance id")
    status = payload.get("status", "Success")
    if status not in STATUSES:
        raise ValueError(f"status: expected one of {', '.join(STATUSES)}, got {status!r}")
    rule = {
        "status": status,
        "stdout": str(payload.get("stdout") or ""),
        "stderr": str(payload.get("stderr") or ""),
        "response_code": int(payload.get("response_code", 0 if status == "Success" else 1)),
        "steps": int(payload.get("steps", 1)),
        "match": payload.get("match"),
    }
    if rule["steps"] < 1:
        raise ValueError("steps: expected 1 or more")
    if rule["match"] is not None and not isinstance(rule["match"], str):
        raise ValueError("match: expected a string")
    with _lock:
        kept = [r for r in _rules.get(instance_id, []) if r["match"] != rule["match"]]
        _rules[instance_id] = kept + [rule]
        return {k: list(v) for k, v in _rules.items()}


def outcome_for(instance_id: str, script: str) -> dict | None:
    """The rule for this instance and command text: a matching ``match`` rule first; the
    ``*`` rules when the instance has none of its own."""
    with _lock:
        rules = _rules.get(instance_id) or _rules.get(ANY, [])
        for rule in rules:
            if rule["match"] and rule["match"] in script:
                return dict(rule)
        for rule in rules:
            if not rule["match"]:
                return dict(rule)
    return None


def rules() -> dict:
    with _lock:
        return {k: list(v) for k, v in _rules.items()}


def clear() -> None:
    with _lock:
        _rules.clear()
