"""Fixtures for `golden audit` over SSM: the AWS emulator with the app group of
autoscaling/environments/local.yaml applied (`golden env apply`), an artifacts bucket,
and instances that answer Run Command with what the test says.

What the emulator does not model (autoscaling/emulator/__init__.py): nothing runs on an
"instance", so the audit script, its fetch of the bundle through the presigned URL and
the tools never run here; each instance answers the output the test gives it, made from
the tools' real formats (audit_support.py). The script itself runs in test_remote.py."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest
from audit_support import BUCKET, write_settings
from botocore.config import Config
from click.testing import CliRunner


@dataclass
class World:
    emulator: object
    settings: Path

    def client(self, service: str):
        return boto3.client(service, region_name="us-east-1", endpoint_url=self.emulator.url,
                            config=Config(retries={"max_attempts": 1}))

    def golden(self, *args):
        from golden.cli import main

        return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)

    def instances(self) -> list[str]:
        group = self.client("autoscaling").describe_auto_scaling_groups(
            AutoScalingGroupNames=["golden-local-app"])["AutoScalingGroups"][0]
        return sorted(i["InstanceId"] for i in group["Instances"]
                      if i["LifecycleState"] == "InService")


@pytest.fixture(autouse=True)
def _aws_env(aws_env):
    """Every test here talks to the emulator only (tests/conftest.py aws_env)."""


@pytest.fixture(scope="module")
def world(emulator, tmp_path_factory) -> World:
    from autoscaling.aws import Clients
    from autoscaling.emulator import seed as seeding
    from autoscaling.settings import load

    emulator.reset()
    settings = write_settings(tmp_path_factory.mktemp("audit") / "local.yaml", emulator.url)
    env = load(str(settings))
    clients = Clients.for_env(env)
    seeding.seed_network(env, clients)
    seeding.seed_amis(env, clients, 1)
    found = World(emulator, settings)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GOLDEN_AWS_MAX_ATTEMPTS", "1")
        applied = found.golden("env", "apply", settings, "--yes", "--role", "app")
    assert applied.exit_code == 0, applied.output
    found.client("s3").create_bucket(Bucket=BUCKET)
    return found
