"""What `golden cost` reads: the usage file (schema-checked, errors name the key), the
foundation stack's parameters (a tolerant reader), the shipped price tables, and the
agent config's emissions."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import jsonschema
import pytest
import yaml
from golden.core.errors import ConfigError
from golden.cost import estimate, foundation, monitoring, prices, usage
from golden.cost.model import environment_from_settings

from autoscaling import settings

from . import costdata

REPO = Path(__file__).resolve().parents[2]


# -- usage --------------------------------------------------------------------------------------
def _usage_file(tmp_path: Path, data) -> Path:
    path = tmp_path / "usage.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize(
    "data,message",
    [
        ({"requests_per_second": "lots"}, "requests_per_second: expected a number, got str 'lots'"),
        ({"request_per_second": 3},
         "request_per_second: unknown key (expected one of: concurrent_users, db_daily_change_gb, "
         "db_used_gb, free_tier, instance_launch_seconds, log_gb_per_instance_per_day, "
         "log_kb_per_request, new_connections_per_second, other_nat_gb_per_instance_per_month, "
         "releases_per_month, request_kb, requests_per_second, response_kb, s3_gets_per_object, "
         "schema, security_log_gb_per_instance_per_day, stored_gb, upload_object_mb, "
         "uploads_gb_per_month)"),
        ({"releases_per_month": -1}, "releases_per_month: expected a value of at least 0, got -1"),
        ({"upload_object_mb": 0}, "upload_object_mb: expected a value more than 0, got 0"),
        ({"log_gb_per_instance_per_day": {"app": "x"}},
         "log_gb_per_instance_per_day.app: expected a number, got str 'x'"),
        ({"log_gb_per_instance_per_day": {"web": 1}},
         "log_gb_per_instance_per_day.web: unknown key (expected one of: app, chroma)"),
        ({"instance_launch_seconds": 1.5},
         "instance_launch_seconds: expected an integer, got float 1.5"),
        ({"free_tier": "yes"}, "free_tier: expected true or false, got str 'yes'"),
        (["requests_per_second", 3], "(top level): expected a mapping, got list"),
    ],
)  # fmt: skip
def test_a_bad_usage_file_names_the_file_and_the_key(tmp_path, data, message):
    path = _usage_file(tmp_path, data)
    with pytest.raises(ConfigError) as err:
        usage.load(path)
    assert str(err.value) == f"{path}: {message}"


def test_a_usage_file_overrides_only_the_keys_it_names(tmp_path):
    data = {"requests_per_second": 50, "log_gb_per_instance_per_day": {"app": 2}}
    use = usage.load(_usage_file(tmp_path, data))
    assert use.requests_per_second == 50
    assert use.role_log_gb_per_day("app") == 2
    assert use.role_log_gb_per_day("chroma") == 0.1  # the default beside the key given
    assert use.concurrent_users == 200


def test_the_usage_defaults_are_the_schemas_documented_ones():
    schema = json.loads((REPO / "schemas" / "usage.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    described = usage.describe(usage.defaults())
    for key, spec in schema["properties"].items():
        if key == "schema":
            continue
        assert spec.get("description"), f"{key}: every usage key documents itself"
        expected = spec["default"]
        if spec.get("type") == "object":
            expected = {k: v["default"] for k, v in spec["properties"].items()}
        assert described[key] == expected, key


def test_a_missing_usage_file_is_an_error_not_the_defaults(tmp_path):
    with pytest.raises(ConfigError, match="no such usage file"):
        usage.load(tmp_path / "absent.yaml")


# -- foundation ---------------------------------------------------------------------------------
def test_no_parameter_file_means_the_plans_defaults_and_says_so(tmp_path):
    found, notes = foundation.read_foundation(tmp_path / "staging.json")
    assert found == foundation.Foundation()
    assert found.db_instance_class == "db.t3.medium" and found.cache_node_type == "cache.t3.micro"
    assert found.availability_zones == 2 and found.nat_gateways == 1
    assert notes == [f"no foundation parameter file at {tmp_path / 'staging.json'}: the plan's "
                     f"defaults"]  # fmt: skip


def test_a_cloudformation_parameter_file_sets_the_priced_parameters(tmp_path):
    path = tmp_path / "prod.json"
    path.write_text(json.dumps([
        {"ParameterKey": "AvailabilityZones", "ParameterValue": "us-east-1a,us-east-1b,us-east-1c"},
        {"ParameterKey": "NatGateways", "ParameterValue": "2"},
        {"ParameterKey": "InterfaceEndpoints", "ParameterValue": "ssm,logs"},
        {"ParameterKey": "DbInstanceClass", "ParameterValue": "db.t4g.medium"},
        {"ParameterKey": "DbMultiAz", "ParameterValue": "true"},
        {"ParameterKey": "UploadsGlacierAfterDays", "ParameterValue": "30"},
        {"ParameterKey": "LogRetentionDays", "ParameterValue": "14"},
        {"ParameterKey": "CertificateArn", "ParameterValue": "arn:aws:acm:..."},
    ]))  # fmt: skip
    found, notes = foundation.read_foundation(path)
    assert (found.availability_zones, found.nat_gateways) == (3, 2)
    assert found.interface_endpoints == ("ssm", "logs")
    assert (found.db_instance_class, found.db_multi_az) == ("db.t4g.medium", True)
    assert found.uploads_glacier_after_days == 30
    assert found.cache_node_type == "cache.t3.micro"  # not in the file: the default
    assert notes == [
        f"{path}: LogRetentionDays: not priced (log groups take the retention the agent config "
        f"gives them)",
        f"{path}: CertificateArn: unknown to golden cost, ignored",
    ]


def test_a_plain_mapping_and_a_template_configuration_are_read_too(tmp_path):
    plain = tmp_path / "a.yaml"
    plain.write_text("NatGateways: 0\nInterfaceEndpoints: true\nAvailabilityZones: 2\n")
    found, _ = foundation.read_foundation(plain)
    assert found.nat_gateways == 0
    assert found.interface_endpoints == foundation.ENDPOINTS_FOR_AWS_TRAFFIC
    config = tmp_path / "b.json"
    config.write_text(json.dumps({"Parameters": {"CacheNumNodes": "2"}, "Tags": {"x": "y"}}))
    assert foundation.read_foundation(config)[0].cache_nodes == 2


@pytest.mark.parametrize(
    "params,message",
    [
        ({"NatGateways": "two"}, "NatGateways: expected a whole number of 0 or more, got 'two'"),
        ({"NatGateways": "-1"}, "NatGateways: expected a whole number of 0 or more, got '-1'"),
        ({"DbMultiAz": "maybe"}, "DbMultiAz: expected true or false, got 'maybe'"),
        ({"AvailabilityZones": "two"},
         "AvailabilityZones: expected a count or a list of zones, got 'two'"),
        ({"DbAllocatedStorage": "10"},
         "DbAllocatedStorage: expected a whole number of 20 or more, got '10'"),
    ],
)  # fmt: skip
def test_a_bad_parameter_value_names_the_file_and_the_key(tmp_path, params, message):
    path = tmp_path / "staging.json"
    path.write_text(json.dumps(params))
    with pytest.raises(ConfigError) as err:
        foundation.read_foundation(path)
    assert str(err.value) == f"{path}: {message}"


def test_a_file_that_is_no_parameter_file_says_so(tmp_path):
    path = tmp_path / "staging.json"
    path.write_text(json.dumps(["NatGateways"]))
    with pytest.raises(ConfigError, match="not a stack parameter file"):
        foundation.read_foundation(path)


def test_the_foundation_changes_the_estimate():
    """Two NAT gateways in option B: + 730 x 0.045 = 32.85 hours and + 730 x 0.005 = 3.65
    for the second Elastic IP."""
    env = costdata.environment("autoscaling/pricing/plan-option-b.yaml")
    one = estimate.estimate(costdata.inputs(env)).total
    two = estimate.estimate(costdata.inputs(
        env, foundation=foundation.Foundation(nat_gateways=2))).total  # fmt: skip
    assert two - one == pytest.approx(32.85 + 3.65)


# -- the shipped price tables -------------------------------------------------------------------
def _settings_files() -> list[Path]:
    plans = sorted(prices.PRICING_DIR.glob("plan-*.yaml"))
    return sorted(settings.ENV_DIR.glob("*.yaml")) + plans


def test_every_region_the_settings_name_has_a_table_that_prices_them():
    for path in _settings_files():
        env = environment_from_settings(settings.load(str(path)).raw)
        table = prices.load(env.region)
        for pricing in ("on-demand", "savings-1y", "spot"):
            est = estimate.estimate(costdata.inputs(env, pricing=pricing, prices=table))
            assert est.total > 0, path


def test_every_shipped_price_names_its_source_page_and_date():
    for path in prices.PRICING_DIR.glob("prices-*.yaml"):
        raw = yaml.safe_load(path.read_text())
        assert path.read_text().startswith("# yaml-language-server: $schema=../../schemas/"
                                           "prices.schema.json")  # fmt: skip
        for section in ("prices", "free_tier", "discounts"):
            for name, entry in raw[section].items():
                assert entry["source"].startswith("https://aws.amazon.com/"), name
                dt.date.fromisoformat(entry["taken"])
                assert entry.get("note"), f"{name}: say where the figure was confirmed"


def test_a_broken_price_table_names_the_key(tmp_path):
    raw = yaml.safe_load(prices.table_path("us-east-1").read_text())
    del raw["prices"]["elb/alb"]["source"]
    path = tmp_path / "prices-us-east-1.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError) as err:
        prices.load("us-east-1", tmp_path)
    assert str(err.value) == f"{path}: prices.elb/alb.source: missing (expected a string)"


def test_a_region_without_a_table_says_which_file_to_write(tmp_path):
    with pytest.raises(ConfigError, match=r"prices-eu-west-1.yaml: no price table for region "
                                          r"eu-west-1"):  # fmt: skip
        prices.load("eu-west-1", tmp_path)


def test_the_estimate_states_the_tables_date_and_age():
    table = costdata.table(date="2025-06-01")
    assert prices.freshness(table, dt.date(2025, 6, 11)) == (
        "prices of 2025-06-01 (10 days old, test-prices.yaml)"
    )
    assert prices.freshness(table, dt.date(2026, 7, 1)).endswith(
        "older than a year, refresh with golden cost --refresh-prices"
    )


def test_a_table_with_an_older_entry_says_so():
    table = costdata.table()
    table.raw["prices"]["elb/alb"]["taken"] = "2024-01-02"
    assert prices.freshness(table, dt.date(2026, 11, 30)) == (
        "prices of 2026-11-30 (0 days old; oldest entry 2024-01-02, test-prices.yaml): older "
        "than a year, refresh with golden cost --refresh-prices"
    )


# -- the agent config ---------------------------------------------------------------------------
def test_emissions_count_measurements_per_instance_and_per_aggregation():
    docs = [{
        "metrics": {
            "append_dimensions": {"AutoScalingGroupName": "x", "InstanceId": "y"},
            "aggregation_dimensions": [["AutoScalingGroupName"]],
            "metrics_collected": {
                "mem": {"measurement": ["mem_used_percent"]},
                "disk": {"measurement": ["used_percent"], "resources": ["/", "/data"]},
            },
        },
        "logs": {"logs_collected": {"files": {"collect_list": [
            {"log_group_name": "/a", "retention_in_days": 30},
            {"log_group_name": "/a", "retention_in_days": 30},
            {"log_group_name": "/b", "retention_in_days": 365},
        ]}}},
    }, {"logs": {"logs_collected": {"files": {"collect_list": [
        {"log_group_name": "/c"},
    ]}}}}]  # fmt: skip
    got = monitoring.emissions(docs)
    # mem 1 + disk 1 x 2 mount points = 3 per instance; 3 again per [ASG].
    assert (got.metrics_per_instance, got.metrics_per_group) == (3, 3)
    assert got.log_groups == {"/a": 30, "/b": 365, "/c": None}
    assert got.retention(longest=True) is None  # /c never expires


def test_without_an_instance_dimension_metrics_are_per_group():
    docs = [{"metrics": {"metrics_collected": {"swap": {"measurement": ["swap_used_percent"]}}}}]
    got = monitoring.emissions(docs)
    assert (got.metrics_per_instance, got.metrics_per_group) == (0, 1)


def test_the_shipped_usage_example_spells_out_the_defaults():
    example = prices.PRICING_DIR / "usage-plan.yaml"
    assert usage.load(example) == usage.defaults()
    assert set(yaml.safe_load(example.read_text())) == set(
        json.loads((REPO / "schemas" / "usage.schema.json").read_text())["properties"]
    ), "every key, so the example shows them all"
