"""What `golden cost` reads: the usage file (schema-checked, errors name the key), the
foundation stack's parameters (a tolerant reader), the shipped price tables, and the
agent config's emissions."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import replace
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
TEMPLATE = REPO / "autoscaling" / "stacks" / "foundation.yaml"


def _template(tmp_path: Path, old: str, new: str) -> foundation.StackTemplate:
    """The shipped template with OLD replaced by NEW (which must be there once)."""
    text = TEMPLATE.read_text()
    assert text.count(old) == 1, old
    path = tmp_path / "foundation.yaml"
    path.write_text(text.replace(old, new))
    return foundation.shipped_template(path)


def test_no_parameter_file_means_the_templates_defaults_and_says_so(tmp_path):
    found, notes = foundation.read_foundation(tmp_path / "staging.yaml")
    assert found == foundation.defaults()
    # The template's Defaults: NatGateways 1, InterfaceEndpoints "false", CacheNodes 1,
    # ChromaDataVolumeSize 50; zones: the load balancer's two subnets.
    assert (found.nat_gateways, found.interface_endpoints, found.cache_nodes) == (1, (), 1)
    assert (found.chroma_volume_gb, found.availability_zones) == (50, 2)
    assert found.s3_gateway_endpoint  # the template always has the S3 gateway endpoint
    assert notes == [f"no foundation parameter file at {tmp_path / 'staging.yaml'}: the "
                     f"template's defaults"]  # fmt: skip


def test_an_environment_is_priced_from_the_parameter_file_golden_infra_deploys():
    assert foundation.parameter_file("prod") == REPO / "autoscaling/stacks/params/prod.yaml"
    found, notes = foundation.read_foundation(foundation.parameter_file("prod"))
    assert (found.nat_gateways, found.db_multi_az, found.cache_nodes) == (2, True, 2)
    for env in ("staging", "prod"):
        _, notes = foundation.read_foundation(foundation.parameter_file(env))
        assert notes and all(": not priced (" in note for note in notes), notes


def test_every_template_parameter_is_priced_or_says_why_not():
    declared = set(foundation.shipped_template().parameters)
    assert set(foundation.PRICED) <= declared
    assert set(foundation.NOT_PRICED) == declared - set(foundation.PRICED)


def test_a_key_is_unknown_only_when_the_template_does_not_have_it(tmp_path):
    path = tmp_path / "staging.json"
    path.write_text(json.dumps([
        {"ParameterKey": "CacheNodes", "ParameterValue": "2"},
        {"ParameterKey": "ChromaDataVolumeSize", "ParameterValue": "80"},
        {"ParameterKey": "SslPolicy", "ParameterValue": "ELBSecurityPolicy-TLS13-1-2-2021-06"},
        {"ParameterKey": "CacheNumNodes", "ParameterValue": "3"},
    ]))  # fmt: skip
    found, notes = foundation.read_foundation(path)
    assert (found.cache_nodes, found.chroma_volume_gb) == (2, 80)
    assert notes == [
        f"{path}: SslPolicy: not priced (a listener setting, no charge)",
        f"{path}: CacheNumNodes: unknown to golden cost (not a parameter of foundation.yaml), "
        f"ignored",
    ]


def test_interface_endpoints_are_the_ones_the_template_creates(tmp_path):
    on = tmp_path / "on.yaml"
    on.write_text("InterfaceEndpoints: true\nNatGateways: 0\n")
    found, _ = foundation.read_foundation(on)
    assert found.interface_endpoints == ("ssm", "ssmmessages", "ec2messages", "ecr.api",
                                         "ecr.dkr", "logs", "monitoring", "ec2")  # fmt: skip
    assert found.nat_gateways == 0
    assert foundation.defaults().endpoint_offer == found.interface_endpoints
    # An endpoint the template stops creating is no longer priced.
    fewer = _template(tmp_path, "  Ec2Endpoint:\n    Type: AWS::EC2::VPCEndpoint\n    "
                                "Condition: WithInterfaceEndpoints\n",
                      "  Ec2Endpoint:\n    Type: AWS::EC2::VPCEndpoint\n    "
                      "Condition: TwoNats\n")  # fmt: skip
    assert foundation.read_foundation(on, fewer)[0].interface_endpoints[-1] == "monitoring"


def test_a_template_default_alone_changes_the_estimate(tmp_path):
    """Staging without a parameter file, with the template's ChromaDataVolumeSize default
    raised from 50 to 80 GiB: + 30 GB x 0.08 = 2.40 a month."""
    env = costdata.environment("staging")
    shipped = estimate.estimate(costdata.inputs(env)).total
    bigger = _template(tmp_path, "    MaxValue: 16384\n    Default: 50\n",
                       "    MaxValue: 16384\n    Default: 80\n")  # fmt: skip
    found, _ = foundation.read_foundation(tmp_path / "absent.yaml", bigger)
    assert found.chroma_volume_gb == 80
    changed = estimate.estimate(costdata.inputs(env, foundation=found)).total
    assert changed - shipped == pytest.approx(2.40)


def test_a_priced_parameter_the_template_lacks_names_the_template(tmp_path):
    broken = _template(tmp_path, "  CacheNodes:\n", "  CacheNodeCount:\n")
    with pytest.raises(ConfigError) as err:
        foundation.defaults(broken)
    assert str(err.value) == (f"{broken.path}: Parameters.CacheNodes: golden cost prices it "
                              f"and needs its declaration with a Default")  # fmt: skip


@pytest.mark.parametrize(
    "params,message",
    [
        ({"NatGateways": "two"}, "NatGateways: expected a whole number, got 'two'"),
        ({"NatGateways": 3}, "NatGateways: expected one of 0, 1, 2, got 3"),
        ({"DbMultiAz": "maybe"}, "DbMultiAz: expected true or false, got 'maybe'"),
        ({"InterfaceEndpoints": "ssm,logs"},
         "InterfaceEndpoints: expected true or false, got 'ssm,logs'"),
        ({"DbAllocatedStorage": "10"}, "DbAllocatedStorage: expected at least 20, got '10'"),
        ({"CacheNodes": 7}, "CacheNodes: expected at most 6, got 7"),
        ({"DbInstanceClass": "t3.medium"},
         "DbInstanceClass: expected a value matching ^db\\.[a-z0-9]+\\.[a-z0-9]+$, got "
         "'t3.medium'"),
    ],
)  # fmt: skip
def test_a_bad_parameter_value_names_the_file_and_the_key(tmp_path, params, message):
    path = tmp_path / "staging.yaml"
    path.write_text(yaml.safe_dump(params))
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
        env, foundation=replace(foundation.defaults(), nat_gateways=2))).total  # fmt: skip
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
