"""`golden cost ENV...`: what each environment costs a month, line by line, against its
budget; `golden cost --refresh-prices`: the price tables from the AWS Price List API.
Also registers the monthly cost delta under `golden env plan` and `golden infra plan`."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from autoscaling import commands as release_commands
from golden.core import output
from golden.core.errors import ConfigError
from golden.cost import planreport, run
from golden.cost.model import PRICING_MODES, money


def register(main: click.Group) -> None:
    main.add_command(cost_command)
    release_commands.PLAN_REPORTS["cost"] = planreport.env_plan_report
    release_commands.STACK_PLAN_REPORTS["cost"] = planreport.stack_plan_report


def _out() -> Console:
    return output.console(160)


def _print_environment(env: dict) -> None:
    out = _out()
    out.print(f"[bold]{env['environment']}[/bold] ({env['region']}), {env['pricing']} "
              f"{env['prices']['summary']}", markup=True)  # fmt: skip
    out.print(f"settings {env['sources']['settings']}; foundation {env['sources']['foundation']};"
              f" usage {env['sources']['usage']}", markup=False)  # fmt: skip
    table = Table(show_edge=False)
    for column, justify in (("service", "left"), ("item", "left"), ("a month", "right"),
                            ("how", "left")):  # fmt: skip
        table.add_column(column, justify=justify)
    for line in env["lines"]:
        how = line["how"]
        if "range_usd" in line:
            low, high = line["range_usd"]
            how += f"  [min..max capacity: {money(low)}..{money(high)}]"
        if line.get("note"):
            how += f"  ({line['note']})"
        table.add_row(line["service"], line["item"], money(line["usd"]), how)
    out.print(table)
    low, high = env["range_usd"]
    out.print(f"total {money(env['total_usd'])} a month (min..max capacity {money(low)}.."
              f"{money(high)}); {env['budget_text']}", markup=False)  # fmt: skip
    for what in env["what_if"]:
        saving = what["saving_usd"]
        if saving is None:
            effect = "not priced"
        elif saving >= 0:
            effect = f"saves {money(saving)}"
        else:
            effect = f"costs {money(-saving)} more"
        out.print(f"  what if: {what['name']}: {effect} ({what['detail']})", markup=False)
    for note in env["sources"]["notes"]:
        out.print(f"  note: {note}", markup=False)
    out.print("")


def _print_refresh(results: list[dict]) -> None:
    out = _out()
    for result in results:
        table = Table(title=f"{result['region']}: {result['file']}")
        for column in ("entry", "before", "after", "status"):
            table.add_column(column)
        for row in result["rows"]:
            before, after = (("" if v is None else f"{v:g}") for v in (row["before"], row["after"]))
            table.add_row(row["name"], before, after, row["status"])
        out.print(table)


@click.command("cost")
@click.argument("envs", nargs=-1, metavar="[ENV]...")
@click.option("--usage", "usage_path", type=click.Path(path_type=Path, dir_okay=False),
              default=None, help="Usage file (YAML, schemas/usage.schema.json); default: the "
              "plan's numbers.")  # fmt: skip
@click.option("--foundation", "foundation_path", type=click.Path(path_type=Path, dir_okay=False),
              default=None, help="The foundation stack's parameter file (default: "
              "autoscaling/stacks/params/ENV.yaml when it exists, else the template's "
              "defaults)."
              )  # fmt: skip
@click.option("--pricing", type=click.Choice(PRICING_MODES), default="on-demand",
              show_default=True, help="savings-1y: 1-year Savings Plan and reserved nodes; "
              "spot: the app role on Spot.")  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print the estimate as JSON.")
@click.option("--refresh-prices", is_flag=True, help="Rebuild the price tables from the AWS "
              "Price List API (needs AWS credentials and the internet) instead of pricing."
              )  # fmt: skip
@click.option("--region", "regions", multiple=True, help="With --refresh-prices: this region "
              "(repeatable; default: the regions the settings name).")  # fmt: skip
def cost_command(envs, usage_path, foundation_path, pricing, as_json, refresh_prices, regions):
    """What ENV costs a month: instances (desired, and the min..max range), volumes, the
    surge of rolling releases, load balancer, NAT, addresses, endpoints, RDS, ElastiCache,
    S3, CloudWatch (the metrics and logs the agent config emits), data transfer out; its
    budget_usd headroom and the cheaper options as "what if" lines. Several ENVs are
    added up against the sum of their budgets.

    ENV is a name (autoscaling/environments/ENV.yaml) or a path to a settings file. The
    output states the date of the price table it used.
    """
    if refresh_prices:
        results = run.refresh_prices(list(regions) or run.regions_named(list(envs)))
        if as_json:
            output.print_json(results)
        else:
            _print_refresh(results)
        return
    if not envs:
        raise ConfigError("ENV: give at least one environment (or --refresh-prices)")
    result = run.price_environments(list(envs), usage_path, foundation_path, pricing)
    if as_json:
        output.print_json(result)
        return
    for env in result["environments"]:
        _print_environment(env)
    if len(result["environments"]) > 1:
        _out().print(f"all: {money(result['total_usd'])} a month; {result['budget_text']}",
                     markup=False)  # fmt: skip
