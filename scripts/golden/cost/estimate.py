"""An environment's monthly estimate from plain inputs, the cheaper options as "what if"
lines, the budget, and the delta of a change (pure)."""

from __future__ import annotations

from dataclasses import dataclass, replace

from golden.core.errors import ConfigError
from golden.cost import datastores, instances, monitoring, network
from golden.cost.foundation import Foundation
from golden.cost.model import AgentEmissions, EnvironmentSpec, Line, check_pricing, money
from golden.cost.prices import Prices
from golden.cost.usage import Usage

# The "log retention" what-if: ordinary log groups kept a week (security logs keep theirs).
SHORT_RETENTION_DAYS = 7


@dataclass(frozen=True)
class Inputs:
    """Everything one estimate prices. AGENTS: what the agent config emits, by role."""

    env: EnvironmentSpec
    foundation: Foundation
    usage: Usage
    prices: Prices
    agents: dict[str, AgentEmissions]
    pricing: str = "on-demand"


@dataclass(frozen=True)
class Estimate:
    lines: tuple[Line, ...]

    @property
    def total(self) -> float:
        return sum(line.usd for line in self.lines)

    @property
    def low(self) -> float:
        """The total with every role at its minimum capacity."""
        return sum(line.usd if line.low is None else line.low for line in self.lines)

    @property
    def high(self) -> float:
        """The total with every role at its maximum capacity."""
        return sum(line.usd if line.high is None else line.high for line in self.lines)

    def by_service(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for line in self.lines:
            out[line.service] = out.get(line.service, 0.0) + line.usd
        return out


@dataclass(frozen=True)
class WhatIf:
    name: str
    detail: str
    total: float | None
    saving: float | None

    def as_dict(self) -> dict:
        return {"name": self.name, "detail": self.detail,
                "total_usd": None if self.total is None else round(self.total, 2),
                "saving_usd": None if self.saving is None else round(self.saving, 2)}  # fmt: skip


def estimate(inputs: Inputs) -> Estimate:
    """Every line of INPUTS' environment for a month. Raises ConfigError naming the price
    table's entry when a price the environment needs is missing."""
    check_pricing(inputs.pricing)
    env, usage, prices, found = inputs.env, inputs.usage, inputs.prices, inputs.foundation
    roles = env.roles
    agents = {r.name: inputs.agents.get(r.name, AgentEmissions(0, 0, {})) for r in roles}
    months = {r.name: instances.instance_months(r, usage, prices.hours_per_month) for r in roles}
    has_alb = any(r.load_balanced for r in roles)
    traffic = network.AwsTraffic(
        logs_gb=monitoring.log_gb_per_month(prices, usage, roles, months),
        s3_gb=datastores.s3_traffic_gb(usage),
        other_gb=sum(months.values()) * usage.other_nat_gb_per_instance_per_month,
    )
    lines: list[Line] = []
    lines += instances.ec2_lines(prices, inputs.pricing, roles)
    lines += instances.surge_lines(prices, inputs.pricing, roles, usage)
    lines += instances.ebs_lines(prices, roles, found.chroma_volume_gb)
    lines += network.alb_lines(prices, usage) if has_alb else []
    lines += network.address_lines(prices, found, has_alb)
    lines += network.nat_lines(prices, found, traffic)
    lines += network.endpoint_lines(prices, found, traffic)
    lines += datastores.rds_lines(prices, inputs.pricing, found, usage)
    lines += datastores.cache_lines(prices, inputs.pricing, found)
    lines += datastores.s3_lines(prices, found, usage)
    lines += monitoring.metric_lines(prices, usage, roles, agents, months)
    lines += monitoring.alarm_lines(prices, usage, roles)
    lines += monitoring.log_lines(prices, usage, roles, agents, months)
    lines += network.transfer_lines(prices, usage) if has_alb else []
    return Estimate(tuple(lines))


def _alternative(inputs: Inputs, base: Estimate, name: str, detail: str, **changes) -> WhatIf:
    try:
        other = estimate(replace(inputs, **changes))
    except ConfigError as exc:
        return WhatIf(name, f"not priced: {exc}", None, None)
    return WhatIf(name, detail, other.total, base.total - other.total)


def shorter_retention(agents: dict[str, AgentEmissions], days: int) -> dict[str, AgentEmissions]:
    """AGENTS with every ordinary log group (the role's shortest retention) kept DAYS."""
    out = {}
    for role, agent in agents.items():
        short = agent.retention(longest=False)
        groups = {g: (days if d == short else d) for g, d in agent.log_groups.items()}
        out[role] = replace(agent, log_groups=groups)
    return out


def what_ifs(inputs: Inputs, base: Estimate) -> list[WhatIf]:
    """The plan's cheaper options, each priced against BASE: commitments, Spot for the
    non-critical capacity, interface endpoints instead of NAT for AWS traffic, shorter
    log retention. A saving below zero means the option costs more here."""
    out = []
    if inputs.pricing != "savings-1y":
        out.append(_alternative(
            inputs, base, "1-year commitments",
            "EC2 Instance Savings Plan for the instances, reserved RDS and ElastiCache nodes "
            "(golden cost --pricing savings-1y)", pricing="savings-1y",
        ))  # fmt: skip
    if inputs.pricing != "spot" and inputs.env.role("app"):
        chroma = "; the Chroma host keeps its volume on-demand" if inputs.env.role(
            "chroma") else ""  # fmt: skip
        out.append(_alternative(
            inputs, base, "Spot for the app role",
            f"stateless app instances and their release surges on Spot{chroma} (golden cost "
            f"--pricing spot)", pricing="spot",
        ))  # fmt: skip
    found = inputs.foundation
    if found.nat_gateways and not found.interface_endpoints and found.endpoint_offer:
        out.append(_alternative(
            inputs, base, "interface endpoints instead of NAT for AWS traffic",
            f"InterfaceEndpoints: true ({', '.join(found.endpoint_offer)}) in each of "
            f"{found.availability_zones} AZs; the NAT gateway stays for package updates",
            foundation=replace(found, interface_endpoints=found.endpoint_offer),
        ))  # fmt: skip
    shortest = [a.retention(longest=False) for a in inputs.agents.values()]
    if any(d and d > SHORT_RETENTION_DAYS for d in shortest):
        out.append(_alternative(
            inputs, base, f"log retention {SHORT_RETENTION_DAYS} days",
            f"ordinary log groups kept {SHORT_RETENTION_DAYS} days instead of "
            f"{max(d for d in shortest if d)}; auth and audit logs keep theirs",
            agents=shorter_retention(inputs.agents, SHORT_RETENTION_DAYS),
        ))  # fmt: skip
    return out


def budget_status(total: float, budget: float | None) -> dict | None:
    """Headroom (negative: over) of TOTAL against BUDGET; None without a budget."""
    if budget is None:
        return None
    return {"budget_usd": round(budget, 2), "headroom_usd": round(budget - total, 2),
            "over": total > budget}  # fmt: skip


def budget_text(total: float, budget: float | None) -> str:
    if budget is None:
        return "no budget_usd in the settings"
    if total > budget:
        return f"budget {money(budget)}: OVER by {money(total - budget)}"
    return f"budget {money(budget)}: headroom {money(budget - total)}"


def crossing(before: float, after: float, budget: float | None) -> str | None:
    """A warning when a change from BEFORE to AFTER (USD a month) crosses BUDGET or adds
    to an environment already over it; None otherwise."""
    if budget is None or after <= budget:
        return None
    if before <= budget:
        return (f"this change would cross the budget: {money(after)} a month against "
                f"{money(budget)} (over by {money(after - budget)})")  # fmt: skip
    if after > before:
        return (f"already over budget ({money(before)} against {money(budget)}); this change "
                f"adds {money(after - before)}")  # fmt: skip
    return None
