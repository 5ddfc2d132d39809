"""Environment settings: autoscaling/environments/ENV.yaml, schema-checked.

One file per environment holds the region, per role (app, chroma) the Auto Scaling group,
launch template, network, capacity, refresh preferences, gating alarms and scaling policy,
and the ``instance`` section that becomes every instance's settings document
(golden.instance_doc). ``load("staging")`` or ``load("path/to/file.yaml")``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from golden.core import instance_doc
from golden.core.errors import ConfigError

from autoscaling.schema import F, opt, validate

ENV_DIR = Path(__file__).resolve().parent / "environments"
ROLES = ("app", "chroma")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,254}$")


def _name_check(value: str) -> str | None:
    return None if _NAME.match(value) else "expected a resource name (letters, digits, . _ - /)"


def _bucket_check(value: str) -> str | None:
    if re.match(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", value):
        return None
    return "expected an S3 bucket name (3-63 of a-z 0-9 . -)"


def _ascending(values: list) -> str | None:
    if values != sorted(set(values)):
        return "expected distinct percentages in ascending order"
    if values and not all(0 < v <= 100 for v in values):
        return "expected percentages from 1 to 100"
    return None


REFRESH = {
    "min_healthy_percentage": opt(int, 90, low=0, high=100),
    "max_healthy_percentage": opt(int, 100, low=100, high=200),
    "checkpoint_percentages": opt([int], [], check=_ascending),
    "checkpoint_delay": opt(int, 300, low=0, high=172800),
    "bake_time": opt(int, 0, low=0, high=172800),
    "skip_matching": opt(bool, True),
    "scale_in_protected_instances": opt(str, "Refresh", choices=("Refresh", "Ignore", "Wait")),
    "standby_instances": opt(str, "Terminate", choices=("Terminate", "Ignore", "Wait")),
    "timeout_minutes": opt(int, 120, low=1, high=2880),
}

SCALING_POLICY = {
    "name": F(str, check=_name_check),
    "metric": F(str, choices=("cpu", "alb_request_count")),
    "target_value": F(float, low=1),
    "resource_label": opt(str),  # required for alb_request_count
    "disable_scale_in": opt(bool, False),
}

ROLE = {
    "auto_scaling_group": F(str, check=_name_check),
    "launch_template": F(str, check=_name_check),
    "instance_type": F(str),
    "subnets": F([str], check=lambda v: None if v else "expected at least one subnet"),
    "security_groups": F([str], check=lambda v: None if v else "expected a security group"),
    "target_groups": opt([str], []),
    "instance_profile": F(str),
    "capacity": F({"min": F(int, low=0), "max": F(int, low=0), "desired": F(int, low=0)}),
    "health_check": opt(
        {
            "type": opt(str, "ELB", choices=("EC2", "ELB")),
            "grace_period": opt(int, 300, low=0, high=7200),
        }
    ),
    "instance_warmup": opt(int, 300, low=0, high=3600),
    "root_volume": opt(
        {
            "device_name": opt(str, "/dev/sda1"),
            "size_gb": opt(int, 30, low=8, high=16384),
            "iops": opt(int, 3000, low=3000, high=16000),
            "throughput": opt(int, 125, low=125, high=1000),
            "kms_key_id": opt(str, nullable=True),
        }
    ),
    "data_volume": opt({"name_tag": F(str), "device_name": opt(str, "/dev/xvdf")}, nullable=True),
    "refresh": opt(REFRESH),
    "alarms": opt([str], []),
    "scaling_policy": opt(SCALING_POLICY, nullable=True),
    "initial_ami": opt(str, "latest"),
    "overrides": opt(dict, {}),
}

SPEC = {
    "schema": F(int, choices=(1,)),
    "environment": F(str),
    "region": F(str),
    "account_id": opt(str, nullable=True),
    "aws": opt({"endpoint_url": opt(str, nullable=True)}),
    # Where `golden hotfix` uploads state-tree bundles (instances need s3:GetObject on it).
    "artifacts_bucket": opt(str, nullable=True, check=_bucket_check),
    "instance": F(
        {
            "database": F(dict),
            "redis": F(dict),
            "chroma": F(dict),
            "s3": F(dict),
            "ssm_path": F(str),
            "log_group_prefix": F(str),
            "aws_endpoint_url": opt(str, nullable=True),
        }
    ),
    "tags": opt(dict, {}),
    "roles": F({"app": opt(ROLE, nullable=True), "chroma": opt(ROLE, nullable=True)}),
}


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
    raw = validate(data, SPEC, str(path))
    _cross_checks(raw, str(path))
    env_obj = Environment(name=raw["environment"], region=raw["region"], path=path, raw=raw)
    for role in env_obj.roles:
        # The instance document is checked now so a typo fails before any AWS call.
        try:
            env_obj.instance_document(role)
        except ConfigError as exc:
            raise ConfigError(f"{path}: instance: {exc}") from None
    return env_obj


def _cross_checks(raw: dict, source: str) -> None:
    if not re.match(r"^[a-z]{2}(-[a-z]+)+-\d+$", raw["region"]):
        raise ConfigError(
            f"{source}: region: expected an AWS region like 'us-east-1', got {raw['region']!r}"
        )
    if not any(raw["roles"].values()):
        raise ConfigError(f"{source}: roles: expected at least one of app, chroma")
    for name, role in raw["roles"].items():
        if not role:
            continue
        where = f"roles.{name}"
        cap = role["capacity"]
        if not cap["min"] <= cap["desired"] <= cap["max"]:
            raise ConfigError(
                f"{source}: {where}.capacity: expected min <= desired <= max, got "
                f"{cap['min']} / {cap['desired']} / {cap['max']}"
            )
        ref = role["refresh"]
        if ref["max_healthy_percentage"] - ref["min_healthy_percentage"] > 100:
            raise ConfigError(
                f"{source}: {where}.refresh: max_healthy_percentage minus "
                f"min_healthy_percentage may be at most 100"
            )
        if ref["min_healthy_percentage"] == 100 and ref["max_healthy_percentage"] == 100:
            raise ConfigError(
                f"{source}: {where}.refresh: min_healthy_percentage 100 needs "
                f"max_healthy_percentage above 100 or no instance can be replaced"
            )
        policy = role["scaling_policy"]
        if policy and policy["metric"] == "alb_request_count" and not policy["resource_label"]:
            raise ConfigError(
                f"{source}: {where}.scaling_policy.resource_label: required for "
                f"metric alb_request_count (app/LB-NAME/ID/targetgroup/TG/ID)"
            )
        if role["health_check"]["type"] == "ELB" and not role["target_groups"]:
            raise ConfigError(f"{source}: {where}.health_check.type: ELB needs target_groups")
        if name == "chroma":
            # One Chroma host owns one data volume: it can only move by replace-then-launch.
            if cap["max"] != 1:
                raise ConfigError(
                    f"{source}: {where}.capacity.max: expected 1 (the Chroma host "
                    f"owns a single data volume), got {cap['max']}"
                )
            if ref["min_healthy_percentage"] != 0 or ref["max_healthy_percentage"] != 100:
                raise ConfigError(
                    f"{source}: {where}.refresh: expected min_healthy_percentage 0 and "
                    f"max_healthy_percentage 100 (terminate, then launch: the data volume "
                    f"must be detached before the new instance can attach it)"
                )
            if not role["data_volume"]:
                raise ConfigError(f"{source}: {where}.data_volume: required for chroma")
