"""Literal inputs for the cost tests: a price table with the figures the hand computations
use (the shipped table's us-east-1 values, written here so that refreshing the shipped
table cannot change a hand-computed figure), and what the agent config emits (the same
counts tests/salt/test_cost_agent_config.py reads from the rendered state tree)."""

from __future__ import annotations

from pathlib import Path

from golden.cost import estimate, foundation, prices, usage
from golden.cost.model import AgentEmissions, EnvironmentSpec, environment_from_settings

from autoscaling import settings

REPO = Path(__file__).resolve().parents[2]
ENTRY = {"source": "https://aws.amazon.com/pricing/", "taken": "2026-11-30"}
PRICE = {
    "ec2/t3.micro": 0.0104, "ec2/t3.small": 0.0208, "ec2/t3.large": 0.0832,
    "ec2/t3.2xlarge": 0.3328, "ec2/r6i.large": 0.126,
    "ebs/gp3-storage": 0.08, "ebs/gp3-iops": 0.005, "ebs/gp3-throughput": 0.04,
    "elb/alb": 0.0225, "elb/alb-lcu": 0.008,
    "vpc/nat-gateway": 0.045, "vpc/nat-data": 0.045, "vpc/public-ipv4": 0.005,
    "vpc/interface-endpoint": 0.01, "vpc/interface-endpoint-data": 0.01,
    "rds/postgres/db.t3.medium": 0.072, "rds/gp3-storage": 0.115, "rds/backup-storage": 0.095,
    "elasticache/cache.t3.micro": 0.017,
    "s3/standard-storage": 0.023, "s3/glacier-flexible-storage": 0.0036,
    "s3/put-requests": 0.005, "s3/get-requests": 0.0004, "s3/glacier-transitions": 0.03,
    "cloudwatch/custom-metric": 0.30, "cloudwatch/alarm": 0.10,
    "cloudwatch/put-metric-data": 0.01, "cloudwatch/logs-ingestion": 0.50,
    "cloudwatch/logs-storage": 0.03, "transfer/out-internet": 0.09,
}  # fmt: skip
FREE = {"cloudwatch/custom-metric": 10, "cloudwatch/alarm": 10,
        "cloudwatch/put-metric-data": 1_000_000, "cloudwatch/logs-ingestion": 5,
        "transfer/out-internet": 100}  # fmt: skip
DISCOUNT = {"savings-1y/ec2/t3": 0.35, "savings-1y/ec2/r6i": 0.35, "reserved-1y/rds/db.t3": 0.30,
            "reserved-1y/elasticache/cache.t3": 0.35, "spot/ec2/t3": 0.60,
            "spot/ec2/r6i": 0.60}  # fmt: skip


def table(date: str = "2026-11-30", drop: tuple[str, ...] = ()) -> prices.Prices:
    """The literal table, without the prices named in DROP."""
    rates = {k: v for k, v in PRICE.items() if k not in drop}
    entry = {**ENTRY, "taken": date}
    data = {
        "schema": 1, "region": "us-east-1", "currency": "USD", "date": date,
        "hours_per_month": 730,
        "prices": {k: {"usd": v, "unit": "unit", **entry} for k, v in rates.items()},
        "free_tier": {k: {"quantity": v, "unit": "unit", **entry} for k, v in FREE.items()},
        "discounts": {k: {"fraction": v, "terms": "terms", **entry} for k, v in DISCOUNT.items()},
    }  # fmt: skip
    return prices.from_data(data, Path("test-prices.yaml"))


# The agent config the state tree renders: mem (2 measurements), disk (2, on "/"), swap
# (1) per instance; aggregated by [ASG] and [ASG, ImageId]; ordinary log groups kept 30
# days, auth and audit 365 (salt/cloudwatch/defaults.yaml).
_ORDINARY = ("nginx/access", "nginx/error", "app/containers", "boot", "syslog")
APP_AGENT = AgentEmissions(5, 10, {**{f"/p/{g}": 30 for g in _ORDINARY},
                                   "/p/auth": 365, "/p/audit": 365})  # fmt: skip
CHROMA_AGENT = AgentEmissions(5, 10, {
    **APP_AGENT.log_groups,
    **{f"/p/chroma/{g}": 30 for g in ("proxy-access", "proxy-error", "server", "volume")},
})  # fmt: skip
AGENTS = {"app": APP_AGENT, "chroma": CHROMA_AGENT}


def environment(path: str) -> EnvironmentSpec:
    """The environment of a settings file: a path under the repository, or a name."""
    target = str(REPO / path) if "/" in path else path
    return environment_from_settings(settings.load(target).raw)


def inputs(env: EnvironmentSpec, pricing: str = "on-demand", **changes) -> estimate.Inputs:
    """Inputs with the foundation template's defaults, the usage defaults and the literal table;
    CHANGES replace any of them (foundation=..., usage=..., prices=..., agents=...)."""
    base = estimate.Inputs(env, foundation.defaults(), usage.defaults(), table(), AGENTS,
                           pricing)  # fmt: skip
    return estimate.Inputs(**{**base.__dict__, **changes})


def lines(est: estimate.Estimate) -> dict[str, float]:
    """Service: item -> USD a month."""
    return {f"{line.service}: {line.item}": line.usd for line in est.lines}
