"""The foundation stack's parameters that cost money, as one typed structure.

The foundation stack is autoscaling/stacks/foundation.yaml (`golden infra`, issue 14),
with one parameter file per environment (autoscaling/stacks/params/ENV.yaml). Both are
data here, read through autoscaling.stacktemplate (golden cost and golden infra are
sibling jobs and do not import each other):

- parameter names, their Defaults and their allowed values come from the template, so a
  key the parameter file leaves out is priced at the template's default;
- what the stack creates comes from its resources and Conditions evaluated over the
  parameters: the interface endpoints `InterfaceEndpoints: true` creates, whether an S3
  gateway endpoint exists, how many Availability Zones the load balancer spans;
- every template parameter is either priced (PRICED) or named "not priced" with the
  reason (NOT_PRICED); only a key the template does not have is "unknown".
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import yaml

from autoscaling import stacktemplate
from golden.core.errors import ConfigError


@dataclass(frozen=True)
class StackTemplate:
    """The foundation template as data; PATH names it in messages."""

    path: Path
    data: dict

    @property
    def parameters(self) -> dict[str, dict]:
        return self.data.get("Parameters") or {}


@functools.cache
def shipped_template(path: Path = stacktemplate.TEMPLATE) -> StackTemplate:
    """The template at PATH (default: the repository's), read once per process."""
    return StackTemplate(path, stacktemplate.parse_data(stacktemplate.read_text(path), path))


@dataclass(frozen=True)
class Foundation:
    """The foundation's priced quantities. Built by from_parameters() from the template
    and a parameter file; no field has a default of its own (the template's are the
    only ones)."""

    # Zones the load balancer (one public IPv4 address each) and each interface endpoint
    # (one network interface each) span: the template's subnets, not a parameter.
    availability_zones: int
    nat_gateways: int
    s3_gateway_endpoint: bool
    # Service names (e.g. "logs", "ssm") of the interface endpoints the stack has; each
    # costs one endpoint per Availability Zone.
    interface_endpoints: tuple[str, ...]
    # The services `InterfaceEndpoints: true` would create (the "what if" line).
    endpoint_offer: tuple[str, ...]
    db_instance_class: str
    db_allocated_storage_gb: int
    db_multi_az: bool
    db_backup_retention_days: int
    cache_node_type: str
    cache_nodes: int
    # 0: no lifecycle transition (the template always has one; kept for what-ifs).
    uploads_glacier_after_days: int
    chroma_volume_gb: int


def _whole(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError
    number = float(str(value).strip())
    if number != int(number):
        raise ValueError
    return int(number)


_whole.expected = "a whole number"  # type: ignore[attr-defined]


def _flag(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "false"):
        return text == "true"
    raise ValueError


_flag.expected = "true or false"  # type: ignore[attr-defined]


def _text(value: Any) -> str:
    if isinstance(value, (dict, list, bool)) or not str(value).strip():
        raise ValueError
    return str(value).strip()


_text.expected = "a name like db.t3.medium"  # type: ignore[attr-defined]

# Template parameter -> (Foundation field, how its value is read). InterfaceEndpoints is
# priced through the resources it creates (interface_endpoints), not a field of its own.
PRICED: dict[str, tuple[str | None, Callable[[Any], Any]]] = {
    "NatGateways": ("nat_gateways", _whole),
    "InterfaceEndpoints": (None, _flag),
    "DbInstanceClass": ("db_instance_class", _text),
    "DbAllocatedStorage": ("db_allocated_storage_gb", _whole),
    "DbMultiAz": ("db_multi_az", _flag),
    "DbBackupRetentionDays": ("db_backup_retention_days", _whole),
    "CacheNodeType": ("cache_node_type", _text),
    "CacheNodes": ("cache_nodes", _whole),
    "UploadsGlacierAfterDays": ("uploads_glacier_after_days", _whole),
    "ChromaDataVolumeSize": ("chroma_volume_gb", _whole),
}
_FROM_SETTINGS = "golden infra sets it from the settings; names cost nothing"
# The agent config sets the same log groups' retention (pillar cloudwatch:*retention_days),
# and the log lines are priced from what it emits.
_AGENT_RETENTION = ("log storage is priced at the retention the agent config gives the same "
                    "log groups")  # fmt: skip
# The template's other parameters, each with why it does not change the estimate.
NOT_PRICED = {
    "EnvironmentName": _FROM_SETTINGS,
    "NamePrefix": _FROM_SETTINGS,
    "ChromaGroupName": _FROM_SETTINGS,
    "DbName": _FROM_SETTINGS,
    "DbUsername": _FROM_SETTINGS,
    "UploadsBucketName": _FROM_SETTINGS,
    "ArtifactsBucketName": _FROM_SETTINGS,
    "ChromaDataVolumeName": _FROM_SETTINGS,
    "SsmPath": _FROM_SETTINGS,
    "LogGroupPrefix": _FROM_SETTINGS,
    "DbPort": "a port costs nothing",
    "RedisPort": "a port costs nothing",
    "ChromaProxyPort": "a port costs nothing",
    "VpcCidr": "addresses inside the VPC cost nothing",
    "PublicSubnetCidrs": "addresses inside the VPC cost nothing",
    "PrivateSubnetCidrs": "addresses inside the VPC cost nothing",
    "IngressCidr": "who may connect; the load balancer's traffic is priced from the usage",
    "AvailabilityZones": "names the zones; their number is the template's subnets",
    "CertificateArn": "public ACM certificates are free",
    "SslPolicy": "a listener setting, no charge",
    "IdleTimeoutSeconds": "a load balancer setting, no charge",
    "DeregistrationDelaySeconds": "a target group setting, no charge",
    "DbMaxAllocatedStorage": "storage autoscaling's ceiling: storage is priced at "
                             "DbAllocatedStorage until it grows",
    "DeletionProtection": "a safety switch, no charge",
    "UploadsNoncurrentExpirationDays": "old versions of uploads are not modelled",
    "ArtifactsExpirationDays": "the artifacts bucket is not modelled (a few bundles)",
    "LogRetentionDays": _AGENT_RETENTION,
    "SecurityLogRetentionDays": _AGENT_RETENTION,
    "App5xxRatePercent": "an alarm threshold; the alarms are priced from the settings",
    "AppP95LatencySeconds": "an alarm threshold; the alarms are priced from the settings",
    "AlarmTopicArn": "SNS notifications are not modelled",
    "EcrRepositoryArns": "permissions of the bake's instance profile, no charge",
}  # fmt: skip


def parameter_file(env_name: str) -> Path:
    """Where environment ENV_NAME's foundation parameters live (may not exist): the file
    `golden infra` deploys, autoscaling/stacks/params/ENV.yaml."""
    return stacktemplate.parameter_file(env_name)


def _declared_check(declaration: dict, value: Any) -> str | None:
    """What VALUE breaks of the template's declaration (AllowedValues, AllowedPattern,
    MinValue, MaxValue), or None."""
    text = stacktemplate.as_parameter_text(value)
    allowed = declaration.get("AllowedValues")
    if allowed is not None and text not in [stacktemplate.as_parameter_text(v) for v in allowed]:
        return f"one of {', '.join(map(stacktemplate.as_parameter_text, allowed))}"
    pattern = declaration.get("AllowedPattern")
    if pattern is not None and not re.fullmatch(pattern, text):
        return f"a value matching {pattern}"
    low, high = declaration.get("MinValue"), declaration.get("MaxValue")
    if low is not None and float(text) < float(low):
        return f"at least {low}"
    if high is not None and float(text) > float(high):
        return f"at most {high}"
    return None


def _read(key: str, declaration: dict, value: Any, where: str) -> Any:
    """VALUE of the priced parameter KEY, checked against DECLARATION; WHERE: the file."""
    _field, parse = PRICED[key]
    try:
        parsed = parse(value)
        broken = _declared_check(declaration, parsed)
    except (TypeError, ValueError):
        broken = parse.expected  # type: ignore[attr-defined]
    if broken:
        raise ConfigError(f"{where}: {key}: expected {broken}, got {value!r}")
    return parsed


def _service(properties: dict) -> str:
    """An endpoint's service ("ssm") from its ServiceName (com.amazonaws.REGION.ssm)."""
    name = properties.get("ServiceName")
    name = name.get("Fn::Sub") if isinstance(name, dict) else name
    return str(name).split(".", 3)[-1] if name else ""


def _endpoints(template: StackTemplate, values: Mapping[str, Any], kind: str) -> tuple[str, ...]:
    found = stacktemplate.resources(template.data, "AWS::EC2::VPCEndpoint", values, template.path)
    return tuple(_service(p) for p in found.values() if p.get("VpcEndpointType") == kind)


def _zones(template: StackTemplate, values: Mapping[str, Any]) -> int:
    balancers = stacktemplate.resources(template.data, "AWS::ElasticLoadBalancingV2::LoadBalancer",
                                        values, template.path)  # fmt: skip
    counts = [len(p.get("Subnets") or ()) for p in balancers.values()]
    if not counts or not counts[0]:
        raise ConfigError(f"{template.path}: golden cost counts the Availability Zones from "
                          f"the load balancer's Subnets, and finds none")  # fmt: skip
    return counts[0]


def from_parameters(
    params: Mapping[str, Any], source: str, template: StackTemplate | None = None
) -> tuple[Foundation, list[str]]:
    """The Foundation that PARAMS (the stack's parameter names to values) and TEMPLATE
    (default: the shipped one) describe, and a note per key of PARAMS that is not priced.
    Raises ConfigError naming SOURCE and the key when a priced value breaks the template's
    declaration, or naming the template when a priced parameter has no Default."""
    template = template or shipped_template()
    declared = template.parameters
    unpriced: dict[str, list[str]] = {}  # why -> keys, so one reason is one note
    unknown = []
    for key in params:
        if key not in declared:
            unknown.append(f"{source}: {key}: unknown to golden cost (not a parameter of "
                           f"{template.path.name}), ignored")  # fmt: skip
        elif key not in PRICED:
            why = NOT_PRICED.get(key, "golden cost has no rule for it yet")
            unpriced.setdefault(why, []).append(key)
    notes = [f"{source}: {', '.join(keys)}: not priced ({why})"
             for why, keys in unpriced.items()] + unknown  # fmt: skip
    values: dict[str, Any] = {}
    for key in PRICED:
        declaration = declared.get(key)
        if declaration is None or (key not in params and "Default" not in declaration):
            raise ConfigError(f"{template.path}: Parameters.{key}: golden cost prices it and "
                              f"needs its declaration with a Default")  # fmt: skip
        if key in params:
            values[key] = _read(key, declaration, params[key], source)
        else:
            values[key] = _read(key, declaration, declaration["Default"],
                                f"{template.path}: Parameters.{key}.Default")  # fmt: skip
    offer = _endpoints(template, {**values, "InterfaceEndpoints": True}, "Interface")
    found = Foundation(
        availability_zones=_zones(template, values),
        s3_gateway_endpoint="s3" in _endpoints(template, values, "Gateway"),
        interface_endpoints=_endpoints(template, values, "Interface"),
        endpoint_offer=offer,
        **{PRICED[k][0]: v for k, v in values.items() if PRICED[k][0]},  # type: ignore[misc]
    )
    return found, notes


def defaults(template: StackTemplate | None = None) -> Foundation:
    """The foundation with no parameter file: every priced parameter at TEMPLATE's Default."""
    return from_parameters({}, "(no parameter file)", template)[0]


def parameters_from(data: Any) -> dict[str, Any]:
    """The parameters of a parsed parameter file, in any of the usual shapes: a plain
    mapping (golden's autoscaling/stacks/params/ENV.yaml), CloudFormation's list of
    {"ParameterKey", "ParameterValue"} (also what DescribeStacks answers), or a
    {"Parameters": {...}} template configuration. Raises ValueError for anything else."""
    if isinstance(data, list):
        if not all(isinstance(p, dict) and "ParameterKey" in p for p in data):
            raise ValueError("expected ParameterKey/ParameterValue entries")
        return {str(p["ParameterKey"]): p.get("ParameterValue") for p in data}
    if isinstance(data, dict):
        inner = data.get("Parameters")
        return {str(k): v for k, v in (inner if isinstance(inner, dict) else data).items()}
    if data is None:
        return {}
    raise ValueError("expected a list or a mapping of parameters")


def read_foundation(path: Path, template: StackTemplate | None = None
                    ) -> tuple[Foundation, list[str]]:  # fmt: skip
    """The foundation described by the parameter file at PATH (YAML or JSON) and TEMPLATE
    (default: the shipped one), and notes for the reader. A missing file gives the
    template's defaults and a note saying so; a file that is not a parameter file raises
    ConfigError naming it."""
    if not path.is_file():
        return defaults(template), [f"no foundation parameter file at {path}: the template's "
                                    f"defaults"]  # fmt: skip
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path}: not valid JSON or YAML: {exc}") from None
    try:
        params = parameters_from(data)
    except ValueError as exc:
        raise ConfigError(f"{path}: not a stack parameter file: {exc}") from None
    return from_parameters(params, str(path), template)


def describe(foundation: Foundation) -> dict[str, Any]:
    """FOUNDATION as plain data (for --json and the notes)."""
    return {f.name: getattr(foundation, f.name) for f in fields(foundation)}
