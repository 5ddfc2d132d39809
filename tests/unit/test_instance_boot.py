"""The boot step's decisions, without an instance: worker counts, the env file, the
database URL, the runtime grain, and that a failure leaves no env file behind."""

import json
import stat

import pytest
from golden.core import instance_doc
from golden.core.errors import ConfigError
from golden.instance import boot

DOC = {
    "schema": 1, "environment": "staging", "role": "app", "region": "us-east-1",
    "database": {"host": "db.internal", "port": 5432, "name": "agent", "user": "agent_app",
                 "sslmode": "verify-full"},
    "redis": {"host": "cache.internal", "port": 6379, "db": 0},
    "chroma": {"host": "chroma.internal", "port": 8443},
    "s3": {"bucket": "agent-staging-uploads", "region": "us-east-1"},
    "ssm": {"path": "/golden/staging/"},
    "logs": {"group_prefix": "/golden/staging"},
    "aws": {"endpoint_url": None},
    "overrides": {"backend_replicas": 3, "log_level": "DEBUG"},
}
SECRETS = {"db_password": "p@ss w/rd#1", "chroma_token": "tok-123", "app_secret_key": "k'ey$X"}


def test_env_has_the_plans_variable_names():
    env = boot.app_environment(instance_doc.validate(DOC), SECRETS)
    for name in ("DATABASE_URL", "DB_POOL_SIZE", "DB_MAX_OVERFLOW", "REDIS_HOST", "REDIS_PORT",
                 "REDIS_DB", "CHROMA_SERVER_HOST", "CHROMA_SERVER_PORT", "AWS_S3_BUCKET",
                 "AWS_S3_REGION", "ENVIRONMENT", "LOG_LEVEL"):
        assert env[name], name
    assert env["LOG_LEVEL"] == "DEBUG" and env["ENVIRONMENT"] == "staging"
    # On AWS the instance profile provides credentials: none are written.
    assert "AWS_ACCESS_KEY_ID" not in env and "AWS_ENDPOINT_URL" not in env


def test_redis_with_tls_and_auth_gets_the_token_from_ssm_and_tls_on():
    doc = instance_doc.validate({**DOC, "redis": {**DOC["redis"], "tls": True, "auth": True}})
    assert boot.ssm_parameter_names(doc)["redis_auth_token"] == "/golden/staging/redis_auth_token"
    env = boot.app_environment(doc, {**SECRETS, "redis_auth_token": "t0ken"})
    assert env["REDIS_TLS"] == "true" and env["REDIS_PASSWORD"] == "t0ken"
    plain = instance_doc.validate(DOC)
    assert "redis_auth_token" not in boot.ssm_parameter_names(plain)
    assert "REDIS_PASSWORD" not in boot.app_environment(plain, SECRETS)
    assert "REDIS_TLS" not in boot.app_environment(plain, SECRETS)


def test_database_url_is_postgresql_with_verify_full_and_escaped_password():
    url = boot.database_url(DOC, SECRETS["db_password"])
    assert url.startswith("postgresql://agent_app:p%40ss%20w%2Frd%231@db.internal:5432/agent?")
    assert "sslmode=verify-full" in url and f"sslrootcert={boot.RDS_CA_BUNDLE}" in url
    require = {**DOC, "database": {**DOC["database"], "sslmode": "require"}}
    assert "sslrootcert" not in boot.database_url(require, "x")


def test_env_file_quotes_values_so_compose_takes_them_literally():
    text = boot.env_file_text({"A": "plain", "B": "k'ey$X", "C": "a$b"})
    assert "A='plain'" in text
    assert 'B="k\'ey$$X"' in text
    assert "C='a$b'" in text
    with pytest.raises(ConfigError):
        boot.env_file_text({"D": "two\nlines"})


def test_emulator_endpoint_brings_dummy_credentials_only_there():
    doc = {**DOC, "aws": {"endpoint_url": "http://golden-local-aws:5000"}}
    env = boot.app_environment(instance_doc.validate(doc), SECRETS)
    assert env["AWS_ENDPOINT_URL"] == "http://golden-local-aws:5000"
    assert env["AWS_ACCESS_KEY_ID"] == "emulator"


def test_runtime_grain_carries_overrides_and_log_prefix():
    grain = boot.runtime_grain(DOC)
    assert grain == {"environment": "staging", "log_group_prefix": "/golden/staging",
                     "backend_replicas": 3}


def test_ssm_names_under_the_path():
    assert boot.ssm_parameter_names(DOC) == {
        "db_password": "/golden/staging/db_password",
        "chroma_token": "/golden/staging/chroma_token",
        "app_secret_key": "/golden/staging/app_secret_key"}


def test_atomic_write_is_private_and_leaves_no_temp_file(tmp_path):
    target = tmp_path / "app" / "app.env"
    boot.write_atomically(target, "A='1'\n")
    assert target.read_text() == "A='1'\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert [p.name for p in target.parent.iterdir()] == ["app.env"]


def test_missing_instance_json_fails_naming_it_and_removes_env(tmp_path, monkeypatch):
    env = tmp_path / "app.env"
    env.write_text("OLD=1\n")
    stopped = []
    monkeypatch.setattr(boot, "BUILD_MARKER", tmp_path / "not-a-build")
    monkeypatch.setattr(boot, "stop_app_containers", lambda: stopped.append(True))
    with pytest.raises(ConfigError, match="instance.json: missing"):
        boot.boot(tmp_path / "instance.json", env)
    assert not env.exists()
    assert stopped == [True], "a failed boot must stop containers dockerd restarted"


def test_wrong_type_fails_naming_the_field_and_removes_env(tmp_path, monkeypatch):
    doc = json.loads(json.dumps(DOC))
    doc["redis"]["port"] = "6379"
    path = tmp_path / "instance.json"
    path.write_text(json.dumps(doc))
    env = tmp_path / "app.env"
    env.write_text("OLD=1\n")
    monkeypatch.setattr(boot, "stop_app_containers", lambda: None)
    with pytest.raises(ConfigError, match="redis.port"):
        boot.boot(path, env)
    assert not env.exists()


def test_build_mode_writes_an_environment_without_secrets(tmp_path, monkeypatch):
    marker = tmp_path / "build"
    marker.touch()
    monkeypatch.setattr(boot, "BUILD_MARKER", marker)
    env = tmp_path / "app.env"
    result = boot.boot(tmp_path / "instance.json", env)
    assert result["mode"] == "build"
    assert env.read_text().count("=") == 2 and "ENVIRONMENT='build'" in env.read_text()


def test_chroma_host_reads_only_its_token():
    doc = {**DOC, "role": "chroma"}
    assert boot.ssm_parameter_names(doc) == {"chroma_token": "/golden/staging/chroma_token"}
    # Both agent configs carry the boot-time log group prefix (the booted-image suite's
    # second highstate would change chroma.logs otherwise).
    assert set(boot.RERENDER_BY_ROLE["chroma"].split(",")) == {"cloudwatch", "chroma.logs"}
