"""The emulator's WSGI application and HTTP server.

Wraps moto's DomainDispatcherApplication with
- a request log: one entry per AWS call (service, action, region, mutating or not, and
  for query-protocol calls -- EC2, Auto Scaling, ELBv2, CloudWatch, IAM, STS -- their
  parameters), kept in memory (GET /moto-api/golden/requests, POST
  /moto-api/golden/requests/clear; the newest MAX_ENTRIES) and, with --record FILE,
  appended to FILE as JSON lines;
- Amazon Inspector Scan's ScanSbom answered from a recorded report (POST /scan/sbom of
  the inspector-scan service; emulator/inspector_scan.py);
- test controls under /moto-api/golden/: health rules (POST health), declared AWS errors
  (POST faults, GET faults, POST faults/clear; emulator/faults.py), run-time settings
  (GET/POST config), SSM Run Command outcomes per instance (POST ssm/outcome) and the
  commands' timelines (GET ssm), the recorded ScanSbom report (POST/GET inspector-scan,
  POST inspector-scan/clear); POST /moto-api/reset also clears the log, the rules and
  the settings.
"""

from __future__ import annotations

import io
import json
import re
import threading
import time
from collections import deque
from urllib.parse import parse_qs

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import make_server

from autoscaling.emulator import (
    config,
    faults,
    health,
    inspector_scan,
    patches,
    ssm_api,
    ssm_outcomes,
)

_CREDENTIAL = re.compile(r"Credential=([^/]+)/[^/]+/([^/]+)/([^/]+)/")
_READ_PREFIXES = ("Describe", "List", "Get", "Head", "Lookup", "Search", "Batch Get")
# Parameters are recorded only for the query protocol (form-encoded, flat Name.N.Key=value
# pairs). JSON-protocol bodies (SSM PutParameter carries SecureString values, Secrets
# Manager carries secrets) and REST bodies (S3 objects) are never kept. Names that can
# carry a secret in a query-protocol call (RDS MasterUserPassword, ...) are masked anyway,
# and long values (UserData) are cut, so the log stays small.
_SECRET_PARAM = re.compile(r"(?i)password|secret|privatekey|sessiontoken|credential")
_NOT_PARAMS = ("Action", "Version")
PARAM_VALUE_MAX = 2048
MAX_ENTRIES = 100_000


def is_mutating(action: str) -> bool:
    """True for calls that change state. REST calls are recorded as 'METHOD /path'."""
    if " " in action:
        return action.split(" ", 1)[0] not in ("GET", "HEAD", "OPTIONS")
    return not action.startswith(_READ_PREFIXES)


class RequestLog:
    def __init__(self, path: str | None = None, max_entries: int = MAX_ENTRIES):
        self._lock = threading.Lock()
        self._entries: deque[dict] = deque(maxlen=max_entries)
        self._path = path

    def add(self, entry: dict) -> None:
        with self._lock:
            self._entries.append(entry)
            if self._path:
                with open(self._path, "a", encoding="utf-8") as fh:
                    fh.write(json.dumps(entry, sort_keys=True) + "\n")

    def entries(self) -> list[dict]:
        with self._lock:
            return list(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


def query_params(fields: dict[str, list[str]]) -> dict[str, str]:
    """The parameters of a query-protocol call as flat NAME -> value (AWS sends each name
    once), without Action/Version, secrets masked, long values cut."""
    params = {}
    for name, values in sorted(fields.items()):
        if name in _NOT_PARAMS or not values:
            continue
        value = values[0]
        if _SECRET_PARAM.search(name):
            value = "(masked)"
        elif len(value) > PARAM_VALUE_MAX:
            value = value[:PARAM_VALUE_MAX] + f"...({len(value)} characters)"
        params[name] = value
    return params


def _describe_request(environ: dict, body: bytes) -> dict:
    auth = environ.get("HTTP_AUTHORIZATION", "")
    match = _CREDENTIAL.search(auth)
    # The access key id is no secret: CloudTrail records it too (userIdentity.accessKeyId).
    key_id, region, service = match.groups() if match else (None, None, None)
    action = None
    fields: dict[str, list[str]] | None = None
    target = environ.get("HTTP_X_AMZ_TARGET")
    if target:
        action = target.rsplit(".", 1)[-1]
    elif body and environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded"):
        form = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
        action = (form.get("Action") or [None])[0]
        if action is not None:
            fields = form
    if action is None:
        query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
        action = (query.get("Action") or [None])[0]
        if action is not None:
            fields = query
    if action is None:
        action = f"{environ.get('REQUEST_METHOD', 'GET')} {environ.get('PATH_INFO', '/')}"
    entry = {
        "time": time.time(),
        "service": service,
        "region": region,
        "access_key_id": key_id,
        "action": action,
        "mutating": is_mutating(action),
    }
    if fields is not None:
        entry["params"] = query_params(fields)
    return entry


class EmulatorApp:
    def __init__(self, record_path: str | None = None):
        patches.install()
        self.inner = DomainDispatcherApplication(create_backend_app)
        self.log = RequestLog(record_path)

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "GET")
        if path.startswith("/moto-api/golden/"):
            return self._control(environ, start_response, path[len("/moto-api/golden/") :], method)
        if path == "/moto-api/reset" and method == "POST":
            health.clear()
            faults.clear()
            inspector_scan.clear()
            ssm_outcomes.clear()
            config.reset()
            self.log.clear()
        elif not path.startswith("/moto-api"):
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(length) if length else b""
            environ["wsgi.input"] = io.BytesIO(body)
            entry = _describe_request(environ, body)
            rule = faults.take(entry)
            if rule is not None:
                entry["fault"] = rule["code"]
            self.log.add(entry)
            if rule is not None:
                return self._fault(start_response, rule, entry, environ)
            if entry["service"] == "inspector-scan" and entry["action"] == "POST /scan/sbom":
                # moto has no Inspector Scan: the recorded report answers (inspector_scan.py).
                status, headers, data = inspector_scan.respond(body)
                start_response(status, headers)
                return [data]
        return self.inner(environ, start_response)

    @staticmethod
    def _fault(start_response, rule: dict, entry: dict, environ) -> list[bytes]:
        json_protocol = bool(environ.get("HTTP_X_AMZ_TARGET"))
        content_type, data = faults.error_response(rule, entry.get("service"), json_protocol)
        start_response(
            "400 Bad Request",
            [("Content-Type", content_type), ("Content-Length", str(len(data)))],
        )
        return [data]

    def _controls(self) -> dict:
        """(METHOD, name) -> handler(payload) for every test control."""

        def cleared(func):
            def handler(_payload):
                func()
                return {"cleared": True}

            return handler

        return {
            ("GET", "requests"): lambda _p: self.log.entries(),
            ("POST", "requests/clear"): cleared(self.log.clear),
            ("POST", "health"): lambda p: (
                health.set_rule(
                    image_id=p.get("image_id"),
                    instance_id=p.get("instance_id"),
                    state=p.get("state", health.UNHEALTHY),
                ),
                health.rules(),
            )[1],
            ("GET", "health"): lambda _p: health.rules(),
            ("POST", "faults"): faults.add,
            ("GET", "faults"): lambda _p: faults.rules(),
            ("POST", "faults/clear"): cleared(faults.clear),
            ("POST", "ssm/outcome"): ssm_outcomes.set_rule,
            ("POST", "ssm/outcome/clear"): cleared(ssm_outcomes.clear),
            ("GET", "ssm"): lambda _p: {
                "rules": ssm_outcomes.rules(),
                "commands": ssm_api.all_timelines(),
            },
            ("POST", "inspector-scan"): inspector_scan.record,
            ("GET", "inspector-scan"): lambda _p: inspector_scan.recorded(),
            ("POST", "inspector-scan/clear"): cleared(inspector_scan.clear),
            ("POST", "config"): config.update,
            ("GET", "config"): lambda _p: config.snapshot(),
        }

    def _control(self, environ, start_response, name: str, method: str):
        handler = self._controls().get((method, name))
        if handler is None:
            return self._reply(
                start_response, "404 Not Found", {"error": f"no emulator control {method} {name}"}
            )
        try:
            payload = self._payload(environ) if method == "POST" else {}
            result = handler(payload)
        except (ValueError, TypeError) as exc:
            return self._reply(start_response, "400 Bad Request", {"error": str(exc)})
        return self._reply(start_response, "200 OK", result)

    @staticmethod
    def _payload(environ) -> dict:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        raw = environ["wsgi.input"].read(length) if length else b"{}"
        data = json.loads(raw or b"{}")
        if not isinstance(data, dict):
            raise ValueError("the request body must be a JSON object")
        return data

    @staticmethod
    def _reply(start_response, status: str, body) -> list[bytes]:
        data = json.dumps(body, default=str).encode()
        start_response(
            status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))]
        )
        return [data]


def make(port: int, record_path: str | None = None, host: str = "127.0.0.1", app=None):
    """A threaded werkzeug server serving the emulator (not started). Pass ``app`` to
    serve one emulator on several addresses (each server sees the same state and log)."""
    app = app or EmulatorApp(record_path)
    return make_server(host, port, app, threaded=True, request_handler=MotoRequestHandler)
