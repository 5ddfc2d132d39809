"""Fixtures for `golden infra`: the real `golden` CLI against the AWS emulator's
CloudFormation (autoscaling/emulator/stacks.py over moto; what it does not model is listed
there and in autoscaling/emulator/cfn_resources.py). Every operation ends within the API
call in the emulator, so the commands' waits see the final state on their first read.

The environment is `staging` as the repository ships it (its settings and parameter file),
pointed at the emulator, with the certificate from the emulator's ACM and the secrets put
into its Parameter Store, as an operator would before `golden infra apply`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest
import yaml
from botocore.config import Config
from click.testing import CliRunner
from golden.cli import main

from autoscaling.settings import ENV_DIR, load

PARAMS_DIR = ENV_DIR.parent / "stacks" / "params"
SECRETS = ("db_password", "redis_auth_token", "chroma_token", "app_secret_key")
FAST = ["--poll-seconds", "0", "--timeout-minutes", "1"]


@pytest.fixture(autouse=True)
def _aws_env(aws_env):
    """Every test here talks to the emulator only (tests/conftest.py aws_env)."""


@dataclass
class Result:
    exit_code: int
    stdout: str
    stderr: str


@dataclass
class Foundation:
    emulator: object
    settings: Path
    parameters: Path
    env_name: str

    @property
    def stack(self) -> str:
        return f"golden-{self.env_name}-foundation"

    def client(self, service: str):
        return boto3.client(service, region_name="us-east-1", endpoint_url=self.emulator.url,
                            config=Config(retries={"max_attempts": 1}))  # fmt: skip

    def golden(self, *args) -> Result:
        result = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
        return Result(result.exit_code, result.stdout, result.stderr)

    def infra(self, command: str, *args) -> Result:
        extra = ["--parameters", self.parameters] if command in ("plan", "apply") else []
        waits = FAST if command in ("apply", "destroy") else []
        return self.golden("infra", command, self.settings, *extra, *waits, *args)

    @property
    def env(self):
        return load(str(self.settings))

    def stack_status(self) -> str | None:
        cfn = self.client("cloudformation")
        stacks = [s for s in cfn.list_stacks()["StackSummaries"] if s["StackName"] == self.stack]
        live = [s for s in stacks if s["StackStatus"] != "DELETE_COMPLETE"]
        return live[0]["StackStatus"] if live else None

    def mutating_calls(self) -> list[str]:
        return [r["action"] for r in self.emulator.mutating_requests()]

    def settings_data(self) -> dict:
        return yaml.safe_load(self.settings.read_text())

    def edit_settings(self, change) -> None:
        data = self.settings_data()
        change(data)
        self.settings.write_text(yaml.safe_dump(data, sort_keys=False))


def _prepare(emulator, tmp_path: Path, env_name: str) -> Foundation:
    emulator.reset()
    settings = tmp_path / f"{env_name}.yaml"
    text = (ENV_DIR / f"{env_name}.yaml").read_text()
    text = text.replace("endpoint_url: null", f"endpoint_url: {emulator.url}", 1)
    text = text.replace("aws_endpoint_url: null", f"aws_endpoint_url: {emulator.url}", 1)
    settings.write_text(text)
    world = Foundation(emulator, settings, tmp_path / f"{env_name}-params.yaml", env_name)
    certificate = world.client("acm").request_certificate(
        DomainName=f"{env_name}.example.com")["CertificateArn"]  # fmt: skip
    params = yaml.safe_load((PARAMS_DIR / f"{env_name}.yaml").read_text())
    params["CertificateArn"] = certificate
    world.parameters.write_text(yaml.safe_dump(params, sort_keys=False))
    ssm = world.client("ssm")
    for name in SECRETS:
        ssm.put_parameter(Name=f"/golden/{env_name}/{name}", Type="SecureString",
                          Value=f"emulator-{name}-0123456789abcdef")  # fmt: skip
    emulator.clear_requests()
    return world


@pytest.fixture
def staging(emulator, tmp_path) -> Foundation:
    """An empty account (the emulator reset) with the staging secrets put and a
    certificate issued; no stack yet."""
    return _prepare(emulator, tmp_path, "staging")


@pytest.fixture
def prod(emulator, tmp_path) -> Foundation:
    return _prepare(emulator, tmp_path, "prod")


@pytest.fixture
def deployed(staging) -> Foundation:
    """`golden infra apply staging --yes` done."""
    result = staging.infra("apply", "--yes")
    assert result.exit_code == 0, result.stderr + result.stdout
    staging.emulator.clear_requests()
    return staging
