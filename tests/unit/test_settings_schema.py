"""Environment settings against schemas/environment.schema.json: the shipped files validate
with jsonschema alone, load() fills the schema's defaults exactly as the settings always
had them, and a bad file fails naming the file, the dotted key and what was expected."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml
from golden.core.errors import ConfigError

from autoscaling import schema
from autoscaling.settings import ENV_DIR, SCHEMA, load

REPO = Path(__file__).resolve().parents[2]
SCHEMA_FILE = REPO / "schemas" / "environment.schema.json"
ENVIRONMENTS = sorted(p.stem for p in ENV_DIR.glob("*.yaml"))

# What a settings file leaves out and load() fills in: the defaults the settings have
# always had (autoscaling/schema.py's hand-written spec before the JSON Schema).
TOP_DEFAULTS = {
    "account_id": None,
    "budget_usd": None,
    "aws": {"endpoint_url": None},
    "artifacts_bucket": None,
    "foundation_stack": None,
    "tags": {},
    "instance": {"aws_endpoint_url": None},
    "roles": {"app": None, "chroma": None},
}
ROLE_DEFAULTS = {
    "target_groups": [],
    "load_balancer": None,
    "health_check": {"type": "ELB", "grace_period": 300},
    "instance_warmup": 300,
    "root_volume": {
        "device_name": "/dev/sda1",
        "size_gb": 30,
        "iops": 3000,
        "throughput": 125,
        "kms_key_id": None,
    },
    "data_volume": None,
    "refresh": {
        "min_healthy_percentage": 90,
        "max_healthy_percentage": 100,
        "checkpoint_percentages": [],
        "checkpoint_delay": 300,
        "bake_time": 0,
        "skip_matching": True,
        "scale_in_protected_instances": "Refresh",
        "standby_instances": "Terminate",
        "timeout_minutes": 120,
    },
    "alarms": [],
    "scaling_policy": None,
    "initial_ami": "latest",
    "overrides": {},
    "migration": None,
}
DATA_VOLUME_DEFAULTS = {"device_name": "/dev/xvdf"}
POLICY_DEFAULTS = {"resource_label": None, "disable_scale_in": False}


def _merged(defaults: dict, given: dict) -> dict:
    out = copy.deepcopy(defaults)
    for key, value in given.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merged(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _expected(data: dict) -> dict:
    out = _merged(TOP_DEFAULTS, data)
    for name, role in out["roles"].items():
        if role is None:
            continue
        role = out["roles"][name] = _merged(ROLE_DEFAULTS, role)
        if role["data_volume"] is not None:
            role["data_volume"] = _merged(DATA_VOLUME_DEFAULTS, role["data_volume"])
        if role["scaling_policy"] is not None:
            role["scaling_policy"] = _merged(POLICY_DEFAULTS, role["scaling_policy"])
    return out


def _raw(name: str) -> dict:
    return yaml.safe_load((ENV_DIR / f"{name}.yaml").read_text())


def test_the_environment_schema_is_a_valid_draft_2020_12_schema():
    jsonschema.Draft202012Validator.check_schema(json.loads(SCHEMA_FILE.read_text()))


@pytest.mark.parametrize("name", ENVIRONMENTS)
def test_each_shipped_settings_file_validates_with_jsonschema_alone(name):
    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA_FILE.read_text()))
    validator.validate(_raw(name))


@pytest.mark.parametrize("name", ENVIRONMENTS)
def test_each_shipped_settings_file_names_the_schema_for_editors(name):
    first = (ENV_DIR / f"{name}.yaml").read_text().splitlines()[0]
    assert first == "# yaml-language-server: $schema=../../schemas/environment.schema.json"
    assert (ENV_DIR / first.split("$schema=")[1]).resolve() == SCHEMA_FILE


@pytest.mark.parametrize("name", ENVIRONMENTS)
def test_loading_fills_the_defaults_the_settings_always_had(name):
    env = load(name)
    assert env.raw == _expected(_raw(name))
    # Every optional key is there, in the schema's order, so later code never guesses.
    role_keys = list(json.loads(SCHEMA_FILE.read_text())["$defs"]["role"]["properties"])
    for role in env.roles:
        assert list(env.raw["roles"][role]) == role_keys


def test_a_minimal_role_gets_every_default():
    data = _raw("staging")
    data["roles"]["app"] = {
        key: data["roles"]["app"][key]
        for key in json.loads(SCHEMA_FILE.read_text())["$defs"]["role"]["required"]
    }
    data["roles"]["app"]["target_groups"] = ["tg"]
    raw = schema.validate(data, schema.load_schema(SCHEMA), "minimal.yaml")
    assert raw["roles"]["app"] == _merged(ROLE_DEFAULTS, data["roles"]["app"])


def _write(tmp_path: Path, data) -> Path:
    path = tmp_path / "env.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda d: d["roles"]["app"]["capacity"].update(desired="two"),
         "roles.app.capacity.desired: expected an integer, got str 'two'"),
        (lambda d: d["roles"]["app"]["capacity"].update(desired=2.0),
         "roles.app.capacity.desired: expected an integer, got float 2.0"),
        (lambda d: d["roles"]["app"]["refresh"].update(colour="blue"),
         "roles.app.refresh.colour: unknown key (expected one of: bake_time, checkpoint_delay, "
         "checkpoint_percentages, max_healthy_percentage, min_healthy_percentage, "
         "scale_in_protected_instances, skip_matching, standby_instances, timeout_minutes)"),
        (lambda d: d["instance"].pop("ssm_path"),
         "instance.ssm_path: missing (expected a string)"),
        (lambda d: d["roles"]["app"].pop("capacity"),
         "roles.app.capacity: missing (expected a mapping)"),
        (lambda d: d["roles"]["app"]["subnets"].append(5),
         "roles.app.subnets[2]: expected a string, got int 5"),
        (lambda d: d["roles"]["app"]["health_check"].update(type="HTTP"),
         "roles.app.health_check.type: expected one of EC2, ELB, got 'HTTP'"),
        (lambda d: d.update(aws=None), "aws: expected a mapping, got null"),
        (lambda d: d.update(artifacts_bucket="Bad_Bucket"),
         "artifacts_bucket: expected an S3 bucket name (3-63 of a-z 0-9 . -), got 'Bad_Bucket'"),
        (lambda d: d.update(region="mars"),
         "region: expected an AWS region like 'us-east-1', got 'mars'"),
        (lambda d: d["roles"]["app"]["refresh"].update(checkpoint_percentages=[0, 50]),
         "roles.app.refresh.checkpoint_percentages[0]: expected a value from 1 to 100, got 0"),
        (lambda d: d["roles"]["app"].update(subnets=[]),
         "roles.app.subnets: expected at least 1 item"),
        # A bound on one side only says that side (not "from 0 to None").
        (lambda d: d["roles"]["app"]["capacity"].update(min=-1),
         "roles.app.capacity.min: expected a value of at least 0, got -1"),
        (lambda d: d.update(budget_usd=-5),
         "budget_usd: expected a value of at least 0, got -5"),
        (lambda d: d.update(budget_usd="500"),
         "budget_usd: expected a number, got str '500'"),
        (lambda d: d.update(roles={"app": None}), "roles: expected at least one of app, chroma"),
    ],
)  # fmt: skip
def test_a_bad_settings_file_names_file_key_and_what_was_expected(tmp_path, mutate, message):
    data = _raw("staging")
    mutate(data)
    path = _write(tmp_path, data)
    with pytest.raises(ConfigError) as err:
        load(str(path))
    assert str(err.value) == f"{path}: {message}"


def test_a_file_that_is_not_a_mapping_says_so(tmp_path):
    path = _write(tmp_path, ["schema", 1])
    with pytest.raises(ConfigError, match=r"env.yaml: \(top level\): expected a mapping, got list"):
        load(str(path))


def test_of_several_problems_the_first_by_key_is_reported(tmp_path):
    data = _raw("staging")
    data["roles"]["app"]["capacity"]["desired"] = "two"
    data["roles"]["app"]["colour"] = "blue"
    data["environment"] = 5
    found = schema.problems(data, schema.load_schema(SCHEMA))
    assert found == [
        "environment: expected a string, got int 5",
        "roles.app.capacity.desired: expected an integer, got str 'two'",
        "roles.app.colour: unknown key (expected one of: alarms, auto_scaling_group, capacity, "
        "data_volume, health_check, initial_ami, instance_profile, instance_type, "
        "instance_warmup, launch_template, load_balancer, migration, overrides, refresh, "
        "root_volume, scaling_policy, security_groups, subnets, target_groups)",
    ]
    with pytest.raises(ConfigError, match=r"env.yaml: environment: expected a string"):
        load(str(_write(tmp_path, data)))


def test_the_schema_ships_in_the_package_beside_the_settings():
    # autoscaling/schemas is package data; in a checkout it links to schemas/.
    assert schema.schema_file(SCHEMA).resolve() == SCHEMA_FILE
    pyproject = (REPO / "pyproject.toml").read_text()
    line = re.search(r'^"autoscaling" = \[(.*)\]$', pyproject, re.M)
    assert line, "pyproject.toml: no package data for autoscaling"
    assert {'"environments/*.yaml"', '"schemas/*.json"', '"pricing/*.yaml"'} <= {
        item.strip() for item in line.group(1).split(",")}
