"""`golden cost` end to end: the command with the shipped settings, price table and the
agent config the state tree renders (Salt). The figures themselves are computed by hand
in tests/unit/test_cost_estimates.py."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from golden.cli import main

REPO = Path(__file__).resolve().parents[2]


def golden(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def staging_and_prod() -> dict:
    result = golden("cost", "staging", "prod", "--json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def test_staging_and_prod_add_up_against_the_plans_500(staging_and_prod):
    envs = {e["environment"]: e for e in staging_and_prod["environments"]}
    assert envs["staging"]["budget"]["budget_usd"] + envs["prod"]["budget"]["budget_usd"] == 500
    assert staging_and_prod["budget"]["budget_usd"] == 500
    total = envs["staging"]["total_usd"] + envs["prod"]["total_usd"]
    assert staging_and_prod["total_usd"] == pytest.approx(total, abs=0.01)
    assert staging_and_prod["budget"]["over"] is (total > 500)


def test_every_line_shows_its_arithmetic_and_the_table_date(staging_and_prod):
    staging = staging_and_prod["environments"][0]
    assert staging["prices"]["date"] == "2026-11-30"
    assert staging["prices"]["summary"].startswith("prices of 2026-11-30")
    assert staging["total_usd"] == pytest.approx(sum(line["usd"] for line in staging["lines"]),
                                                 abs=0.02)  # fmt: skip
    assert all(line["how"] for line in staging["lines"])
    services = {line["service"] for line in staging["lines"]}
    assert services == {"EC2", "EBS", "ELB", "VPC", "RDS", "ElastiCache", "S3", "CloudWatch",
                        "Data transfer"}  # fmt: skip
    assert {w["name"] for w in staging["what_if"]} == {
        "1-year commitments", "Spot for the app role",
        "interface endpoints instead of NAT for AWS traffic", "log retention 7 days"}  # fmt: skip


def test_the_text_output_states_the_date_total_budget_and_what_ifs():
    result = golden("cost", "staging")
    assert result.exit_code == 0, result.stderr
    assert "staging (us-east-1), on-demand prices of 2026-11-30" in result.stdout
    assert "budget $150.00: OVER by $" in result.stdout
    assert "what if: 1-year commitments: saves $" in result.stdout
    params = REPO / "autoscaling" / "stacks" / "params" / "staging.yaml"
    assert f"foundation {params};" in result.stdout  # the file `golden infra` deploys
    assert "LogRetentionDays, SecurityLogRetentionDays: not priced (" in result.stdout
    assert "unknown to golden cost" not in result.stdout


def test_a_bad_usage_file_fails_naming_the_key_before_any_output(tmp_path):
    usage = tmp_path / "usage.yaml"
    usage.write_text("requests_per_second: lots\n")
    result = golden("cost", "staging", "--usage", usage)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert f"error: {usage}: requests_per_second: expected a number, got str 'lots'" in (
        result.stderr
    )


def test_a_foundation_file_is_read_and_its_unknown_keys_noted(tmp_path):
    params = tmp_path / "staging.json"
    params.write_text(json.dumps([
        {"ParameterKey": "NatGateways", "ParameterValue": "0"},
        {"ParameterKey": "Colour", "ParameterValue": "blue"},
    ]))
    result = golden("cost", "staging", "--foundation", params, "--json")
    assert result.exit_code == 0, result.stderr
    env = json.loads(result.stdout)["environments"][0]
    assert not [line for line in env["lines"] if line["item"].startswith("NAT")]
    assert env["sources"]["foundation"] == str(params)
    assert env["sources"]["notes"] == [
        f"{params}: Colour: unknown to golden cost (not a parameter of foundation.yaml), ignored"
    ]


@pytest.mark.parametrize(
    "args,message",
    [
        ((), "error: ENV: give at least one environment (or --refresh-prices)"),
        (("staging", "prod", "--foundation", "x.json"),
         "error: --foundation: names one environment's stack parameters; give one ENV"),
        (("nowhere",), "no such settings file"),
    ],
)  # fmt: skip
def test_bad_arguments_exit_2_with_the_reason(args, message):
    result = golden("cost", *args)
    assert result.exit_code == 2
    assert message in result.stderr


def _stated(pattern: str) -> float:
    text = (REPO / "docs" / "cost.md").read_text()
    match = re.search(pattern, text)
    assert match, f"docs/cost.md no longer says {pattern!r}"
    return float(match.group(1).replace(",", ""))


def test_the_manual_states_golden_s_figures_for_option_b_and_its_environments(
    staging_and_prod,
):
    result = golden("cost", "autoscaling/pricing/plan-option-b.yaml", "--json")
    option_b = json.loads(result.stdout)["total_usd"]
    assert _stated(r"golden's figure for option B: \*\*\$([\d,.]+)\*\*") == option_b
    assert _stated(r"\| \*\*total\*\* \| \*\*225\.00\*\* \| \*\*([\d,.]+)\*\*") == option_b
    envs = {e["environment"]: e["total_usd"] for e in staging_and_prod["environments"]}
    assert _stated(r"\*\*staging \$([\d,.]+)\*\*") == envs["staging"]
    assert _stated(r"\*\*prod \$([\d,.]+)\*\*") == envs["prod"]
    assert _stated(r"\*\*\$([\d,.]+) a month together") == staging_and_prod["total_usd"]
