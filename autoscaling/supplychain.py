"""The supply chain's reviewed settings (security/supply-chain.yaml, checked against
schemas/supply-chain.schema.json): the vulnerability gate's failing severity and accepted
exceptions (used by `golden bake`), and the AMI lifecycle (deprecation at publish, the
grace period before `golden amis prune` deregisters a disabled AMI).

`load` reads and checks the file (ConfigError naming the file and key); `parse` does the
same for data already read, so tests pass literals."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import yaml
from golden.core import provenance
from golden.core.errors import ConfigError

from autoscaling import schema

DEFAULT_PATH = Path("security") / "supply-chain.yaml"
SCHEMA = "supply-chain.schema.json"
SEVERITIES = ("low", "medium", "high", "critical")


@dataclass(frozen=True)
class AcceptedFinding:
    """One accepted finding: its id, the package it is limited to (None: any), why, who
    approved it and the first day it no longer applies."""

    id: str
    component: str | None
    reason: str
    approved_by: str
    expires: dt.date


@dataclass(frozen=True)
class SupplyChain:
    fail_on: str  # one of SEVERITIES
    exceptions: tuple[AcceptedFinding, ...]
    deprecate_after_days: int
    disabled_grace_days: int
    source: str


def _dates_as_text(value):
    # YAML reads 2027-01-31 as a date; the schema describes the text the user wrote.
    if isinstance(value, dict):
        return {k: _dates_as_text(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_dates_as_text(v) for v in value]
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def parse(data, source: str) -> SupplyChain:
    """The settings of parsed YAML ``data``; ConfigError "{source}: key: expected ..."."""
    checked = schema.validate(_dates_as_text(data), schema.load_schema(SCHEMA), source)
    vulns, amis = checked["vulnerabilities"], checked["amis"]
    exceptions = []
    for index, entry in enumerate(vulns.get("exceptions") or []):
        try:
            expires = dt.date.fromisoformat(entry["expires"])
        except ValueError:
            raise ConfigError(
                f"{source}: vulnerabilities.exceptions[{index}].expires: "
                f"{entry['expires']!r} is not a date (YYYY-MM-DD)"
            ) from None
        exceptions.append(AcceptedFinding(entry["id"], entry.get("component"), entry["reason"],
                                     entry["approved_by"], expires))  # fmt: skip
    return SupplyChain(
        fail_on=vulns["fail_on"],
        exceptions=tuple(exceptions),
        deprecate_after_days=amis["deprecate_after_days"],
        disabled_grace_days=amis["disabled_grace_days"],
        source=source,
    )


def load(path: Path | None = None) -> SupplyChain:
    """security/supply-chain.yaml of the checkout (or ``path``), checked."""
    path = Path(path or provenance.REPO / DEFAULT_PATH)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the supply-chain settings "
                          f"({exc.strerror or exc})") from None  # fmt: skip
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from None
    return parse(data, str(path))
