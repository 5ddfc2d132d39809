"""boto3 clients for one environment: region from the settings, endpoint from the standard
AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_<SERVICE> variables (boto3 reads them itself) or else
the settings' aws.endpoint_url (the `local` environment's emulator), adaptive retries.

GOLDEN_AWS_MAX_ATTEMPTS lowers the retry count; tests set it to 1 so that an action the
emulator lacks fails at once instead of being retried with back-off.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import boto3
from botocore.config import Config

from autoscaling.settings import Environment


def _config() -> Config:
    attempts = int(os.environ.get("GOLDEN_AWS_MAX_ATTEMPTS", "8"))
    return Config(
        retries={"mode": "adaptive", "max_attempts": max(1, attempts)},
        connect_timeout=10,
        read_timeout=60,
        user_agent_extra="golden-release",
    )


def endpoint_for(configured: str | None, service: str) -> str | None:
    """None means 'let boto3 decide' (its own env vars, else the real AWS endpoint)."""
    specific = "AWS_ENDPOINT_URL_" + service.upper().replace("-", "_")
    if os.environ.get(specific) or os.environ.get("AWS_ENDPOINT_URL"):
        return None
    return configured


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
            kwargs = {"region_name": self.region, "config": _config()}
            endpoint = endpoint_for(self.endpoint_url, service)
            if endpoint:
                kwargs["endpoint_url"] = endpoint
            self._cache[service] = boto3.session.Session().client(service, **kwargs)
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
