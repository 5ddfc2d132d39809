"""`golden cost`: read an environment's settings, its foundation parameters, the usage,
the price table and the agent config; price it; and rebuild price tables."""

from __future__ import annotations

import datetime as dt
import functools
from pathlib import Path

from autoscaling import settings
from golden.core.errors import ConfigError
from golden.cost import agentconfig, estimate, foundation, monitoring, pricelist, prices
from golden.cost import usage as usage_file
from golden.cost.model import AgentEmissions, environment_from_settings


@functools.cache
def role_emissions(role: str) -> AgentEmissions:
    """What ROLE's agent config emits (rendered once per process)."""
    return monitoring.emissions(agentconfig.render(role))


def inputs_with(env_arg: str, found: foundation.Foundation, usage_path: Path | None = None,
                pricing: str = "on-demand") -> estimate.Inputs:  # fmt: skip
    """The estimate's inputs for ENV_ARG (a name or a settings file) with the foundation
    FOUND (e.g. the parameters a stack's change set deploys). Raises ConfigError naming
    the file and key of the first bad input."""
    env = environment_from_settings(settings.load(env_arg).raw)
    agents = {r.name: role_emissions(r.name) for r in env.roles}
    return estimate.Inputs(env, found, usage_file.load(usage_path), prices.load(env.region),
                           agents, pricing)  # fmt: skip


def load_inputs(
    env_arg: str, usage_path: Path | None, foundation_path: Path | None, pricing: str
) -> tuple[estimate.Inputs, dict]:
    """The estimate's inputs for ENV_ARG (a name or a settings file) and where each came
    from. Raises ConfigError naming the file and key of the first bad input."""
    environment = settings.load(env_arg)
    env_name = environment_from_settings(environment.raw).name
    path = foundation_path or foundation.parameter_file(env_name)
    if foundation_path is not None and not foundation_path.is_file():
        raise ConfigError(f"{foundation_path}: no such foundation parameter file")
    found, notes = foundation.read_foundation(path)
    inputs = inputs_with(str(environment.path), found, usage_path, pricing)
    sources = {
        "settings": str(environment.path),
        "foundation": str(path) if path.is_file() else "the template's defaults",
        "usage": str(usage_path) if usage_path else "defaults (the plan)",
        "notes": notes,
    }
    return inputs, sources


def report(inputs: estimate.Inputs, sources: dict, today: dt.date) -> dict:
    """One environment's estimate as plain data (what --json prints)."""
    est = estimate.estimate(inputs)
    table = inputs.prices
    return {
        "environment": inputs.env.name,
        "region": inputs.env.region,
        "pricing": inputs.pricing,
        "prices": {"file": str(table.path), "date": table.date.isoformat(),
                   "age_days": table.age_days(today),
                   "oldest_entry": table.oldest_taken().isoformat(),
                   "summary": prices.freshness(table, today)},  # fmt: skip
        "sources": sources,
        "foundation": foundation.describe(inputs.foundation),
        "usage": usage_file.describe(inputs.usage),
        "lines": [line.as_dict() for line in est.lines],
        "total_usd": round(est.total, 2),
        "range_usd": [round(est.low, 2), round(est.high, 2)],
        "by_service": {k: round(v, 2) for k, v in est.by_service().items()},
        "budget": estimate.budget_status(est.total, inputs.env.budget_usd),
        "budget_text": estimate.budget_text(est.total, inputs.env.budget_usd),
        "what_if": [w.as_dict() for w in estimate.what_ifs(inputs, est)],
    }


def price_environments(
    env_args: list[str], usage_path: Path | None = None, foundation_path: Path | None = None,
    pricing: str = "on-demand", today: dt.date | None = None,
) -> dict:  # fmt: skip
    """Estimates of every environment in ENV_ARGS, and their sum against the sum of their
    budgets. --foundation names one environment's stack, so it takes one ENV."""
    if foundation_path is not None and len(env_args) > 1:
        raise ConfigError("--foundation: names one environment's stack parameters; give one ENV")
    today = today or dt.date.today()
    reports = []
    for env_arg in env_args:
        inputs, sources = load_inputs(env_arg, usage_path, foundation_path, pricing)
        reports.append(report(inputs, sources, today))
    total = sum(r["total_usd"] for r in reports)
    budgets = [r["budget"]["budget_usd"] for r in reports if r["budget"]]
    budget = sum(budgets) if len(budgets) == len(reports) and budgets else None
    return {
        "environments": reports,
        "total_usd": round(total, 2),
        "budget": estimate.budget_status(total, budget),
        "budget_text": estimate.budget_text(total, budget),
    }


def regions_named(env_args: list[str]) -> list[str]:
    """The regions of ENV_ARGS' settings, or of every settings file when none is given."""
    names = env_args or sorted(p.stem for p in settings.ENV_DIR.glob("*.yaml"))
    return sorted({settings.load(name).region for name in names})


def refresh_prices(
    regions: list[str], today: dt.date | None = None, fetcher=None, folder: Path | None = None
) -> list[dict]:
    """Rebuild each region's table from the Price List API (FETCHER: a query -> products;
    default the real API). Each table is written only after all its queries answered."""
    today = today or dt.date.today()
    folder = folder or prices.PRICING_DIR
    if fetcher is None:
        api = pricelist.client()
        fetcher = functools.partial(pricelist.fetch, api)
    out = []
    for region in regions:
        table = prices.load(region, folder)
        new, rows = pricelist.refresh(table.raw, fetcher, today)
        prices.from_data(new, table.path)  # the rebuilt table must still be a valid table
        tmp = table.path.with_suffix(".yaml.tmp")
        tmp.write_text(prices.dump(new), encoding="utf-8")
        tmp.replace(table.path)
        out.append({"region": region, "file": str(table.path), "rows": rows})
    return out

