"""EC2 instance hours, their EBS volumes, and the surge a rolling release adds (pure).

A release replaces instances in batches (autoscaling.batches, golden's reading of AWS's
instance refresh). With max_healthy_percentage above 100 AWS launches a batch's new
instances before it terminates the old ones, so each batch runs its extra instances from
launch until they finish warming up; then the old ones go. Checkpoint pauses and the bake
time make a release longer but add no instances: by then each batch's old instances are
gone. Instances are billed by the second (EC2 Linux, 60 s minimum)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from autoscaling import batches
from golden.core.errors import ConfigError
from golden.cost.model import Line, RoleSpec, Volume, discount_key, rate
from golden.cost.prices import Prices
from golden.cost.usage import Usage


def hourly_rate(prices: Prices, pricing: str, role: RoleSpec) -> tuple[float, str]:
    """ROLE's price per instance-hour under PRICING, and how it was reached. Raises
    ConfigError naming the table's entry when a needed price or discount is missing."""
    base = prices.usd(f"ec2/{role.instance_type}")
    key = discount_key(pricing, role)
    if key is None:
        return base, rate(base)
    fraction = prices.discount(key)
    if fraction is None:
        raise ConfigError(f"{prices.path}: discounts.{key}: missing (needed for --pricing "
                          f"{pricing})")  # fmt: skip
    return base * (1 - fraction), f"{rate(base)} x (1 - {fraction:g} {pricing})"


def volume_monthly(prices: Prices, volume: Volume) -> tuple[float, str]:
    """A gp3 volume's monthly price: its size, plus IOPS above the free 3,000 and
    throughput above the free 125 MiB/s (EBS pricing)."""
    size = volume.size_gb * prices.usd("ebs/gp3-storage")
    extra_iops = max(0, volume.iops - 3000)
    extra_tp = max(0, volume.throughput - 125)
    usd = size + extra_iops * prices.usd("ebs/gp3-iops") + extra_tp * prices.usd(
        "ebs/gp3-throughput"
    )
    how = f"{volume.size_gb} GB x {rate(prices.usd('ebs/gp3-storage'))}"
    if extra_iops:
        how += f" + {extra_iops} IOPS x {rate(prices.usd('ebs/gp3-iops'))}"
    if extra_tp:
        how += f" + {extra_tp} MiB/s x {rate(prices.usd('ebs/gp3-throughput'))}"
    return usd, how


def ec2_lines(prices: Prices, pricing: str, roles: tuple[RoleSpec, ...]) -> list[Line]:
    """Instance hours by role at the desired capacity, with the min..max range."""
    hours = prices.hours_per_month
    out = []
    for role in roles:
        per_hour, how_rate = hourly_rate(prices, pricing, role)
        per_month = per_hour * hours
        out.append(Line(
            "EC2", f"{role.name}: {role.desired} x {role.instance_type}",
            role.desired * per_month,
            f"{role.desired} x {hours:g} h x {how_rate}",
            low=role.minimum * per_month, high=role.maximum * per_month,
        ))  # fmt: skip
    return out


def ebs_lines(prices: Prices, roles: tuple[RoleSpec, ...], data_volume_gb: int) -> list[Line]:
    """Each instance's root volume, and the data volume of a role that has one."""
    out = []
    for role in roles:
        each, how = volume_monthly(prices, role.root)
        out.append(Line(
            "EBS", f"{role.name}: {role.desired} root volume{'' if role.desired == 1 else 's'}",
            role.desired * each,
            f"{role.desired} x ({how})", low=role.minimum * each, high=role.maximum * each,
        ))  # fmt: skip
        if role.data_volume:
            usd, how = volume_monthly(prices, Volume(data_volume_gb))
            out.append(Line("EBS", f"{role.name}: data volume", usd, how))
    return out


@dataclass(frozen=True)
class Surge:
    """One release of one role: batch sizes, extra instances per batch, the
    instance-seconds those extras run, and the release's duration in seconds."""

    steps: tuple[int, ...]
    extras: tuple[int, ...]
    extra_seconds: int
    duration_seconds: int


def surge(role: RoleSpec, launch_seconds: int) -> Surge:
    """How a release of ROLE replaces its desired instances (golden appends a last
    checkpoint at 100, autoscaling/refresh.py) and the extra instance-seconds it costs:
    each batch's instances above what may be taken down run for LAUNCH_SECONDS plus the
    warm-up. Pauses: one checkpoint delay per checkpoint below 100 that is reached before
    the end, and the bake time."""
    marks = list(role.checkpoints)
    if marks and marks[-1] != 100:
        marks.append(100)
    steps = batches.batches(role.desired, role.desired, role.min_healthy, role.max_healthy,
                            marks)  # fmt: skip
    may_be_down = role.desired - math.ceil(role.desired * role.min_healthy / 100)
    extras = tuple(max(0, s - may_be_down) if role.max_healthy > 100 else 0 for s in steps)
    per_batch = launch_seconds + role.warmup
    reached = {math.ceil(role.desired * c / 100) for c in marks if c < 100}
    pauses = len([m for m in reached if 0 < m < role.desired])
    return Surge(
        steps=tuple(steps), extras=extras, extra_seconds=sum(extras) * per_batch,
        duration_seconds=len(steps) * per_batch + pauses * role.checkpoint_delay
        + role.bake_time,
    )  # fmt: skip


def surge_hours(role: RoleSpec, usage: Usage) -> float:
    """Extra instance-hours a month that ROLE's releases add."""
    return surge(role, usage.instance_launch_seconds).extra_seconds / 3600 * (
        usage.releases_per_month
    )


def surge_lines(
    prices: Prices, pricing: str, roles: tuple[RoleSpec, ...], usage: Usage
) -> list[Line]:
    """Per role: the extra instance-hours (and their root volumes) of a month's releases."""
    out = []
    for role in roles:
        one = surge(role, usage.instance_launch_seconds)
        if not one.extra_seconds:
            continue  # terminate-then-launch (or no releases): no instance runs extra
        hours = one.extra_seconds / 3600 * usage.releases_per_month
        per_hour, how_rate = hourly_rate(prices, pricing, role)
        volume, _ = volume_monthly(prices, role.root)
        per_hour_volume = volume / prices.hours_per_month
        batches_text = "+".join(str(s) for s in one.steps) or "0"
        extra_text = "+".join(str(e) for e in one.extras) or "0"
        out.append(Line(
            "EC2", f"{role.name}: release surge", hours * (per_hour + per_hour_volume),
            f"{usage.releases_per_month:g} releases x ({extra_text}) extra x "
            f"({usage.instance_launch_seconds} + {role.warmup} s) = {hours:.2f} h x "
            f"({how_rate} + {rate(round(per_hour_volume, 6))} volume)",
            note=f"batches {batches_text} at {role.min_healthy}-{role.max_healthy}% healthy; "
                 f"a release takes about {one.duration_seconds / 60:.0f} min with its "
                 f"checkpoint pauses and bake time, which add no instances",
        ))  # fmt: skip
    return out


def instance_months(role: RoleSpec, usage: Usage, hours_per_month: float) -> float:
    """ROLE's instances over a month, counting release surges (per-instance metrics,
    logs and NAT traffic scale with it)."""
    return role.desired + surge_hours(role, usage) / hours_per_month

