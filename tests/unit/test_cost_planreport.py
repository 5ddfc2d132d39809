"""The monthly delta under `golden env plan`: the roles as AWS runs them against the roles
after `golden env apply`, everything else equal (pure; the emulator test is
tests/release/test_env_cost.py)."""

from __future__ import annotations

from dataclasses import replace

import pytest
from golden.cost import planreport, usage
from golden.cost.model import AgentEmissions, Volume

from . import costdata

GROUP = {"DesiredCapacity": 3, "MinSize": 2, "MaxSize": 6}
VERSION = {"LaunchTemplateData": {"InstanceType": "t3.small", "BlockDeviceMappings": [
    {"DeviceName": "/dev/sda1", "Ebs": {"VolumeSize": 40, "Iops": 4000, "Throughput": 125,
                                        "VolumeType": "gp3", "Encrypted": True}}]}}  # fmt: skip


def test_a_role_in_aws_is_read_from_its_group_and_launch_template_version():
    want = costdata.environment("staging").role("app")
    now = planreport.role_in_aws(want, GROUP, VERSION)
    assert (now.instance_type, now.desired, now.minimum, now.maximum) == ("t3.small", 3, 2, 6)
    assert now.root == Volume(40, 4000, 125)
    assert planreport.role_in_aws(want, None, None) is None


def test_apply_keeps_the_groups_desired_capacity_clamped_into_the_new_range():
    want = costdata.environment("staging").role("app")  # 2..6
    assert planreport.role_after_apply(want, {"DesiredCapacity": 9}).desired == 6
    assert planreport.role_after_apply(want, {"DesiredCapacity": 1}).desired == 2
    assert planreport.role_after_apply(want, {"DesiredCapacity": 4}).desired == 4
    assert planreport.role_after_apply(want, None).desired == want.desired


def test_the_delta_is_the_price_of_what_the_plan_changes_and_warns_at_the_budget():
    """Option B's app as AWS runs it: 2 x t3.small, 30 GB. The settings: 2 x t3.large.
    With no logs, metrics or NAT traffic (so only instances and their volumes move):
      now     2 x 730 x 0.0208 = 30.368 + surge 1.066667 h x (0.0208 + 0.0032877) =
              0.025693
      after   2 x 730 x 0.0832 = 121.472 + surge 1.066667 h x (0.0832 + 0.0032877) =
              0.092254
      delta   121.564254 - 30.393693                                          = 91.170561
    The rest of option B stays at the same figure on both sides; with a budget between the
    two totals the change crosses it."""
    env = costdata.environment("autoscaling/pricing/plan-option-b.yaml")
    quiet = replace(usage.defaults(), log_gb_per_instance_per_day={"app": 0, "chroma": 0},
                    log_kb_per_request=0,
                    security_log_gb_per_instance_per_day=0,
                    other_nat_gb_per_instance_per_month=0)  # fmt: skip
    agents = {"app": AgentEmissions(0, 0, {"/p/x": 30})}
    group = {"DesiredCapacity": 2, "MinSize": 2, "MaxSize": 2}
    version = {"LaunchTemplateData": {"InstanceType": "t3.small"}}
    before, after = planreport.before_and_after(env, {"app": (group, version)})
    inputs = costdata.inputs(env, usage=quiet, agents=agents)
    lines, data = planreport.delta_report(inputs, before, after)
    assert data["delta_usd"] == pytest.approx(91.17, abs=0.005)
    assert data["after_usd"] - data["before_usd"] == pytest.approx(91.17, abs=0.01)
    crossing = replace(env, budget_usd=data["before_usd"] + 1)
    lines, data = planreport.delta_report(replace(inputs, env=crossing), before, after)
    assert data["warning"].startswith("this change would cross the budget")
    assert lines[0].startswith(f"cost: plan-option-b: ${data['before_usd']:,.2f} a month now -> "
                               f"${data['after_usd']:,.2f} after this plan (+$91.17)")  # fmt: skip
    assert lines[1] == f"warning: {data['warning']}"


def test_a_role_without_a_group_costs_nothing_before_the_plan():
    env = costdata.environment("staging")
    before, after = planreport.before_and_after(env, {"chroma": (None, None)})
    assert before.role("chroma") is None and after.role("chroma") == env.role("chroma")
    assert before.role("app") == env.role("app"), "a role the plan did not read is as set"
