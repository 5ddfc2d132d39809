"""The instance settings document: what an instance learns about its environment at boot.

One AMI serves every environment, so nothing environment-specific is baked. The launch
template's user data carries this small JSON document; cloud-init writes it to
/etc/golden/instance.json and the boot step reads it. It names where things are (RDS,
Redis, the Chroma host, S3, the SSM path of the secrets, the log group prefix) and never
holds a secret: the instance fetches db_password, chroma_token and app_secret_key from
SSM Parameter Store under ``ssm.path`` with its own role.

Schema version 1::

    {"schema": 1, "environment": "staging", "role": "app" | "chroma", "region": "us-east-1",
     "database": {"host": str, "port": int, "name": str, "user": str,
                  "sslmode": "verify-full" (default) | "require" | "disable"},
     "redis": {"host": str, "port": int, "db": int,
               "tls": bool?, "auth": bool?},   # ElastiCache in-transit encryption / AUTH
                                               # (token: SSM redis_auth_token); absent = off
     "chroma": {"host": str, "port": int},
     "s3": {"bucket": str, "region": str},
     "ssm": {"path": "/golden/staging/"},
     "logs": {"group_prefix": "/golden/staging"},
     "aws": {"endpoint_url": str | null},       # the local emulator only; null on AWS
     "overrides": {"backend_replicas": int?, "worker_cap": int?,
                   "log_level": "DEBUG" | "INFO" | "WARNING" | "ERROR"?}}

This module makes no AWS calls; the release tool renders every launch-template version's
user data with :func:`render_user_data`.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping
from typing import Any

import yaml

from golden.core.errors import ConfigError

SCHEMA_VERSION = 1
PATH = "/etc/golden/instance.json"
ROLES = ("app", "chroma")
SSLMODES = ("verify-full", "require", "disable")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
SECRET_NAMES = ("db_password", "chroma_token", "app_secret_key")

_SECRET_KEY = re.compile(
    r"pass(word|wd)?|secret|token|credential|private[_-]?key|api[_-]?key|access[_-]?key", re.I
)
_ENV = re.compile(r"^[a-z][a-z0-9-]{0,31}$")
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d+$")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_URL = re.compile(r"^https?://[^\s/]+(/\S*)?$")


# -- field checks -----------------------------------------------------------------------------
def _type_name(value: Any) -> str:
    return "null" if value is None else type(value).__name__


class _Checker:
    def __init__(self, source: str):
        self.source = source

    def fail(self, field: str, expected: str, value: Any = ..., *, got: str | None = None):
        detail = (
            got
            if got is not None
            else ("" if value is ... else f", got {_type_name(value)} {value!r}")
        )
        raise ConfigError(f"{self.source}: {field}: expected {expected}{detail}")

    def string(
        self,
        field: str,
        value: Any,
        pattern: re.Pattern | None = None,
        what: str = "a non-empty string",
    ) -> str:
        if not isinstance(value, str) or not value.strip():
            self.fail(field, what, value)
        if pattern is not None and not pattern.match(value):
            self.fail(field, what, value)
        return value

    def integer(self, field: str, value: Any, low: int, high: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            self.fail(field, f"an integer from {low} to {high}", value)
        return value

    def boolean(self, field: str, value: Any) -> bool:
        if not isinstance(value, bool):
            self.fail(field, "true or false", value)
        return value

    def choice(self, field: str, value: Any, choices: tuple[str, ...]) -> str:
        if value not in choices:
            self.fail(field, "one of " + ", ".join(choices), value)
        return value

    def section(
        self, field: str, value: Any, required: tuple[str, ...], optional: tuple[str, ...] = ()
    ) -> dict:
        if not isinstance(value, Mapping):
            self.fail(field, "a mapping", value)
        self.no_secrets(field, value)
        unknown = sorted(set(value) - set(required) - set(optional))
        if unknown:
            known = ", ".join(required + optional)
            self.fail(
                f"{field}.{unknown[0]}" if field else unknown[0],
                f"no such key (known keys: {known})",
                got="",
            )
        for key in required:
            if key not in value:
                self.fail(f"{field}.{key}" if field else key, "a value", got=" (missing)")
        return dict(value)

    def no_secrets(self, field: str, value: Mapping) -> None:
        for key in value:
            if isinstance(key, str) and _SECRET_KEY.search(key):
                name = f"{field}.{key}" if field else key
                raise ConfigError(
                    f"{self.source}: {name}: secrets must not be in the instance settings "
                    f"document; store them in SSM Parameter Store under ssm.path "
                    f"({', '.join(SECRET_NAMES)})"
                )


# -- public API ---------------------------------------------------------------------------
def validate(doc: dict, source: str = "instance.json") -> dict:
    """Check ``doc`` against schema 1 and return a normalised copy (defaults filled in:
    database.sslmode, aws.endpoint_url, overrides). Raises ConfigError naming the field."""
    c = _Checker(source)
    top = c.section(
        "",
        doc,
        (
            "schema",
            "environment",
            "role",
            "region",
            "database",
            "redis",
            "chroma",
            "s3",
            "ssm",
            "logs",
        ),
        ("aws", "overrides"),
    )
    if isinstance(top["schema"], bool) or top["schema"] != SCHEMA_VERSION:
        c.fail(
            "schema", f"{SCHEMA_VERSION} (the only schema version this code reads)", top["schema"]
        )
    out: dict[str, Any] = {"schema": SCHEMA_VERSION}
    out["environment"] = c.string(
        "environment", top["environment"], _ENV, "a lower-case name like 'staging'"
    )
    out["role"] = c.choice("role", top["role"], ROLES)
    out["region"] = c.string("region", top["region"], _REGION, "an AWS region like 'us-east-1'")

    db = c.section("database", top["database"], ("host", "port", "name", "user"), ("sslmode",))
    out["database"] = {
        "host": c.string("database.host", db["host"]),
        "port": c.integer("database.port", db["port"], 1, 65535),
        "name": c.string("database.name", db["name"]),
        "user": c.string("database.user", db["user"]),
        "sslmode": c.choice("database.sslmode", db.get("sslmode", "verify-full"), SSLMODES),
    }
    redis = c.section("redis", top["redis"], ("host", "port", "db"), ("tls", "auth"))
    out["redis"] = {
        "host": c.string("redis.host", redis["host"]),
        "port": c.integer("redis.port", redis["port"], 1, 65535),
        "db": c.integer("redis.db", redis["db"], 0, 15),
    }
    # Written only when on, so documents of environments without them keep their bytes.
    for key in ("tls", "auth"):
        if c.boolean(f"redis.{key}", redis.get(key, False)):
            out["redis"][key] = True
    chroma = c.section("chroma", top["chroma"], ("host", "port"))
    out["chroma"] = {
        "host": c.string("chroma.host", chroma["host"]),
        "port": c.integer("chroma.port", chroma["port"], 1, 65535),
    }
    s3 = c.section("s3", top["s3"], ("bucket", "region"))
    out["s3"] = {
        "bucket": c.string("s3.bucket", s3["bucket"], _BUCKET, "an S3 bucket name"),
        "region": c.string("s3.region", s3["region"], _REGION, "an AWS region like 'us-east-1'"),
    }
    ssm = c.section("ssm", top["ssm"], ("path",))
    path = c.string("ssm.path", ssm["path"])
    if not (path.startswith("/") and path.endswith("/")):
        c.fail("ssm.path", "a parameter path that starts and ends with '/'", path)
    out["ssm"] = {"path": path}
    logs = c.section("logs", top["logs"], ("group_prefix",))
    prefix = c.string("logs.group_prefix", logs["group_prefix"])
    if not prefix.startswith("/") or prefix.endswith("/"):
        c.fail("logs.group_prefix", "a log group prefix like '/golden/staging'", prefix)
    out["logs"] = {"group_prefix": prefix}
    aws = c.section("aws", top.get("aws", {"endpoint_url": None}), (), ("endpoint_url",))
    endpoint = aws.get("endpoint_url")
    if endpoint is not None:
        c.string("aws.endpoint_url", endpoint, _URL, "null or an http(s) URL")
    out["aws"] = {"endpoint_url": endpoint}
    overrides = c.section(
        "overrides", top.get("overrides") or {}, (), ("backend_replicas", "worker_cap", "log_level")
    )
    out["overrides"] = {}
    if "backend_replicas" in overrides:
        out["overrides"]["backend_replicas"] = c.integer(
            "overrides.backend_replicas", overrides["backend_replicas"], 1, 64
        )
    if "worker_cap" in overrides:
        out["overrides"]["worker_cap"] = c.integer(
            "overrides.worker_cap", overrides["worker_cap"], 1, 256
        )
    if "log_level" in overrides:
        out["overrides"]["log_level"] = c.choice(
            "overrides.log_level", overrides["log_level"], LOG_LEVELS
        )
    return out


def from_environment(settings: Any, role: str) -> dict:
    """Build the document for ``role`` from an environment's settings: the mapping loaded
    from autoscaling/environments/ENV.yaml (or an object with a ``raw`` mapping of it).
    Uses its ``environment``, ``region``, ``instance`` section and ``roles.ROLE.overrides``.
    """
    raw = getattr(settings, "raw", settings)
    if not isinstance(raw, Mapping):
        raise ConfigError(f"environment settings: expected a mapping, got {_type_name(raw)}")
    name = raw.get("environment", "?")
    source = f"environment {name!r} settings"
    instance = raw.get("instance")
    if not isinstance(instance, Mapping):
        raise ConfigError(
            f"{source}: instance: expected a mapping with the endpoints that go into user data"
        )
    roles = raw.get("roles") or {}
    if role not in ROLES:
        raise ConfigError(f"{source}: role: expected one of {', '.join(ROLES)}, got {role!r}")
    role_settings = roles.get(role) or {}
    doc = {
        "schema": SCHEMA_VERSION,
        "environment": raw.get("environment"),
        "role": role,
        "region": raw.get("region"),
        "database": copy.deepcopy(instance.get("database")),
        "redis": copy.deepcopy(instance.get("redis")),
        "chroma": copy.deepcopy(instance.get("chroma")),
        "s3": copy.deepcopy(instance.get("s3")),
        "ssm": {"path": instance.get("ssm_path")},
        "logs": {"group_prefix": instance.get("log_group_prefix")},
        "aws": {"endpoint_url": instance.get("aws_endpoint_url")},
        "overrides": copy.deepcopy(role_settings.get("overrides") or {}),
    }
    return validate(doc, source=f"{source} (instance document for role {role})")


def to_json(doc: dict) -> str:
    """The file's exact bytes: sorted keys, two-space indent, ASCII only, final newline."""
    return json.dumps(doc, sort_keys=True, indent=2, ensure_ascii=True) + "\n"


def render_user_data(doc: dict) -> str:
    """A ``#cloud-config`` document that writes the (validated) JSON to /etc/golden/
    instance.json, root:root 0644. Same input, same bytes."""
    body = to_json(validate(doc, source="instance document to render"))
    content = "".join(f"      {line}\n" for line in body.splitlines())
    return (
        "#cloud-config\n"
        f"# golden instance settings document, schema {SCHEMA_VERSION}. No secrets here: the\n"
        "# boot step reads them from SSM Parameter Store under ssm.path.\n"
        "write_files:\n"
        f"  - path: {PATH}\n"
        "    owner: root:root\n"
        "    permissions: '0644'\n"
        "    content: |\n"
        f"{content}"
    )


def parse_user_data(text: str) -> dict:
    """The validated document carried by user data made with :func:`render_user_data`."""
    source = "user data"
    if not isinstance(text, str) or not text.startswith("#cloud-config"):
        raise ConfigError(f"{source}: expected a '#cloud-config' document")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: not valid YAML: {exc}") from None
    files = (data or {}).get("write_files") if isinstance(data, Mapping) else None
    entry = next((f for f in files or [] if isinstance(f, Mapping) and f.get("path") == PATH), None)
    if entry is None:
        raise ConfigError(f"{source}: write_files has no entry for {PATH}")
    try:
        doc = json.loads(entry.get("content", ""))
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{source}: {PATH} content is not JSON: {exc}") from None
    return validate(doc, source=f"{source} ({PATH})")
