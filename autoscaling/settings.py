"""Environment settings: autoscaling/environments/ENV.yaml, schema-checked.

One file per environment holds the region, per role (app, chroma) the Auto Scaling group,
launch template, network, capacity, refresh preferences, gating alarms and scaling policy,
and the ``instance`` section that becomes every instance's settings document
(golden.instance_doc). ``load("staging")`` or ``load("path/to/file.yaml")``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from golden.core import instance_doc
from golden.core.errors import ConfigError

from autoscaling import schema

ENV_DIR = Path(__file__).resolve().parent / "environments"
ROLES = ("app", "chroma")
# What a settings file may hold, its defaults and the editor's hints: schemas/ in the
# repository, package data in a wheel (docs/settings.md).
SCHEMA = "environment.schema.json"


@dataclass(frozen=True)
class Role:
    name: str
    data: dict

    def __getitem__(self, key: str) -> Any:
        return self.data[key]

    @property
    def group(self) -> str:
        return self.data["auto_scaling_group"]

    @property
    def template(self) -> str:
        return self.data["launch_template"]

    @property
    def refresh(self) -> dict:
        return self.data["refresh"]


@dataclass(frozen=True)
class Environment:
    name: str
    region: str
    path: Path
    raw: dict  # the validated settings, defaults filled in

    @property
    def endpoint_url(self) -> str | None:
        return self.raw["aws"]["endpoint_url"]

    @property
    def roles(self) -> list[str]:
        return [r for r in ROLES if self.raw["roles"].get(r)]

    def role(self, name: str) -> Role:
        if name not in ROLES:
            raise ConfigError(f"--role: expected one of {', '.join(ROLES)}, got {name!r}")
        data = self.raw["roles"].get(name)
        if not data:
            raise ConfigError(
                f"{self.path}: roles.{name}: this environment defines no {name!r} role"
            )
        return Role(name, data)

    def instance_document(self, role: str) -> dict:
        return instance_doc.from_environment(self.raw, role)

    def tags(self, role: str) -> dict[str, str]:
        tags = {str(k): str(v) for k, v in self.raw["tags"].items()}
        tags.update({"golden:environment": self.name, "golden:role": role})
        return tags


def resolve_path(env: str) -> Path:
    """ENV is a name (autoscaling/environments/ENV.yaml) or a path to a YAML file."""
    candidate = Path(env)
    if candidate.suffix in (".yaml", ".yml") or "/" in env:
        return candidate
    return ENV_DIR / f"{env}.yaml"


def load(env: str) -> Environment:
    path = resolve_path(env)
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in ENV_DIR.glob("*.yaml")))
        raise ConfigError(f"{path}: no such settings file (known environments: {known})")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    raw = schema.validate(data, schema.load_schema(SCHEMA), str(path))
    problem = cross_check(raw)
    if problem:
        raise ConfigError(f"{path}: {problem}")
    env_obj = Environment(name=raw["environment"], region=raw["region"], path=path, raw=raw)
    for role in env_obj.roles:
        # The instance document is checked now so a typo fails before any AWS call.
        try:
            env_obj.instance_document(role)
        except ConfigError as exc:
            raise ConfigError(f"{path}: instance: {exc}") from None
    return env_obj


# -- rules the schema cannot state: each takes a role's validated settings and returns
# "key.in.role: what is wrong", or None ----------------------------------------------------
def _checkpoints_ascending(role: dict) -> str | None:
    values = role["refresh"]["checkpoint_percentages"]
    if values != sorted(set(values)):
        return "refresh.checkpoint_percentages: expected distinct percentages in ascending order"
    return None


def _capacity_in_order(role: dict) -> str | None:
    cap = role["capacity"]
    if not cap["min"] <= cap["desired"] <= cap["max"]:
        return (
            f"capacity: expected min <= desired <= max, got "
            f"{cap['min']} / {cap['desired']} / {cap['max']}"
        )
    return None


def _healthy_band(role: dict) -> str | None:
    low = role["refresh"]["min_healthy_percentage"]
    high = role["refresh"]["max_healthy_percentage"]
    if high - low > 100:
        return "refresh: max_healthy_percentage minus min_healthy_percentage may be at most 100"
    if low == 100 and high == 100:
        return (
            "refresh: min_healthy_percentage 100 needs max_healthy_percentage above 100 or "
            "no instance can be replaced"
        )
    return None


def _request_count_label(role: dict) -> str | None:
    policy = role["scaling_policy"]
    if policy and policy["metric"] == "alb_request_count" and not policy["resource_label"]:
        return (
            "scaling_policy.resource_label: required for metric alb_request_count "
            "(app/LB-NAME/ID/targetgroup/TG/ID)"
        )
    return None


def _elb_check_has_targets(role: dict) -> str | None:
    if role["health_check"]["type"] == "ELB" and not role["target_groups"]:
        return "health_check.type: ELB needs target_groups"
    return None


# One Chroma host owns one data volume: it can only move by replace-then-launch.
def _one_chroma_host(role: dict) -> str | None:
    if role["capacity"]["max"] != 1:
        return (
            f"capacity.max: expected 1 (the Chroma host owns a single data volume), "
            f"got {role['capacity']['max']}"
        )
    return None


def _terminate_then_launch(role: dict) -> str | None:
    ref = role["refresh"]
    if ref["min_healthy_percentage"] != 0 or ref["max_healthy_percentage"] != 100:
        return (
            "refresh: expected min_healthy_percentage 0 and max_healthy_percentage 100 "
            "(terminate, then launch: the data volume must be detached before the new "
            "instance can attach it)"
        )
    return None


def _chroma_has_volume(role: dict) -> str | None:
    return None if role["data_volume"] else "data_volume: required for chroma"


ROLE_RULES = (
    _checkpoints_ascending,
    _capacity_in_order,
    _healthy_band,
    _request_count_label,
    _elb_check_has_targets,
)
CHROMA_RULES = (_one_chroma_host, _terminate_then_launch, _chroma_has_volume)


def cross_check(raw: dict) -> str | None:
    """The first rule spanning several keys that validated settings ``raw`` break, as
    "dotted.key: what is wrong"; None when there is none."""
    if not any(raw["roles"].values()):
        return "roles: expected at least one of app, chroma"
    for name, role in raw["roles"].items():
        rules = ROLE_RULES + (CHROMA_RULES if name == "chroma" else ())
        for rule in rules if role else ():
            problem = rule(role)
            if problem:
                return f"roles.{name}.{problem}"
    return None
