"""Fixtures for the release engine: the real `golden` CLI against the AWS emulator, a moto
server extended with instance refresh, running in its own process on 127.0.0.1.

What the emulator does not model is listed in autoscaling/emulator/__init__.py; the
points these tests lean on: a refresh advances one step per DescribeInstanceRefreshes
call (step_seconds=0, time_scale=0: checkpoint delays and bake time pass at once), and
instance health is whatever the test declares through the emulator's health endpoint.
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

from autoscaling.aws import Clients
from autoscaling.emulator import Emulator
from autoscaling.emulator import seed as seeding
from autoscaling.settings import ENV_DIR, load

FAST_POLL = ["--poll-min-seconds", "0.001", "--poll-max-seconds", "0.002"]


@pytest.fixture(autouse=True)
def _aws_env(aws_env):
    """Every test here talks to the emulator only (tests/conftest.py aws_env)."""


@dataclass
class Result:
    exit_code: int
    stdout: str
    stderr: str


@dataclass
class World:
    """A seeded emulator plus a settings file for environment `local` pointing at it."""

    emulator: Emulator
    settings: Path
    amis: dict
    network: dict

    @property
    def env(self):
        return load(str(self.settings))

    @property
    def clients(self) -> Clients:
        return Clients.for_env(self.env)

    def client(self, service: str, region: str = "us-east-1"):
        return boto3.client(
            service,
            region_name=region,
            endpoint_url=self.emulator.url,
            config=Config(retries={"max_attempts": 1}),
        )

    def golden(self, *args: str) -> Result:
        result = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
        return Result(result.exit_code, result.stdout, result.stderr)

    def release(self, ami: str, *extra: str, role: str = "app") -> Result:
        return self.golden(
            "release", self.settings, "--role", role, "--ami", ami, *FAST_POLL, *extra
        )

    def group(self, role: str = "app") -> dict:
        name = self.env.role(role).group
        return self.client("autoscaling").describe_auto_scaling_groups(
            AutoScalingGroupNames=[name]
        )["AutoScalingGroups"][0]

    def instance_amis(self, role: str = "app") -> dict[str, str]:
        ids = [i["InstanceId"] for i in self.group(role)["Instances"]]
        reservations = self.client("ec2").describe_instances(InstanceIds=ids)["Reservations"]
        return {i["InstanceId"]: i["ImageId"] for r in reservations for i in r["Instances"]}

    def template(self, role: str = "app") -> dict:
        name = self.env.role(role).template
        return self.client("ec2").describe_launch_templates(LaunchTemplateNames=[name])[
            "LaunchTemplates"
        ][0]

    def version_data(self, version, role: str = "app") -> dict:
        return self.client("ec2").describe_launch_template_versions(
            LaunchTemplateName=self.env.role(role).template, Versions=[str(version)]
        )["LaunchTemplateVersions"][0]["LaunchTemplateData"]

    def mutating_calls(self) -> list[str]:
        return [r["action"] for r in self.emulator.mutating_requests()]

    def actions(self) -> list[str]:
        return [r["action"] for r in self.emulator.requests()]


def write_settings(path: Path, url: str, **role_changes) -> Path:
    data = yaml.safe_load((ENV_DIR / "local.yaml").read_text())
    data["aws"]["endpoint_url"] = url
    data["instance"]["aws_endpoint_url"] = url
    for key, value in role_changes.items():
        data["roles"]["app"][key] = value
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.fixture
def seeded(emulator, tmp_path) -> World:
    """Network and AMIs exist; no launch template or group yet."""
    emulator.reset()
    settings = write_settings(tmp_path / "local.yaml", emulator.url)
    env = load(str(settings))
    clients = Clients.for_env(env)
    network = seeding.seed_network(env, clients)
    amis = seeding.seed_amis(env, clients, 2)
    world = World(emulator, settings, amis, network)
    emulator.clear_requests()
    return world


@pytest.fixture
def world(seeded) -> World:
    """`golden env apply --role app --yes` done: the app group runs the newest seeded AMI
    (chroma is left out to keep the suite fast; test_env covers it)."""
    result = seeded.golden("env", "apply", seeded.settings, "--yes", "--role", "app")
    assert result.exit_code == 0, result.stderr
    seeded.emulator.clear_requests()
    return seeded
