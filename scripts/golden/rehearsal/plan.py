"""What a rehearsal is made of, as pure decisions: its names and ports, the environment
settings it releases through, the image variants it bakes, and the scenarios it runs.

The rehearsal environment is the local one (autoscaling/environments/local.yaml: the
stand-ins for RDS, ElastiCache and Chroma on the twin network) with three differences:
the AWS endpoint is the rehearsal's emulator (instances reach it at the twin network's
gateway, the CLI at 127.0.0.1), only the app role, and timings shortened so a release
runs in about a minute: every number below is within the AWS API's limits.
"""

from __future__ import annotations

import copy
import ipaddress
from dataclasses import dataclass

from golden.core.errors import ConfigError

PREFIX = "golden-rehearsal"
STATE_DIRNAME = "rehearsal"
ENV_NAME = "rehearsal"
ROLE = "app"
# Loopback ports: the load balancer's listener and the emulator. `golden rehearse --port`
# moves the listener; the emulator takes the next one.
DEFAULT_PORT = 18480
TARGET_GROUP = f"{PREFIX}-app"
ALARM_5XX = f"{PREFIX}-app-5xx"
LOAD_BALANCER = f"app/{PREFIX}/50dc6c495c0c9188"

# Target group health check and deregistration delay (ELB limits: interval 5-300 s,
# thresholds 2-10, delay 0-3600 s). Short, so that an instance is in service ~10 s after
# its boot and a drain takes 10 s.
HEALTH_CHECK = {
    "HealthCheckPath": "/healthz",
    "HealthCheckIntervalSeconds": 5,
    "HealthCheckTimeoutSeconds": 4,
    "HealthyThresholdCount": 2,
    "UnhealthyThresholdCount": 2,
    "Matcher": {"HttpCode": "200"},
}
DEREGISTRATION_DELAY = 10
IDLE_TIMEOUT = 60
# Alarm gating the release: the target group's 5xx count (ALB metric) above 10 in a
# 20-second period (the rehearsal's scale of the usual 60 s), published from HAProxy.
ALARM = {
    "Namespace": "AWS/ApplicationELB",
    "MetricName": "HTTPCode_Target_5XX_Count",
    "Statistic": "Sum",
    "Period": 20,
    "EvaluationPeriods": 1,
    "Threshold": 10.0,
    "ComparisonOperator": "GreaterThanThreshold",
    "TreatMissingData": "notBreaching",
}


@dataclass(frozen=True)
class Names:
    """Everything a rehearsal takes on this machine; `golden rehearse` refuses to start
    when any is taken, and `--down` removes them."""

    port: int = DEFAULT_PORT

    @property
    def emulator_port(self) -> int:
        return self.port + 1

    @property
    def ports(self) -> dict[str, int]:
        return {"load balancer": self.port, "AWS emulator": self.emulator_port}

    def validate(self) -> Names:
        if not 1024 <= self.port <= 65534:
            raise ConfigError(f"--port: expected 1024..65534 (it and the next), got {self.port}")
        return self


def gateway(subnet: str) -> str:
    """The host's address on a docker bridge network: the subnet's first address."""
    return str(next(ipaddress.ip_network(subnet).hosts()))


def environment_settings(
    local: dict, *, emulator_port: int, gateway_address: str, initial_ami: str
) -> dict:
    """The rehearsal's settings file (a dict, validated by `golden` when loaded) from the
    local environment's: same stand-ins, the rehearsal's endpoint, names and timings."""
    if ROLE not in (local.get("roles") or {}):
        raise ConfigError("autoscaling/environments/local.yaml: roles.app: expected the app role")
    out = copy.deepcopy(local)
    out["environment"] = ENV_NAME
    out["aws"] = {"endpoint_url": f"http://127.0.0.1:{emulator_port}"}
    out["artifacts_bucket"] = f"{PREFIX}-artifacts"
    inst = out["instance"]
    inst["aws_endpoint_url"] = f"http://{gateway_address}:{emulator_port}"
    inst["ssm_path"] = f"/golden/{ENV_NAME}/"
    inst["log_group_prefix"] = f"/golden/{ENV_NAME}"
    inst["s3"] = {**inst["s3"], "bucket": f"{PREFIX}-agent-data"}
    role = copy.deepcopy(local["roles"][ROLE])
    role.update(
        auto_scaling_group=f"{PREFIX}-app",
        launch_template=f"{PREFIX}-app",
        subnets=[f"{PREFIX}-a", f"{PREFIX}-b"],
        security_groups=[f"{PREFIX}-app"],
        target_groups=[TARGET_GROUP],
        instance_profile=f"{PREFIX}-app",
        capacity={"min": 2, "max": 4, "desired": 2},
        health_check={"type": "ELB", "grace_period": 60},
        instance_warmup=10,
        initial_ami=initial_ami,
        alarms=[ALARM_5XX],
        scaling_policy=None,
        refresh={
            # Full capacity throughout: one new instance joins before an old one leaves.
            "min_healthy_percentage": 100,
            "max_healthy_percentage": 150,
            "checkpoint_percentages": [],
            "checkpoint_delay": 0,
            "bake_time": 10,
            "skip_matching": True,
            "timeout_minutes": 10,
        },
    )
    out["roles"] = {ROLE: role}
    return out


@dataclass(frozen=True)
class Variant:
    """An image of the rehearsal. A baked one is a real bake (Packer's docker source,
    in-bake tests) of the checkout's state tree with APP_RELEASE (and, for a bad image, a
    fault the sample backend simulates) set in the app role's pillar; the first one is the
    local twin image as `make local` builds it (no APP_RELEASE).

    ``starts_from``: the label of the variant whose tested image this one's bake starts
    from (Packer's docker source image) instead of the base OS image. Each image differs
    from the one before it only by pillar values, so on that image the highstate changes
    those alone: a bake of v3 on v2 took 55 s, of v2 on v1 52 s, against 120 s from the
    base image (measured on this machine, 2 cores; the same 88 in-bake tests passed).
    Bakes from the base OS image are what tests/bake exercises."""

    label: str
    fault: str | None = None
    baked: bool = True
    starts_from: str | None = None

    @property
    def app_environment(self) -> dict[str, str]:
        env = {"APP_RELEASE": self.label}
        if self.fault:
            env["APP_SIMULATE_FAULT"] = self.fault
        return env

    @property
    def origin(self) -> str:
        """Where the variant's image comes from, in words (the dry run's plan)."""
        if not self.baked:
            return "the twin image"
        return f"baked on {self.starts_from}'s image" if self.starts_from else "baked"


V1 = Variant("v1", baked=False)
V2 = Variant("v2", starts_from="v1")
# Never becomes healthy: the backends answer /health 503 (caught by the health gate).
V3 = Variant("v3", "unhealthy", starts_from="v2")
# Healthy, but a share of API requests answer 500 (caught only by the 5xx alarm).
V4 = Variant("v4", "errors", starts_from="v2")


@dataclass(frozen=True)
class Scenario:
    key: str
    title: str
    variants: tuple[Variant, ...]  # what it needs baked


SCENARIOS = {
    "a": Scenario("a", "good release (v2 replaces v1)", (V1, V2)),
    "b": Scenario("b", "bad image (v3 never healthy) rolls back", (V1, V2, V3)),
    "c": Scenario("c", "alarm from the load balancer's 5xx (v4) rolls back", (V1, V2, V4)),
    "d": Scenario("d", "scale-out launches the current version", (V1, V2)),
    "e": Scenario("e", "hotfix across the fleet over SSM", (V1, V2)),
}


def parse_scenarios(value: str) -> tuple[str, ...]:
    """`--scenarios a,b,e` in run order (a first: the others start from v2)."""
    keys = [k.strip().lower() for k in value.split(",") if k.strip()]
    unknown = [k for k in keys if k not in SCENARIOS]
    if unknown or not keys:
        raise ConfigError(
            f"--scenarios: expected letters from {', '.join(SCENARIOS)}, got {value!r}"
        )
    ordered = sorted(set(keys))
    if ordered[0] != "a":
        # Every scenario after a starts from the fleet that a left on v2.
        ordered.insert(0, "a")
    return tuple(ordered)


def variants_for(keys: tuple[str, ...]) -> list[Variant]:
    """The images scenarios ``keys`` need, each once, in the order they are made: a
    variant comes after the one its bake starts from. Raises ConfigError when a scenario
    lists a variant before the one it starts from."""
    seen: dict[str, Variant] = {}
    for key in keys:
        for variant in SCENARIOS[key].variants:
            if variant.starts_from and variant.starts_from not in seen:
                raise ConfigError(f"rehearsal image {variant.label}: its bake starts from "
                                  f"{variant.starts_from}'s image, which scenario {key} does "
                                  "not make before it")  # fmt: skip
            seen.setdefault(variant.label, variant)
    return list(seen.values())
