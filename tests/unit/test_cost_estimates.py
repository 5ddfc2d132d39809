"""`golden cost` figures computed by hand for three configurations: the deployment plan's
option A and option B (autoscaling/pricing/plan-option-*.yaml) and golden's staging
settings, each with the foundation template's defaults (autoscaling/stacks/foundation.yaml:
one NAT gateway, no interface endpoints, db.t3.medium with 20 GiB and 7 days of backups,
one cache.t3.micro, uploads to Glacier after 90 days, a 50 GiB Chroma volume, two zones)
and the usage defaults, priced with the literal table of tests/unit/costdata.py. A month
is 730 hours = 30.416667 days.

Lines every configuration shares (usage and template defaults):
  ALB hours       730 x 0.0225                                                 16.425
  ALB LCUs        processed 20 req/s x 3600 s x (1 + 4) KB = 0.36 GB/h leads (new
                  connections 2/25 = 0.08, active 200/3000 = 0.067): 0.36 x 730 x 0.008
                                                                               2.1024
  public IPv4     (2 ALB + 1 NAT) x 730 x 0.005                                10.95
  NAT hours       730 x 0.045                                                  32.85
  RDS             730 x 0.072 = 52.56; 20 GB x 0.115 = 2.30; backups 10 + 0.5 x 7 =
                  13.5 GB within the free 20 GB = 0                            54.86
  ElastiCache     730 x 0.017                                                  12.41
  S3              Standard: 10 GB a month x 90 / 30.416667 days = 29.589041 GB x 0.023
                  = 0.680548; Glacier: 70.410959 GB x 0.0036 = 0.253479; 10 GB / 2 MB =
                  5,000 PUT x 0.005/1000 = 0.025, 50,000 GET x 0.0004/1000 = 0.02;
                  5,000 transitions x 0.03/1000 = 0.15                         1.129027
  data out        20 x 2,628,000 s x 4 KB = 210.24 GB x 0.09                   18.9216
  together                                                                     149.648027
Request logs (the app role): 20 req/s x 86,400 s x 1 KB = 1.728 GB a day, 52.56 GB a month,
51.84 GB stored (30 days). Per instance-month (m): host logs 0.05 app | 0.1 chroma and 0.02
security GB a day x 30.416667 days; stored host x 30 days + security x 365 days. Logs are
ingested at 0.5/GB, stored at 0.03/GB-month and cross the NAT gateway at 0.045/GB; other
NAT traffic 2 GB (x 0.045), 5 metrics (x 0.30), PutMetricData 60 x 730 = 43,800 (x 0.01/1000).
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from golden.core.errors import ConfigError
from golden.cost import estimate, foundation, instances, usage
from golden.cost.model import RoleSpec, Volume

from . import costdata

SHARED = 149.648027


def _estimate(path: str, **changes) -> estimate.Estimate:
    return estimate.estimate(costdata.inputs(costdata.environment(path), **changes))


def test_plan_option_b_two_t3_large_costs_316_22_a_month():
    """Option B: app 2 x t3.large (2..2), refresh 100-150% with a 50% checkpoint.
      EC2        2 x 730 x 0.0832                                              121.472
      surge      batches 1+1, one extra each: 4 releases x 2 x (180 + 300) s = 1.066667 h
                 x (0.0832 + 2.40/730 volume)                                  0.092254
      EBS        2 x 30 GB x 0.08                                              4.80
      m = 2 + 1.066667/730 = 2.0014612
      logs       m x 0.07 x 30.416667 = 4.261445 + 52.56 = 56.821445 GB
      NAT data   m x 2 = 4.002922 + 56.821445 = 60.824367 GB x 0.045           2.737097
      metrics    5 m + 10 (per group) = 20.007306 x 0.30                       6.002192
      API calls  m x 43,800 = 87,664 x 0.01/1000                               0.87664
      alarms     1 x 0.10                                                      0.10
      logs       56.821445 GB x 0.5 = 28.410722; stored m x (0.05 x 30 + 0.02 x 365) =
                 17.612859 + 51.84 = 69.452859 GB x 0.03 = 2.083586
      total      149.648027 + the lines above                                  316.222518
    """
    est = _estimate("autoscaling/pricing/plan-option-b.yaml")
    got = costdata.lines(est)
    assert got["EC2: app: 2 x t3.large"] == pytest.approx(121.472)
    assert got["EC2: app: release surge"] == pytest.approx(0.092254, abs=1e-6)
    assert got["EBS: app: 2 root volumes"] == pytest.approx(4.80)
    assert got["ELB: ALB capacity units"] == pytest.approx(2.1024)
    assert got["VPC: NAT gateway data"] == pytest.approx(2.737097, abs=1e-6)
    assert got["S3: uploads in S3 Standard"] == pytest.approx(0.680548, abs=1e-6)
    assert got["CloudWatch: custom metrics (agent)"] == pytest.approx(6.002192, abs=1e-6)
    assert got["CloudWatch: PutMetricData requests"] == pytest.approx(0.87664, abs=1e-6)
    assert got["CloudWatch: log ingestion"] == pytest.approx(28.410722, abs=1e-6)
    assert got["CloudWatch: log storage"] == pytest.approx(2.083586, abs=1e-6)
    assert got["Data transfer: out to the internet"] == pytest.approx(18.9216)
    assert est.total == pytest.approx(316.222518, abs=1e-5)
    assert (est.low, est.high) == (pytest.approx(est.total), pytest.approx(est.total))


def test_plan_option_a_one_t3_2xlarge_costs_431_93_a_month():
    """Option A: app 1 x t3.2xlarge (1..1), refresh 100-200%, no checkpoint.
      EC2        730 x 0.3328                                                  242.944
      surge      one batch of 1, one extra: 4 x 480 s = 0.533333 h x (0.3328 + 0.0032877)
                                                                               0.179247
      EBS        30 GB x 0.08                                                  2.40
      m = 1 + 0.533333/730 = 1.0007306
      logs       m x 0.07 x 30.416667 = 2.130722 + 52.56 = 54.690722 GB
      NAT data   m x 2 = 2.001461 + 54.690722 = 56.692183 GB x 0.045           2.551148
      metrics    (5 m + 10) = 15.003653 x 0.30                                 4.501096
      API calls  m x 43,800 = 43,832 x 0.01/1000                               0.43832
      alarms     0.10; logs 54.690722 GB x 0.5 = 27.345361; stored m x 8.8 = 8.806429 +
                 51.84 = 60.646429 GB x 0.03 = 1.819393
      total      149.648027 + the lines above                                  431.926592
    """
    est = _estimate("autoscaling/pricing/plan-option-a.yaml")
    got = costdata.lines(est)
    assert got["EC2: app: 1 x t3.2xlarge"] == pytest.approx(242.944)
    assert got["EC2: app: release surge"] == pytest.approx(0.179247, abs=1e-6)
    assert got["CloudWatch: log ingestion"] == pytest.approx(27.345361, abs=1e-6)
    assert est.total == pytest.approx(431.926592, abs=1e-5)


def test_golden_staging_costs_422_33_a_month_over_its_150_budget():
    """Staging: app 2 x t3.large (2..6, 100-150%, checkpoint 50, 2 alarms, a CPU policy),
    chroma 1 x r6i.large (1..1, 0-100%, 1 alarm, a data volume).
      EC2        app 121.472 (2..6: 121.472..364.416); chroma 730 x 0.126 = 91.98
      surge      app 0.092254 (as option B); chroma terminates then launches: none
      EBS        app 4.80 (2..6: 4.80..14.40); chroma root 2.40; data volume 50 GB (the
                 template's ChromaDataVolumeSize default) x 0.08 = 4.00
      m: app 2.0014612, chroma 1
      logs       app 4.261445 + 52.56 requests; chroma 1 x 0.12 x 30.416667 = 3.65
                 -> 60.471445 GB
      NAT data   other 3.0014612 x 2 = 6.002922 + 60.471445 = 66.474367 GB x 0.045
                                                                               2.991347
      metrics    5 x 2.0014612 + 10 + 5 x 1 + 10 = 35.007306 x 0.30            10.502192
      API calls  3.0014612 x 43,800 = 131,464 x 0.01/1000                      1.31464
      alarms     3 gating + 2 target tracking = 5 x 0.10                       0.50
      logs       60.471445 GB x 0.5 = 30.235722; stored app 17.612859 + 51.84, chroma 1 x
                 (0.1 x 30 + 0.02 x 365) = 10.3 -> 79.752859 GB x 0.03 = 2.392586
      total      149.648027 + 121.472 + 91.98 + 0.092254 + 4.80 + 2.40 + 4.00 + 2.991347
                 + 10.502192 + 1.31464 + 0.50 + 30.235722 + 2.392586            422.328768
      at max capacity: + 4 x 60.736 + 4 x 2.40 = + 252.544                     674.872768
      budget_usd 150: over by 272.328768
    """
    env = costdata.environment("staging")
    est = estimate.estimate(costdata.inputs(env))
    got = costdata.lines(est)
    assert got["EC2: chroma: 1 x r6i.large"] == pytest.approx(91.98)
    assert "EC2: chroma: release surge" not in got
    assert got["EBS: chroma: data volume"] == pytest.approx(4.00)
    assert got["CloudWatch: alarms (3 gating + 2 target tracking)"] == pytest.approx(0.50)
    assert got["CloudWatch: custom metrics (agent)"] == pytest.approx(10.502192, abs=1e-6)
    assert got["CloudWatch: log ingestion"] == pytest.approx(30.235722, abs=1e-6)
    assert got["CloudWatch: log storage"] == pytest.approx(2.392586, abs=1e-6)
    assert est.total == pytest.approx(422.328768, abs=1e-5)
    assert est.low == pytest.approx(422.328768, abs=1e-5)
    assert est.high == pytest.approx(674.872768, abs=1e-5)
    status = estimate.budget_status(est.total, env.budget_usd)
    assert status == {"budget_usd": 150.0, "headroom_usd": -272.33, "over": True}
    assert estimate.budget_text(est.total, env.budget_usd) == "budget $150.00: OVER by $272.33"


def test_what_ifs_price_the_plans_cheaper_options_for_option_b():
    """Against option B's 316.222518:
      1-year commitments   EC2 121.472 x 0.35 = 42.5152; surge 1.066667 h x 0.0832 x 0.35
                           = 0.031061; RDS 52.56 x 0.30 = 15.768; cache 12.41 x 0.35 =
                           4.3435                                       saves 62.657761
      Spot (app role)      121.472 x 0.60 = 72.8832 + 1.066667 x 0.0832 x 0.60 = 0.053248
                                                                        saves 72.936448
      interface endpoints  the 8 services InterfaceEndpoints: true creates in the template
                           (ssm, ssmmessages, ec2messages, ecr.api, ecr.dkr, logs,
                           monitoring, ec2) x 2 AZ x 730 h x 0.01 = 116.80 + logs 56.821445
                           GB x 0.01 = 0.568214, less the logs' NAT data 56.821445 x 0.045
                           = 2.556965                                   costs 114.811249 more
      log retention 7 d    (m x 0.05 + 1.728) GB a day x (30 - 7) d x 0.03 = 1.828073 x
                           0.69                                         saves 1.261370
    """
    inputs = costdata.inputs(costdata.environment("autoscaling/pricing/plan-option-b.yaml"))
    base = estimate.estimate(inputs)
    got = {w.name: w.saving for w in estimate.what_ifs(inputs, base)}
    assert got["1-year commitments"] == pytest.approx(62.657761, abs=1e-5)
    assert got["Spot for the app role"] == pytest.approx(72.936448, abs=1e-5)
    assert got["interface endpoints instead of NAT for AWS traffic"] == pytest.approx(
        -114.811249, abs=1e-5
    )
    assert got["log retention 7 days"] == pytest.approx(1.261370, abs=1e-6)


def test_spot_pricing_leaves_the_chroma_host_on_demand():
    """--pricing spot on staging: app 121.472 x (1 - 0.6) = 48.5888; chroma stays 91.98."""
    got = costdata.lines(estimate.estimate(costdata.inputs(costdata.environment("staging"),
                                                           pricing="spot")))  # fmt: skip
    assert got["EC2: app: 2 x t3.large"] == pytest.approx(48.5888)
    assert got["EC2: chroma: 1 x r6i.large"] == pytest.approx(91.98)


def test_free_tier_subtracts_the_accounts_allowances():
    """Option B with free_tier: metrics 20.007306 - 10 = 10.007306 x 0.30 = 3.002192;
    alarms 1 - 10 -> 0; PutMetricData 87,664 within 1,000,000 -> 0; logs 56.821445 - 5 =
    51.821445 GB x 0.5 = 25.910722; data out 210.24 - 100 = 110.24 GB x 0.09 = 9.9216."""
    use = replace(usage.defaults(), free_tier=True)
    got = costdata.lines(_estimate("autoscaling/pricing/plan-option-b.yaml", usage=use))
    assert got["CloudWatch: custom metrics (agent)"] == pytest.approx(3.002192, abs=1e-6)
    assert got["CloudWatch: alarms (1 gating + 0 target tracking)"] == 0
    assert got["CloudWatch: PutMetricData requests"] == 0
    assert got["CloudWatch: log ingestion"] == pytest.approx(25.910722, abs=1e-6)
    assert got["Data transfer: out to the internet"] == pytest.approx(9.9216)


def test_interface_endpoints_carry_the_logs_instead_of_the_nat_gateway():
    """Option B with a Logs endpoint in 2 AZs: 1 x 2 x 730 x 0.01 = 14.60 of endpoint hours,
    56.821445 GB x 0.01 = 0.568214 of endpoint data; NAT data only the other 4.002922 GB
    x 0.045 = 0.180131."""
    found = replace(foundation.defaults(), interface_endpoints=("logs",))
    got = costdata.lines(_estimate("autoscaling/pricing/plan-option-b.yaml", foundation=found))
    assert got["VPC: interface endpoints (logs)"] == pytest.approx(14.60)
    assert got["VPC: interface endpoint data"] == pytest.approx(0.568214, abs=1e-6)
    assert got["VPC: NAT gateway data"] == pytest.approx(0.180131, abs=1e-6)


def test_gp3_above_the_free_baseline_is_priced():
    """A 100 GB root volume with 6,000 IOPS and 250 MiB/s: 100 x 0.08 = 8 + 3,000 x 0.005
    = 15 + 125 x 0.04 = 5 -> 28 a volume."""
    usd, how = instances.volume_monthly(costdata.table(), Volume(100, 6000, 250))
    assert usd == pytest.approx(28.0)
    assert how == "100 GB x $0.08 + 3000 IOPS x $0.005 + 125 MiB/s x $0.04"


@pytest.mark.parametrize(
    "desired,min_h,max_h,checkpoints,steps,extras",
    [
        (2, 100, 150, (50,), (1, 1), (1, 1)),    # staging: launch one, then retire one
        (4, 100, 125, (25, 50), (1, 1, 1, 1), (1, 1, 1, 1)),  # prod
        (1, 0, 100, (), (1,), (0,)),             # chroma: terminate, then launch
        (4, 50, 150, (), (4,), (2,)),            # 2 may be down, 2 may be extra
        (10, 90, 100, (), (1,) * 10, (0,) * 10),  # AWS's default: no launch before terminate
    ],
)  # fmt: skip
def test_release_surge_counts_only_instances_launched_before_old_ones_go(
    desired, min_h, max_h, checkpoints, steps, extras
):
    role = RoleSpec("app", "t3.large", desired, desired, desired, Volume(30), warmup=300,
                    min_healthy=min_h, max_healthy=max_h, checkpoints=checkpoints)  # fmt: skip
    one = instances.surge(role, launch_seconds=180)
    assert (one.steps, one.extras) == (steps, extras)
    assert one.extra_seconds == sum(extras) * 480


def test_checkpoint_pauses_and_bake_time_lengthen_a_release_without_instances():
    """Staging's app: 2 batches x 480 s + one 300 s pause at 50% + 600 s bake = 1,860 s."""
    role = costdata.environment("staging").role("app")
    one = instances.surge(role, launch_seconds=180)
    assert one.duration_seconds == 2 * 480 + 300 + 600
    assert one.extra_seconds == 2 * 480


def test_a_missing_price_names_the_table_and_the_entry():
    table = costdata.table(drop=("ec2/r6i.large",))
    with pytest.raises(ConfigError, match=r"test-prices.yaml: prices.ec2/r6i.large: missing"):
        estimate.estimate(costdata.inputs(costdata.environment("staging"), prices=table))


def test_a_pricing_mode_without_its_discount_names_the_discount():
    table = costdata.table()
    del table.raw["discounts"]["spot/ec2/t3"]
    with pytest.raises(ConfigError, match=r"discounts.spot/ec2/t3: missing \(needed for "
                                          r"--pricing spot\)"):  # fmt: skip
        estimate.estimate(costdata.inputs(costdata.environment("staging"), pricing="spot",
                                          prices=table))  # fmt: skip


def test_a_what_if_without_its_discount_says_so_instead_of_failing():
    table = costdata.table()
    del table.raw["discounts"]["savings-1y/ec2/t3"]
    inputs = costdata.inputs(costdata.environment("staging"), prices=table)
    what = {w.name: w for w in estimate.what_ifs(inputs, estimate.estimate(inputs))}
    assert what["1-year commitments"].saving is None
    assert "discounts.savings-1y/ec2/t3: missing" in what["1-year commitments"].detail


def test_crossing_the_budget_is_a_warning_only_when_the_change_crosses_or_adds():
    assert estimate.crossing(140.0, 160.0, 150.0) == (
        "this change would cross the budget: $160.00 a month against $150.00 (over by $10.00)"
    )
    assert estimate.crossing(160.0, 170.0, 150.0) == (
        "already over budget ($160.00 against $150.00); this change adds $10.00"
    )
    assert estimate.crossing(170.0, 160.0, 150.0) is None
    assert estimate.crossing(100.0, 140.0, 150.0) is None
    assert estimate.crossing(100.0, 1000.0, None) is None
