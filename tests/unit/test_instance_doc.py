"""The instance settings document: schema checks, rendering, round trip."""

from __future__ import annotations

import copy
import json

import pytest
import yaml
from golden.core import instance_doc as d
from golden.core.errors import ConfigError

DOC = {
    "schema": 1,
    "environment": "staging",
    "role": "app",
    "region": "us-east-1",
    "database": {"host": "db.internal", "port": 5432, "name": "agent", "user": "agent_app"},
    "redis": {"host": "redis.internal", "port": 6379, "db": 0},
    "chroma": {"host": "chroma.internal", "port": 8000},
    "s3": {"bucket": "golden-staging-data", "region": "us-east-1"},
    "ssm": {"path": "/golden/staging/"},
    "logs": {"group_prefix": "/golden/staging"},
    "aws": {"endpoint_url": None},
    "overrides": {"log_level": "INFO", "backend_replicas": 2},
}


def _with(path: str, value) -> dict:
    doc = copy.deepcopy(DOC)
    *parents, last = path.split(".")
    node = doc
    for part in parents:
        node = node[part]
    node[last] = value
    return doc


def _without(path: str) -> dict:
    doc = copy.deepcopy(DOC)
    *parents, last = path.split(".")
    node = doc
    for part in parents:
        node = node[part]
    del node[last]
    return doc


def test_valid_document_gets_defaults_filled_in():
    out = d.validate(DOC)
    assert out["database"]["sslmode"] == "verify-full"
    assert out["overrides"] == {"log_level": "INFO", "backend_replicas": 2}
    minimal = _without("aws")
    del minimal["overrides"]
    assert d.validate(minimal)["aws"] == {"endpoint_url": None}


def test_redis_tls_and_auth_are_written_only_when_on():
    """ElastiCache with in-transit encryption and AUTH (the foundation stack's) needs both;
    a document without them keeps its exact bytes (no new keys for existing environments)."""
    assert d.validate(DOC)["redis"] == {"host": "redis.internal", "port": 6379, "db": 0}
    assert d.to_json(d.validate(_with("redis.tls", False))) == d.to_json(d.validate(DOC))
    on = d.validate(_with("redis", {**DOC["redis"], "tls": True, "auth": True}))
    assert on["redis"] == {"host": "redis.internal", "port": 6379, "db": 0, "tls": True,
                           "auth": True}  # fmt: skip


@pytest.mark.parametrize(
    "path,value,message",
    [
        ("database.port", "5432", "database.port: expected an integer from 1 to 65535, got str"),
        ("database.port", True, "database.port: expected an integer"),
        ("redis.db", 99, "redis.db: expected an integer from 0 to 15"),
        ("role", "worker", "role: expected one of app, chroma"),
        ("schema", 2, "schema: expected 1"),
        ("ssm.path", "/golden/staging", "ssm.path: expected a parameter path"),
        ("database.sslmode", "prefer", "database.sslmode: expected one of verify-full"),
        ("overrides.log_level", "TRACE", "overrides.log_level: expected one of DEBUG"),
        ("aws.endpoint_url", "ftp://x", "aws.endpoint_url: expected null or an http(s) URL"),
        ("s3.bucket", "Not_A_Bucket", "s3.bucket: expected an S3 bucket name"),
        ("region", "useast1", "region: expected an AWS region"),
        ("redis.tls", "yes", "redis.tls: expected true or false, got str"),
        ("redis.auth", 1, "redis.auth: expected true or false, got int"),
    ],
)
def test_wrong_values_name_the_field_and_what_was_expected(path, value, message):
    with pytest.raises(ConfigError) as err:
        d.validate(_with(path, value), source="/etc/golden/instance.json")
    assert str(err.value).startswith("/etc/golden/instance.json: ")
    assert message in str(err.value)


@pytest.mark.parametrize("path", ["redis.host", "database", "ssm.path", "environment"])
def test_missing_keys_are_named(path):
    with pytest.raises(ConfigError, match=f"{path}: expected a value"):
        d.validate(_without(path))


def test_unknown_keys_are_refused():
    with pytest.raises(ConfigError, match="redis.cluster: expected no such key"):
        d.validate(_with("redis.cluster", True))
    with pytest.raises(ConfigError, match="extra: expected no such key"):
        d.validate(_with("extra", 1))


@pytest.mark.parametrize(
    "path",
    [
        "database.password",
        "chroma.token",
        "app_secret_key",
        "overrides.api_key",
        "redis.auth_token",
    ],
)
def test_secret_looking_keys_are_refused_with_a_pointer_to_ssm(path):
    with pytest.raises(ConfigError) as err:
        d.validate(_with(path, "x"))
    assert path in str(err.value) and "SSM Parameter Store" in str(err.value)


def test_render_is_deterministic_and_round_trips():
    first = d.render_user_data(DOC)
    reordered = json.loads(json.dumps(DOC))
    reordered = dict(reversed(list(reordered.items())))
    assert d.render_user_data(reordered) == first
    assert first.startswith("#cloud-config\n")
    assert d.parse_user_data(first) == d.validate(DOC)


def test_rendered_cloud_config_writes_the_file_root_owned_0644():
    cloud = yaml.safe_load(d.render_user_data(DOC))
    assert list(cloud) == ["write_files"]
    (entry,) = cloud["write_files"]
    assert entry["path"] == "/etc/golden/instance.json"
    assert entry["owner"] == "root:root" and entry["permissions"] == "0644"
    assert json.loads(entry["content"]) == d.validate(DOC)


def test_render_refuses_an_invalid_document():
    with pytest.raises(ConfigError, match="database.port"):
        d.render_user_data(_with("database.port", 0))


def test_parse_rejects_user_data_without_the_document():
    with pytest.raises(ConfigError, match="#cloud-config"):
        d.parse_user_data("#!/bin/sh\necho hi\n")
    with pytest.raises(ConfigError, match="no entry for /etc/golden/instance.json"):
        d.parse_user_data("#cloud-config\nwrite_files: []\n")


def test_from_environment_builds_the_document_from_settings():
    settings = {
        "environment": "prod",
        "region": "eu-west-1",
        "instance": {
            "database": DOC["database"],
            "redis": DOC["redis"],
            "chroma": DOC["chroma"],
            "s3": DOC["s3"],
            "ssm_path": "/golden/prod/",
            "log_group_prefix": "/golden/prod",
            "aws_endpoint_url": None,
        },
        "roles": {"chroma": {"overrides": {"log_level": "WARNING"}}},
    }
    doc = d.from_environment(settings, "chroma")
    assert doc["environment"] == "prod" and doc["role"] == "chroma"
    assert doc["ssm"] == {"path": "/golden/prod/"} and doc["logs"]["group_prefix"] == "/golden/prod"
    assert doc["overrides"] == {"log_level": "WARNING"}
    with pytest.raises(ConfigError, match="role: expected one of app, chroma"):
        d.from_environment(settings, "web")


def test_shipped_environments_render_without_secrets():
    from autoscaling.settings import load

    for name in ("staging", "prod", "local"):
        env = load(name)
        for role in env.roles:
            text = d.render_user_data(env.instance_document(role))
            assert "password" not in text.lower()
            assert not any(name in text for name in d.SECRET_NAMES)
