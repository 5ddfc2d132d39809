"""`golden env plan` prints the monthly cost delta of its change and warns at the budget:
read against the emulator (what AWS runs now) and checked against `golden cost` of the
settings before and after (tests/unit/test_cost_*.py compute those figures by hand)."""

from __future__ import annotations

import json

import yaml


def _cost(world, settings) -> float:
    result = world.golden("cost", settings, "--json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)["total_usd"]


def test_plan_prices_the_change_against_what_aws_runs_and_warns_at_the_budget(world, tmp_path):
    # AWS runs the app role as `local.yaml` says: 2 x t3.micro (2..4); chroma not applied.
    unchanged = tmp_path / "unchanged.yaml"
    unchanged.write_text(world.settings.read_text())
    now = _cost(world, unchanged)

    data = yaml.safe_load(world.settings.read_text())
    data["roles"]["app"]["instance_type"] = "t3.small"
    data["roles"]["app"]["capacity"] = {"min": 3, "max": 5, "desired": 3}
    data["budget_usd"] = now + 1
    world.settings.write_text(yaml.safe_dump(data, sort_keys=False))
    # After apply: t3.small, min 3 max 5, and the group's desired 2 clamped up to 3.
    then = _cost(world, world.settings)

    plan = world.golden("env", "plan", world.settings, "--role", "app", "--json")
    assert plan.exit_code == 0, plan.stderr
    report = json.loads(plan.stdout)["reports"]["cost"]
    assert report["before_usd"] == round(now, 2)
    assert report["after_usd"] == round(then, 2)
    assert report["delta_usd"] == round(then - now, 2) and then > now
    assert report["warning"].startswith("this change would cross the budget")
    assert world.mutating_calls() == [], "a plan changes nothing"

    text = world.golden("env", "plan", world.settings, "--role", "app").stdout
    assert f"cost: local: ${now:,.2f} a month now -> ${then:,.2f} after this plan" in text
    assert "warning: this change would cross the budget" in text


def test_a_plan_that_changes_nothing_has_no_cost_delta(world):
    result = world.golden("env", "plan", world.settings, "--role", "app", "--json")
    report = json.loads(result.stdout)["reports"]["cost"]
    assert report["delta_usd"] == 0 and report["warning"] is None
    assert report["budget"] is None, "local.yaml has no budget_usd"
