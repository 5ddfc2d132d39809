"""`golden infra plan` (and `apply`) prints the monthly cost delta of the stack's change
and warns at the environment's budget_usd, as `golden env plan` does: against the
emulator's CloudFormation (the stack's parameters now as DescribeStacks answers them,
those of the change set from the parameter file), checked against `golden cost` with
each parameter file (tests/unit/test_cost_*.py compute those figures by hand)."""

from __future__ import annotations

import json

import pytest
import yaml
from golden.cost import prices


def _edit_params(world, **changes) -> None:
    data = yaml.safe_load(world.parameters.read_text())
    data.update(changes)
    world.parameters.write_text(yaml.safe_dump(data, sort_keys=False))


def _cost(world) -> float:
    """`golden cost` of the world's settings with its parameter file, USD a month."""
    result = world.golden("cost", world.settings, "--foundation", world.parameters, "--json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)["total_usd"]


def _report(world, command: str = "plan") -> dict:
    result = world.infra(command, "--json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)["reports"]["cost"]


def test_a_second_nat_gateway_adds_its_hours_and_address_to_the_month(deployed):
    unchanged = _report(deployed)
    assert unchanged["delta_usd"] == 0 and unchanged["before_usd"] == _cost(deployed)
    now = _cost(deployed)
    _edit_params(deployed, NatGateways=2)
    then = _cost(deployed)
    report = _report(deployed)
    assert (report["before_usd"], report["after_usd"]) == (now, then)
    # One more NAT gateway: 730 h x 0.045 = 32.85 and its Elastic IP 730 h x 0.005 = 3.65;
    # the NAT data is the same GB over two gateways.
    table = prices.load("us-east-1")
    added = 730 * (table.usd("vpc/nat-gateway") + table.usd("vpc/public-ipv4"))
    assert added == pytest.approx(36.50)
    assert report["delta_usd"] == pytest.approx(added, abs=0.01)
    # Staging's 150 is already exceeded by its instances: the warning says so.
    assert report["warning"].startswith("already over budget")

    text = deployed.infra("plan")
    assert text.exit_code == 0, text.stderr
    assert (f"cost: staging: ${now:,.2f} a month now -> ${then:,.2f} after this plan "
            f"(+$36.50)") in text.stdout  # fmt: skip
    assert "warning: already over budget" in text.stdout
    assert "ExecuteChangeSet" not in deployed.mutating_calls()
    assert deployed.stack_status() == "CREATE_COMPLETE"


def test_a_change_that_crosses_the_budget_warns(deployed):
    now = _cost(deployed)
    deployed.edit_settings(lambda d: d.update(budget_usd=round(now + 10, 2)))
    _edit_params(deployed, NatGateways=2)
    report = _report(deployed)
    assert report["budget"] == {"budget_usd": round(now + 10, 2),
                                "headroom_usd": round(now + 10 - report["after_usd"], 2),
                                "over": True}  # fmt: skip
    assert report["warning"].startswith("this change would cross the budget")
    text = deployed.infra("apply").stdout  # apply shows the same plan before --yes
    assert "warning: this change would cross the budget" in text


def test_a_new_stack_is_priced_whole(staging):
    report = _report(staging)
    assert report["before_usd"] is None and report["delta_usd"] is None
    assert report["after_usd"] == _cost(staging)
    text = staging.infra("plan").stdout
    assert f"cost: staging: a new stack: ${report['after_usd']:,.2f} a month with it" in text
