"""The usage file (`golden cost ENV --usage FILE`): what an environment does in a month.

YAML checked against schemas/usage.schema.json like the environment settings: a bad
file fails naming the file, the dotted key and what was expected; keys left out take the
schema's documented defaults (derived from the deployment plan's numbers)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import yaml

from autoscaling import schema
from golden.core.errors import ConfigError

SCHEMA = "usage.schema.json"


@dataclass(frozen=True)
class Usage:
    """Validated usage, every key filled in (units in the field names; see the schema)."""

    concurrent_users: int
    requests_per_second: float
    new_connections_per_second: float
    request_kb: float
    response_kb: float
    uploads_gb_per_month: float
    stored_gb: float
    upload_object_mb: float
    s3_gets_per_object: float
    log_kb_per_request: float
    log_gb_per_instance_per_day: dict
    security_log_gb_per_instance_per_day: float
    other_nat_gb_per_instance_per_month: float
    releases_per_month: float
    instance_launch_seconds: int
    db_used_gb: float
    db_daily_change_gb: float
    free_tier: bool

    def role_log_gb_per_day(self, role: str) -> float:
        return float(self.log_gb_per_instance_per_day.get(role, 0.0))


def from_data(data: Any, source: str) -> Usage:
    """Usage from parsed YAML DATA (None: an empty file, every default). Raises
    ConfigError "SOURCE: dotted.key: expected ..." for the first problem."""
    raw = schema.validate({} if data is None else data, schema.load_schema(SCHEMA), source)
    return Usage(**{f.name: raw[f.name] for f in fields(Usage)})


def defaults() -> Usage:
    """Every key at its documented default."""
    return from_data({}, "usage defaults")


def load(path: Path | None) -> Usage:
    """The usage file at PATH, or the defaults when PATH is None."""
    if path is None:
        return defaults()
    if not path.is_file():
        raise ConfigError(f"{path}: no such usage file")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    return from_data(data, str(path))


def describe(usage: Usage) -> dict[str, Any]:
    return {f.name: getattr(usage, f.name) for f in fields(usage)}
