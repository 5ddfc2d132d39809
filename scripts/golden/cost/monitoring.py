"""CloudWatch: the custom metrics and log groups the agent config emits, alarms, and
their price (pure).

What the agent emits is read from its config (the documents the state tree renders for a
role, golden.cost.agentconfig), never assumed: each measurement of each plugin is a
metric, per instance when the appended dimensions include the instance id, and once more
per group for each aggregation dimension set. CloudWatch bills a metric (name, namespace
and dimensions) by the hour it exists, so a replaced instance's metrics cost the same
as a steady one's. The agent flushes its metrics once a minute: one PutMetricData call
per instance a minute. A target-tracking scaling policy adds the two alarms AWS creates
for it."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from golden.cost.model import AgentEmissions, Line, RoleSpec, rate
from golden.cost.prices import Prices
from golden.cost.usage import Usage

FLUSHES_PER_HOUR = 60
TARGET_TRACKING_ALARMS = 2


def _measurements(plugin: Any) -> int:
    """Metrics one plugin block emits per instance: its measurements, once per listed
    resource (a disk's mount points; "*" counts as one)."""
    if not isinstance(plugin, dict):
        return 0
    count = len(plugin.get("measurement") or ())
    resources = plugin.get("resources") or ["*"]
    return count * max(1, len(resources))


def emissions(documents: Iterable[dict]) -> AgentEmissions:
    """What agent config DOCUMENTS (the main config and any appended ones) emit."""
    per_instance = per_group = 0
    groups: dict[str, int | None] = {}
    for doc in documents:
        metrics = doc.get("metrics") or {}
        collected = sum(_measurements(p) for p in (metrics.get("metrics_collected") or {}).values())
        dims = metrics.get("append_dimensions") or {}
        if "InstanceId" in dims:
            per_instance += collected
        else:
            per_group += collected
        per_group += collected * len(metrics.get("aggregation_dimensions") or ())
        files = (((doc.get("logs") or {}).get("logs_collected") or {}).get("files") or {})
        for entry in files.get("collect_list") or ():
            days = entry.get("retention_in_days")
            name = entry.get("log_group_name", "?")
            days = int(days) if days is not None and int(days) > 0 else None
            known = groups.get(name, days)
            groups[name] = None if None in (known, days) else max(known, days)
    return AgentEmissions(per_instance, per_group, groups)


def log_gb_per_day(role: RoleSpec, usage: Usage) -> float:
    """What one instance of ROLE ships a day besides request logs: host and security."""
    return usage.role_log_gb_per_day(role.name) + usage.security_log_gb_per_instance_per_day


def request_log_gb_per_day(usage: Usage, roles: tuple[RoleSpec, ...]) -> dict[str, float]:
    """The request logs a day (GB) of each role behind the load balancer: every request
    leaves LOG_KB_PER_REQUEST in the group's logs however many instances share them."""
    served = [r.name for r in roles if r.load_balanced and r.desired]
    total = usage.requests_per_second * 86_400 * usage.log_kb_per_request / 1_000_000
    return {name: total / len(served) for name in served}


def _free(prices: Prices, usage: Usage, name: str) -> float:
    return prices.free(name) if usage.free_tier else 0.0


def _minus_free(quantity: float, free: float, unit: str) -> tuple[float, str]:
    if not free:
        return quantity, ""
    return max(0.0, quantity - free), f" - {free:g} {unit} free"


def metric_lines(
    prices: Prices, usage: Usage, roles: tuple[RoleSpec, ...],
    agents: dict[str, AgentEmissions], months: dict[str, float],
) -> list[Line]:  # fmt: skip
    """Custom metrics (per instance over the month, per group) and PutMetricData calls."""
    hours = prices.hours_per_month
    series = sum(
        agents[r.name].metrics_per_instance * months[r.name]
        + (agents[r.name].metrics_per_group if r.desired else 0)
        for r in roles
    )
    parts = " + ".join(
        f"{agents[r.name].metrics_per_instance} x {months[r.name]:.3f} {r.name} + "
        f"{agents[r.name].metrics_per_group}" for r in roles
    )
    billed, free_text = _minus_free(series, _free(prices, usage, "cloudwatch/custom-metric"),
                                    "metrics")  # fmt: skip
    calls = sum(months.values()) * FLUSHES_PER_HOUR * hours
    billed_calls, calls_free = _minus_free(
        calls, _free(prices, usage, "cloudwatch/put-metric-data"), "requests"
    )
    return [
        Line("CloudWatch", "custom metrics (agent)",
             billed * prices.usd("cloudwatch/custom-metric"),
             f"({parts}){free_text} = {billed:.2f} metrics x "
             f"{rate(prices.usd('cloudwatch/custom-metric'))}"),
        Line("CloudWatch", "PutMetricData requests",
             billed_calls / 1000 * prices.usd("cloudwatch/put-metric-data"),
             f"{sum(months.values()):.3f} instances x {FLUSHES_PER_HOUR}/h x {hours:g} h"
             f"{calls_free} = {billed_calls:,.0f} / 1000 x "
             f"{rate(prices.usd('cloudwatch/put-metric-data'))}"),
    ]  # fmt: skip


def alarm_lines(prices: Prices, usage: Usage, roles: tuple[RoleSpec, ...]) -> list[Line]:
    gating = sum(r.alarms for r in roles)
    tracking = TARGET_TRACKING_ALARMS * sum(1 for r in roles if r.scaling_policy)
    billed, free_text = _minus_free(gating + tracking, _free(prices, usage, "cloudwatch/alarm"),
                                    "alarms")  # fmt: skip
    return [Line(
        "CloudWatch", f"alarms ({gating} gating + {tracking} target tracking)",
        billed * prices.usd("cloudwatch/alarm"),
        f"{gating + tracking}{free_text} x {rate(prices.usd('cloudwatch/alarm'))}",
    )]  # fmt: skip


def log_lines(
    prices: Prices, usage: Usage, roles: tuple[RoleSpec, ...],
    agents: dict[str, AgentEmissions], months: dict[str, float],
) -> list[Line]:  # fmt: skip
    """Log ingestion, and storage at steady state: each group keeps its retention's days
    of what it receives. Request and host logs go to the role's shortest retention,
    security logs (auth, audit) to its longest (the agent config's log groups)."""
    days_per_month = prices.hours_per_month / 24
    requests = request_log_gb_per_day(usage, roles)
    ingested = log_gb_per_month(prices, usage, roles, months)
    billed, free_text = _minus_free(
        ingested, _free(prices, usage, "cloudwatch/logs-ingestion"), "GB"
    )
    stored = 0.0
    parts = []
    for r in roles:
        short = agents[r.name].retention(longest=False) or 365
        long = agents[r.name].retention(longest=True) or 365
        host = usage.role_log_gb_per_day(r.name)
        security = usage.security_log_gb_per_instance_per_day
        served = requests.get(r.name, 0.0)
        stored += (months[r.name] * host + served) * short + months[r.name] * security * long
        parts.append(f"{r.name} ({months[r.name]:.3f} x {host:g}" + (
            f" + {served:g}" if served else "") + f") x {short} d + {months[r.name]:.3f} x "
            f"{security:g} x {long} d")  # fmt: skip
    per_day = sum(months[r.name] * log_gb_per_day(r, usage) for r in roles)
    return [
        Line("CloudWatch", "log ingestion", billed * prices.usd("cloudwatch/logs-ingestion"),
             f"({per_day:.3f} host and security + {sum(requests.values()):g} requests) GB/day x "
             f"{days_per_month:.2f} d = {ingested:.1f} GB{free_text} x "
             f"{rate(prices.usd('cloudwatch/logs-ingestion'))}"),
        Line("CloudWatch", "log storage", stored * prices.usd("cloudwatch/logs-storage"),
             f"({' + '.join(parts)}) = {stored:.1f} GB x "
             f"{rate(prices.usd('cloudwatch/logs-storage'))}",
             note="at the ingested size: CloudWatch bills the compressed size, so an upper bound"),
    ]  # fmt: skip


def log_gb_per_month(prices: Prices, usage: Usage, roles: tuple[RoleSpec, ...],
                     months: dict[str, float]) -> float:  # fmt: skip
    """Everything the agents ship in a month (GB): host, security and request logs."""
    per_day = sum(months[r.name] * log_gb_per_day(r, usage) for r in roles)
    return (per_day + sum(request_log_gb_per_day(usage, roles).values())) * (
        prices.hours_per_month / 24
    )
