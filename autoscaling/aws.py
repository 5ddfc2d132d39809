"""boto3 clients for one environment: region from the settings, endpoint from the standard
AWS_ENDPOINT_URL_<SERVICE> / AWS_ENDPOINT_URL variables or else the settings'
aws.endpoint_url (the `local` environment's emulator), adaptive retries. A loopback
endpoint gets the emulator's dummy keys and never the user's profile or credentials
(golden.core.awsclient), so `ENV=local` needs no AWS configuration.

GOLDEN_AWS_MAX_ATTEMPTS lowers the retry count; tests set it to 1 so that an action the
emulator lacks fails at once instead of being retried with back-off.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from botocore.config import Config
from golden.core import awsclient

from autoscaling.settings import Environment


def _config() -> Config:
    attempts = int(os.environ.get("GOLDEN_AWS_MAX_ATTEMPTS", "8"))
    return Config(
        retries={"mode": "adaptive", "max_attempts": max(1, attempts)},
        connect_timeout=10,
        read_timeout=60,
        user_agent_extra="golden-release",
    )


@dataclass
class Clients:
    region: str
    endpoint_url: str | None = None
    _cache: dict = field(default_factory=dict)

    @classmethod
    def for_env(cls, env: Environment) -> Clients:
        return cls(env.region, env.endpoint_url)

    def _client(self, service: str):
        if service not in self._cache:
            self._cache[service] = awsclient.client(
                service, region=self.region, endpoint=self.endpoint_url, config=_config()
            )
        return self._cache[service]

    @property
    def ec2(self):
        return self._client("ec2")

    @property
    def autoscaling(self):
        return self._client("autoscaling")

    @property
    def elbv2(self):
        return self._client("elbv2")

    @property
    def cloudwatch(self):
        return self._client("cloudwatch")

    @property
    def cloudformation(self):
        return self._client("cloudformation")

    @property
    def ssm(self):
        return self._client("ssm")

    @property
    def s3(self):
        return self._client("s3")
