"""The plain data the pricing math works on: the environment's roles as the settings (or
AWS) describe them, what the CloudWatch agent emits, and the priced lines that come out.

All money is USD a month; a month is the price table's hours_per_month (730)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from golden.core.errors import ConfigError

PRICING_MODES = ("on-demand", "savings-1y", "spot")
# Spot suits capacity that may be interrupted: the app role's instances (stateless behind
# the load balancer). The Chroma host owns its data volume and stays on-demand.
SPOT_ROLES = ("app",)


@dataclass(frozen=True)
class Volume:
    """A gp3 volume: size (GiB), provisioned IOPS and throughput (MiB/s)."""

    size_gb: int
    iops: int = 3000
    throughput: int = 125


@dataclass(frozen=True)
class RoleSpec:
    """What one role runs: instance type, capacity, volumes, release preferences, the
    alarms and scaling policy it has (from the settings, or from AWS for `env plan`)."""

    name: str
    instance_type: str
    desired: int
    minimum: int
    maximum: int
    root: Volume
    data_volume: bool = False
    warmup: int = 300
    min_healthy: int = 90
    max_healthy: int = 100
    checkpoints: tuple[int, ...] = ()
    checkpoint_delay: int = 300
    bake_time: int = 0
    alarms: int = 0
    scaling_policy: bool = False
    load_balanced: bool = False

    @property
    def family(self) -> str:
        return self.instance_type.split(".")[0]


@dataclass(frozen=True)
class EnvironmentSpec:
    name: str
    region: str
    roles: tuple[RoleSpec, ...]
    budget_usd: float | None = None

    def role(self, name: str) -> RoleSpec | None:
        return next((r for r in self.roles if r.name == name), None)

    def with_role(self, spec: RoleSpec) -> EnvironmentSpec:
        others = tuple(r for r in self.roles if r.name != spec.name)
        return replace(self, roles=tuple(sorted(others + (spec,), key=lambda r: r.name)))

    def without_role(self, name: str) -> EnvironmentSpec:
        return replace(self, roles=tuple(r for r in self.roles if r.name != name))


@dataclass(frozen=True)
class AgentEmissions:
    """What the CloudWatch agent config of one role emits: custom metrics per instance
    (their dimensions include the instance id), metrics per group (the aggregation
    dimensions), and each log group with its retention in days (None: never expires)."""

    metrics_per_instance: int
    metrics_per_group: int
    log_groups: dict[str, int | None] = field(default_factory=dict)

    def retention(self, longest: bool) -> int | None:
        """The shortest (ordinary logs) or longest (security logs) retention of the
        role's log groups; None when a group never expires or there are none."""
        days = list(self.log_groups.values())
        if not days or None in days:
            return None
        return max(days) if longest else min(days)


@dataclass(frozen=True)
class Line:
    """One priced line: USD a month and the arithmetic that gives it. LOW/HIGH: the
    same line at the roles' minimum and maximum capacity (None: does not vary)."""

    service: str
    item: str
    usd: float
    how: str
    low: float | None = None
    high: float | None = None
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        out = {"service": self.service, "item": self.item, "usd": round(self.usd, 2),
               "how": self.how}  # fmt: skip
        if self.low is not None:
            out["range_usd"] = [round(self.low, 2), round(self.high or 0.0, 2)]
        if self.note:
            out["note"] = self.note
        return out


def money(value: float) -> str:
    return f"${value:,.2f}"


def rate(value: float) -> str:
    """A unit price as AWS lists it: no rounding of its significant digits."""
    return f"${value:g}"


def roles_from_settings(raw: dict) -> tuple[RoleSpec, ...]:
    """RoleSpecs from validated environment settings RAW (defaults filled in)."""
    out = []
    for name, role in sorted((raw.get("roles") or {}).items()):
        if not role:
            continue
        cap, ref, root = role["capacity"], role["refresh"], role["root_volume"]
        out.append(RoleSpec(
            name=name, instance_type=role["instance_type"], desired=cap["desired"],
            minimum=cap["min"], maximum=cap["max"],
            root=Volume(root["size_gb"], root["iops"], root["throughput"]),
            data_volume=bool(role["data_volume"]), warmup=role["instance_warmup"],
            min_healthy=ref["min_healthy_percentage"],
            max_healthy=ref["max_healthy_percentage"],
            checkpoints=tuple(ref["checkpoint_percentages"]),
            checkpoint_delay=ref["checkpoint_delay"], bake_time=ref["bake_time"],
            alarms=len(role["alarms"]), scaling_policy=bool(role["scaling_policy"]),
            load_balanced=bool(role["target_groups"]),
        ))  # fmt: skip
    return tuple(out)


def environment_from_settings(raw: dict) -> EnvironmentSpec:
    budget = raw.get("budget_usd")
    return EnvironmentSpec(
        name=raw["environment"], region=raw["region"], roles=roles_from_settings(raw),
        budget_usd=None if budget is None else float(budget),
    )  # fmt: skip


def discount_key(pricing: str, role: RoleSpec) -> str | None:
    """The price table's discount that --pricing PRICING applies to ROLE's instances, or
    None (on-demand; Spot for a role that must not be interrupted)."""
    if pricing == "savings-1y":
        return f"savings-1y/ec2/{role.family}"
    if pricing == "spot" and role.name in SPOT_ROLES:
        return f"spot/ec2/{role.family}"
    return None


def check_pricing(pricing: str) -> None:
    if pricing not in PRICING_MODES:
        raise ConfigError(f"--pricing: expected one of {', '.join(PRICING_MODES)}, got {pricing!r}")

