"""Test-controlled AWS errors: "the next N calls of ACTION answer CODE".

AWS documents errors that a correct client meets without doing anything wrong: EC2 is
eventually consistent, so a call right after the one that created or removed a resource
can answer as if it had not happened yet (InvalidAMIID.NotFound right after CreateImage or
CopyImage, InvalidSnapshot.InUse from DeleteSnapshot right after DeregisterImage;
https://docs.aws.amazon.com/ec2/latest/devguide/eventual-consistency.html), and Auto
Scaling answers ResourceContention while another update to the group is pending. Moto
is strongly consistent and never does either, so a test declares them:

    POST /moto-api/golden/faults {"action": "DeleteSnapshot",
                                  "code": "InvalidSnapshot.InUse", "times": 2}

makes the next two DeleteSnapshot calls (optionally only those whose recorded parameters
include every pair in "match", e.g. {"SnapshotId": "snap-..."}; optionally only for one
"service") fail with that code, HTTP 400, in the service's own error format; the call
does nothing else. GET /moto-api/golden/faults lists what is left, POST
/moto-api/golden/faults/clear and /moto-api/reset forget them. The request log marks a
faulted call with "fault": CODE.

Not modelled: when AWS would answer these by itself (timing); a fault answers whatever the
resource's real state is.
"""

from __future__ import annotations

import threading
import uuid
from xml.sax.saxutils import escape

_lock = threading.Lock()
_rules: list[dict] = []
MAX_TIMES = 1000


def add(rule: dict) -> list[dict]:
    """Add a rule {"action", "code", "times"=1, "message"?, "service"?, "match"?};
    returns every rule left. Raises ValueError naming the field that is wrong."""
    action, code = rule.get("action"), rule.get("code")
    if not isinstance(action, str) or not action:
        raise ValueError("faults: 'action' must be an AWS action name, e.g. DeleteSnapshot")
    if not isinstance(code, str) or not code:
        raise ValueError("faults: 'code' must be an AWS error code, e.g. InvalidSnapshot.InUse")
    times = rule.get("times", 1)
    if not isinstance(times, int) or not 1 <= times <= MAX_TIMES:
        raise ValueError(f"faults: 'times' must be an integer from 1 to {MAX_TIMES}")
    match = rule.get("match") or {}
    if not isinstance(match, dict):
        raise ValueError("faults: 'match' must be an object of parameter name -> value")
    entry = {
        "action": action,
        "code": code,
        "times": times,
        "message": str(rule.get("message") or f"{code} (fault declared by the test)"),
        "service": rule.get("service"),
        "match": {str(k): str(v) for k, v in match.items()},
    }
    with _lock:
        _rules.append(entry)
        return [dict(r) for r in _rules]


def rules() -> list[dict]:
    with _lock:
        return [dict(r) for r in _rules]


def clear() -> None:
    with _lock:
        _rules.clear()


def take(request: dict) -> dict | None:
    """The rule that answers this request (one of its times used up), or None. REQUEST is
    a request-log entry (service, action, params)."""
    params = request.get("params") or {}
    with _lock:
        for rule in _rules:
            if rule["action"] != request.get("action"):
                continue
            if rule["service"] and rule["service"] != request.get("service"):
                continue
            if any(params.get(k) != v for k, v in rule["match"].items()):
                continue
            rule["times"] -= 1
            if rule["times"] <= 0:
                _rules.remove(rule)
            return dict(rule)
    return None


def error_response(rule: dict, service: str | None, json_protocol: bool) -> tuple[str, bytes]:
    """(content type, body) of the error in the format the service's clients parse: the
    EC2 query format, the other query services' ErrorResponse, or the JSON protocol."""
    code, message = rule["code"], rule["message"]
    request_id = str(uuid.uuid4())
    if json_protocol:
        import json

        return "application/x-amz-json-1.1", json.dumps(
            {"__type": code, "message": message}
        ).encode()
    if service == "ec2":
        body = (
            f"<?xml version='1.0' encoding='UTF-8'?><Response><Errors><Error>"
            f"<Code>{escape(code)}</Code><Message>{escape(message)}</Message></Error></Errors>"
            f"<RequestID>{request_id}</RequestID></Response>"
        )
    else:
        body = (
            f"<ErrorResponse><Error><Type>Sender</Type><Code>{escape(code)}</Code>"
            f"<Message>{escape(message)}</Message></Error>"
            f"<RequestId>{request_id}</RequestId></ErrorResponse>"
        )
    return "text/xml", body.encode()
