"""The foundation stack's parameters that cost money, as one typed structure.

The foundation stack (VPC, NAT, endpoints, load balancer, RDS, ElastiCache, S3; issue 14,
CloudFormation under autoscaling/stacks/) is written beside this job. `golden cost` needs
only the few parameters that change the bill, with the plan's values as defaults, so it
prices an environment whether or not the stack's parameter file exists yet:

- no parameter file: every default below (the plan's architecture);
- a parameter file: its known keys override the defaults, unknown keys are ignored and
  named in a note (a key golden cost does not price is not an error).

`parameter_file(env)` is the one place that says where an environment's parameter file
lives; point it at the stack's real files once both are merged.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

import yaml

from golden.core.errors import ConfigError
from golden.core.provenance import REPO

# Where `golden cost ENV` looks for ENV's stack parameters (CloudFormation parameter file).
STACK_PARAMETERS_DIR = REPO / "autoscaling" / "stacks" / "parameters"

# The interface endpoints issue 14 offers "so private instances do not pay NAT for AWS
# traffic": Session Manager (ssm, ssmmessages, ec2messages), ECR (api, dkr), Logs.
ENDPOINTS_FOR_AWS_TRAFFIC = ("ssm", "ssmmessages", "ec2messages", "ecr.api", "ecr.dkr", "logs")


@dataclass(frozen=True)
class Foundation:
    """The foundation's priced parameters. Defaults: the deployment plan (RDS db.t3.medium,
    ElastiCache cache.t3.micro, 7-day backups, S3 with a Glacier lifecycle, an ALB) and
    issue 14's stack (two Availability Zones, one NAT gateway, an S3 gateway endpoint,
    interface endpoints off); where neither says, the value is marked as an assumption."""

    availability_zones: int = 2
    nat_gateways: int = 1
    s3_gateway_endpoint: bool = True
    # Service names (e.g. "logs", "ssm"); each costs one endpoint per Availability Zone.
    interface_endpoints: tuple[str, ...] = ()
    db_instance_class: str = "db.t3.medium"
    # Assumption: RDS's smallest gp3 allocation; the plan names no size.
    db_allocated_storage_gb: int = 20
    # Assumption: the plan names one database instance, not a standby.
    db_multi_az: bool = False
    db_backup_retention_days: int = 7
    cache_node_type: str = "cache.t3.micro"
    cache_nodes: int = 1
    # Assumption: the plan asks for "lifecycle policies (move old files to Glacier)" without
    # a number; 90 days is Glacier Flexible Retrieval's minimum storage duration. 0: none.
    uploads_glacier_after_days: int = 90
    # Assumption: the Chroma host's data volume (gp3, baseline performance).
    chroma_volume_gb: int = 20


def _whole(minimum: int) -> Callable[[Any], int]:
    def parse(value: Any) -> int:
        if isinstance(value, bool):
            raise ValueError
        number = int(str(value).strip())
        if number < minimum:
            raise ValueError
        return number

    parse.expected = f"a whole number of {minimum} or more"  # type: ignore[attr-defined]
    return parse


def _flag(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "yes", "1"):
        return True
    if text in ("false", "no", "0", ""):
        return False
    raise ValueError


_flag.expected = "true or false"  # type: ignore[attr-defined]


def _text(value: Any) -> str:
    text = str(value).strip()
    if not text or isinstance(value, (dict, list, bool)):
        raise ValueError
    return text


_text.expected = "a name like db.t3.medium"  # type: ignore[attr-defined]


def _names(value: Any) -> tuple[str, ...]:
    """A list, or CloudFormation's comma-delimited list ("ssm,logs"); "" or none: empty.
    "true" means the endpoint set issue 14 offers; "false" none."""
    if isinstance(value, (list, tuple)):
        items = [str(v).strip() for v in value]
    elif isinstance(value, bool) or str(value).strip().lower() in ("true", "false"):
        return ENDPOINTS_FOR_AWS_TRAFFIC if _flag(value) else ()
    else:
        items = [v.strip() for v in str(value).split(",")]
    return tuple(v for v in items if v and v.lower() != "none")


_names.expected = "a list of service names, e.g. ssm,logs"  # type: ignore[attr-defined]


_ZONE = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d[a-z]$")


def _zone_count(value: Any) -> int:
    """A count ("2") or the zones themselves ("us-east-1a,us-east-1b")."""
    if isinstance(value, bool):
        raise ValueError
    if isinstance(value, int) or str(value).strip().isdigit():
        return _whole(1)(value)
    zones = _names(value)
    if not zones or not all(_ZONE.match(z) for z in zones):
        raise ValueError
    return len(zones)


_zone_count.expected = "a count or a list of zones"  # type: ignore[attr-defined]

# The stack's parameter name -> (field, how its value is read).
PARAMETERS: dict[str, tuple[str, Callable[[Any], Any]]] = {
    "AvailabilityZones": ("availability_zones", _zone_count),
    "NatGateways": ("nat_gateways", _whole(0)),
    "S3GatewayEndpoint": ("s3_gateway_endpoint", _flag),
    "InterfaceEndpoints": ("interface_endpoints", _names),
    "DbInstanceClass": ("db_instance_class", _text),
    "DbAllocatedStorage": ("db_allocated_storage_gb", _whole(20)),
    "DbMultiAz": ("db_multi_az", _flag),
    "DbBackupRetentionDays": ("db_backup_retention_days", _whole(0)),
    "CacheNodeType": ("cache_node_type", _text),
    "CacheNumNodes": ("cache_nodes", _whole(1)),
    "UploadsGlacierAfterDays": ("uploads_glacier_after_days", _whole(0)),
    "ChromaVolumeSize": ("chroma_volume_gb", _whole(1)),
}
# Known to the stack, no effect on this estimate (said once, not as "unknown").
NOT_PRICED = {
    "LogRetentionDays": "log groups take the retention the agent config gives them",
    "VpcCidr": "addresses cost nothing",
}


def parameter_file(env_name: str) -> Path:
    """Where environment ENV_NAME's foundation stack parameters live (may not exist)."""
    return STACK_PARAMETERS_DIR / f"{env_name}.json"


def parameters_from(data: Any) -> dict[str, Any]:
    """The parameters of a parsed parameter file, in any of the usual shapes:
    CloudFormation's list of {"ParameterKey", "ParameterValue"}, a {"Parameters": {...}}
    template configuration, or a plain mapping. Raises ValueError for anything else."""
    if isinstance(data, list):
        if not all(isinstance(p, dict) and "ParameterKey" in p for p in data):
            raise ValueError("expected ParameterKey/ParameterValue entries")
        return {str(p["ParameterKey"]): p.get("ParameterValue") for p in data}
    if isinstance(data, dict):
        inner = data.get("Parameters")
        return {str(k): v for k, v in (inner if isinstance(inner, dict) else data).items()}
    raise ValueError("expected a list or a mapping of parameters")


def from_parameters(params: dict[str, Any], source: str) -> tuple[Foundation, list[str]]:
    """The Foundation that PARAMS (the stack's parameter names to values) describe, and a
    note per key that is not priced. Raises ConfigError naming SOURCE, the key and what
    was expected when a priced key's value cannot be read."""
    changes: dict[str, Any] = {}
    notes = []
    for key, value in params.items():
        if key in PARAMETERS:
            name, parse = PARAMETERS[key]
            try:
                changes[name] = parse(value)
            except (TypeError, ValueError):
                raise ConfigError(
                    f"{source}: {key}: expected {parse.expected}, got {value!r}"  # type: ignore[attr-defined]
                ) from None
        elif key in NOT_PRICED:
            notes.append(f"{source}: {key}: not priced ({NOT_PRICED[key]})")
        else:
            notes.append(f"{source}: {key}: unknown to golden cost, ignored")
    return replace(Foundation(), **changes), notes


def read_foundation(path: Path) -> tuple[Foundation, list[str]]:
    """The foundation described by the parameter file at PATH (JSON or YAML), and notes
    for the reader. A missing file gives the defaults and a note saying so; a file that is
    not a parameter file raises ConfigError naming it."""
    if not path.is_file():
        return Foundation(), [f"no foundation parameter file at {path}: the plan's defaults"]
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path}: not valid JSON or YAML: {exc}") from None
    try:
        params = parameters_from(data)
    except ValueError as exc:
        raise ConfigError(f"{path}: not a stack parameter file: {exc}") from None
    return from_parameters(params, str(path))


def describe(foundation: Foundation) -> dict[str, Any]:
    """FOUNDATION as plain data (for --json and the notes)."""
    return {f.name: getattr(foundation, f.name) for f in fields(foundation)}
