"""The foundation stack's parameter values, checked before any AWS call (pure).

Two sources: the environment settings (autoscaling/environments/ENV.yaml) give the names,
ports, buckets, paths and the load balancer's part of the timeout chain, so the stack and
the settings cannot drift apart; the parameter file (autoscaling/stacks/params/ENV.yaml)
gives everything else (network ranges, zones, sizes, the certificate). A key may come
from one source only.

Every value is checked against the template's own declaration (Type, AllowedValues,
AllowedPattern, MinValue/MaxValue, MinLength/MaxLength) and then against the rules a
declaration cannot state: the subnets lie inside the VPC and do not overlap, there are two
zones in the environment's region and two subnets of each kind, ARNs have their service's
form and region, storage autoscaling starts above the initial size, no NAT needs the
interface endpoints. A failure raises ConfigError naming the file and the key.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from typing import Any

from golden.core.errors import ConfigError

# Parameter -> the settings key it comes from (how golden fills it, and the message that
# tells where to change it).
FROM_SETTINGS = {
    "EnvironmentName": "environment",
    "NamePrefix": "environment (golden-ENV)",
    "ChromaGroupName": "roles.chroma.auto_scaling_group",
    "DbName": "instance.database.name",
    "DbUsername": "instance.database.user",
    "DbPort": "instance.database.port",
    "RedisPort": "instance.redis.port",
    "ChromaProxyPort": "instance.chroma.port",
    "UploadsBucketName": "instance.s3.bucket",
    "ArtifactsBucketName": "artifacts_bucket",
    "ChromaDataVolumeName": "roles.chroma.data_volume.name_tag",
    "SsmPath": "instance.ssm_path",
    "LogGroupPrefix": "instance.log_group_prefix",
    "IdleTimeoutSeconds": "roles.app.load_balancer.idle_timeout (the timeout chain)",
    "DeregistrationDelaySeconds":
        "roles.app.load_balancer.deregistration_delay (the timeout chain)",
}  # fmt: skip
# Longest NamePrefix: the load balancer's name (32) and the target group's (NAME-app, 32),
# the replication group's id (NAME-cache, 40) must fit.
NAME_PREFIX_MAX = 25
ZONES = 2
_ARN = {
    "acm": re.compile(r"^arn:aws[a-z-]*:acm:([a-z0-9-]+):\d{12}:certificate/[0-9a-f-]{36}$"),
    "sns": re.compile(r"^arn:aws[a-z-]*:sns:([a-z0-9-]+):\d{12}:[A-Za-z0-9_-]{1,256}$"),
    "ecr": re.compile(r"^arn:aws[a-z-]*:ecr:([a-z0-9-]+):\d{12}:repository/[a-z0-9][a-z0-9._/-]*$"),
}  # fmt: skip


def from_settings(raw: Mapping, lb_timeouts: dict | None) -> dict[str, Any]:
    """The parameters golden sets from the validated settings RAW. LB_TIMEOUTS: the app
    role's load-balancer timeouts from the timeout chain (autoscaling.timeouts), or None
    to keep the template's defaults. Raises ConfigError naming a settings key the stack
    needs and the settings leave empty."""
    env = raw["environment"]
    instance = raw["instance"]
    roles = raw["roles"]
    chroma = roles.get("chroma") or {}
    prefix = f"golden-{env}"
    if len(prefix) > NAME_PREFIX_MAX:
        raise ConfigError(f"environment: {env!r} is too long for the foundation's names "
                          f"(golden-ENV at most {NAME_PREFIX_MAX} characters)")  # fmt: skip
    if not raw.get("artifacts_bucket"):
        raise ConfigError("artifacts_bucket: the foundation stack creates it; give its name")
    values = {
        "EnvironmentName": env,
        "NamePrefix": prefix,
        "ChromaGroupName": chroma.get("auto_scaling_group") or f"{prefix}-chroma",
        "DbName": instance["database"]["name"],
        "DbUsername": instance["database"]["user"],
        "DbPort": instance["database"]["port"],
        "RedisPort": instance["redis"]["port"],
        "ChromaProxyPort": instance["chroma"]["port"],
        "UploadsBucketName": instance["s3"]["bucket"],
        "ArtifactsBucketName": raw["artifacts_bucket"],
        "ChromaDataVolumeName": ((chroma.get("data_volume") or {}).get("name_tag")
                                 or f"{prefix}-chroma-data"),
        "SsmPath": instance["ssm_path"],
        "LogGroupPrefix": instance["log_group_prefix"],
    }  # fmt: skip
    if lb_timeouts:
        values["IdleTimeoutSeconds"] = lb_timeouts["idle_timeout"]
        values["DeregistrationDelaySeconds"] = lb_timeouts["deregistration_delay"]
    return values


# -- one value against its declaration ------------------------------------------------------------
def _is_list(declaration: dict) -> bool:
    kind = declaration.get("Type", "String")
    return kind == "CommaDelimitedList" or kind.startswith("List<")


def _text(where: str, declaration: dict, value: Any) -> str:
    """VALUE as CloudFormation receives it (a string; lists joined with commas)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if _is_list(declaration):
        items = value if isinstance(value, list) else str(value).split(",")
        if any(isinstance(i, (list, dict)) for i in items):
            raise ConfigError(f"{where}: expected a list of strings, got {value!r}")
        return ",".join(str(i).strip() for i in items)
    if isinstance(value, (list, dict)) or value is None:
        raise ConfigError(f"{where}: expected a single value, got {value!r}")
    return str(value)


def _number(where: str, item: str) -> float:
    try:
        return float(item)
    except ValueError:
        raise ConfigError(f"{where}: expected a number, got {item!r}") from None


# Parameters whose form golden checks itself with a message that names the form (the
# template's AllowedPattern, for CloudFormation, says the same less readably).
OWN_FORMS = ("CertificateArn", "AlarmTopicArn", "EcrRepositoryArns")


def _check_declared(where: str, declaration: dict, text: str, own_form: bool = False) -> None:
    items = [i for i in text.split(",") if i] if _is_list(declaration) else [text]
    for item in items:
        allowed = declaration.get("AllowedValues")
        if allowed is not None and item not in [str(v) for v in allowed]:
            raise ConfigError(f"{where}: expected one of {', '.join(map(str, allowed))}, "
                              f"got {item!r}")  # fmt: skip
        pattern = declaration.get("AllowedPattern")
        if pattern is not None and not own_form and not re.fullmatch(pattern, item):
            raise ConfigError(f"{where}: expected a value matching {pattern}, got {item!r}")
        if declaration.get("Type") == "Number":
            number = _number(where, item)
            low, high = declaration.get("MinValue"), declaration.get("MaxValue")
            if low is not None and number < float(low):
                raise ConfigError(f"{where}: expected at least {low}, got {item}")
            if high is not None and number > float(high):
                raise ConfigError(f"{where}: expected at most {high}, got {item}")
    for bound, op, word in (("MinLength", int.__lt__, "at least"),
                            ("MaxLength", int.__gt__, "at most")):  # fmt: skip
        if bound in declaration and op(len(text), int(declaration[bound])):
            raise ConfigError(f"{where}: expected {word} {declaration[bound]} characters")


# -- rules a declaration cannot state -------------------------------------------------------------
def _network(where: str, text: str) -> ipaddress.IPv4Network:
    try:
        return ipaddress.IPv4Network(text, strict=True)
    except ValueError as exc:
        raise ConfigError(f"{where}: expected an IPv4 network like 10.40.0.0/16 ({exc}), "
                          f"got {text!r}") from None  # fmt: skip


def _check_network(values: dict[str, str], where) -> None:
    vpc = _network(where("VpcCidr"), values["VpcCidr"])
    if not 16 <= vpc.prefixlen <= 24:
        raise ConfigError(f"{where('VpcCidr')}: expected a /16 to /24 range, got {vpc}")
    seen: list[tuple[str, ipaddress.IPv4Network]] = []
    for key in ("PublicSubnetCidrs", "PrivateSubnetCidrs"):
        items = [i for i in values[key].split(",") if i]
        if len(items) != ZONES:
            raise ConfigError(f"{where(key)}: expected {ZONES} ranges, one per Availability "
                              f"Zone, got {len(items)}")  # fmt: skip
        for item in items:
            net = _network(where(key), item)
            if not net.subnet_of(vpc):
                raise ConfigError(f"{where(key)}: {net} is not inside VpcCidr {vpc}")
            if net.prefixlen > 28:
                raise ConfigError(f"{where(key)}: {net} is smaller than AWS's smallest "
                                  f"subnet (/28)")  # fmt: skip
            for other_key, other in seen:
                if net.overlaps(other):
                    raise ConfigError(f"{where(key)}: {net} overlaps {other} ({other_key})")
            seen.append((key, net))
    _network(where("IngressCidr"), values["IngressCidr"])


def _check_zones(values: dict[str, str], region: str, where) -> None:
    zones = [z for z in values["AvailabilityZones"].split(",") if z]
    if len(zones) != ZONES or len(set(zones)) != ZONES:
        raise ConfigError(f"{where('AvailabilityZones')}: expected {ZONES} different "
                          f"Availability Zones, got {zones}")  # fmt: skip
    for zone in zones:
        if not re.fullmatch(re.escape(region) + r"[a-z]", zone):
            raise ConfigError(f"{where('AvailabilityZones')}: expected zones of the "
                              f"environment's region {region} (like {region}a), got {zone!r}")


def _check_arn(key: str, kind: str, text: str, region: str, where) -> None:
    match = _ARN[kind].match(text)
    if not match:
        raise ConfigError(f"{where(key)}: expected an {kind.upper()} ARN like "
                          f"{_EXAMPLE[kind]}, got {text!r}")  # fmt: skip
    if match.group(1) != region:
        raise ConfigError(f"{where(key)}: {text} is in {match.group(1)}; the stack is in "
                          f"{region} and can only use its own region's")  # fmt: skip


_EXAMPLE = {
    "acm": "arn:aws:acm:REGION:123456789012:certificate/UUID",
    "sns": "arn:aws:sns:REGION:123456789012:TOPIC",
    "ecr": "arn:aws:ecr:REGION:123456789012:repository/NAME",
}


def _check_rules(values: dict[str, str], region: str, where) -> None:
    _check_network(values, where)
    _check_zones(values, region, where)
    _check_arn("CertificateArn", "acm", values["CertificateArn"], region, where)
    if values.get("AlarmTopicArn"):
        _check_arn("AlarmTopicArn", "sns", values["AlarmTopicArn"], region, where)
    for arn in [a for a in values.get("EcrRepositoryArns", "").split(",") if a]:
        _check_arn("EcrRepositoryArns", "ecr", arn, region, where)
    if float(values["DbMaxAllocatedStorage"]) < float(values["DbAllocatedStorage"]):
        raise ConfigError(f"{where('DbMaxAllocatedStorage')}: expected at least "
                          f"DbAllocatedStorage ({values['DbAllocatedStorage']}), got "
                          f"{values['DbMaxAllocatedStorage']}")  # fmt: skip
    if values["NatGateways"] == "0" and values["InterfaceEndpoints"] != "true":
        raise ConfigError(f"{where('NatGateways')}: 0 needs InterfaceEndpoints: true (private "
                          f"instances reach SSM, ECR and CloudWatch only through them "
                          f"without NAT)")  # fmt: skip


def build(declared: dict[str, dict], settings_values: dict[str, Any], file_values: Mapping,
          file_name: str, settings_name: str, region: str) -> dict[str, str]:  # fmt: skip
    """Every parameter's value as CloudFormation receives it (text), defaults filled in.

    DECLARED: the template's Parameters; SETTINGS_VALUES: from_settings(); FILE_VALUES:
    the parameter file's mapping; FILE_NAME / SETTINGS_NAME: the files, for messages;
    REGION: the environment's. Raises ConfigError naming the file and the key."""

    def where(key: str) -> str:
        if key in FROM_SETTINGS and key in settings_values:
            return f"{settings_name}: {FROM_SETTINGS[key]} (foundation parameter {key})"
        return f"{file_name}: {key}"

    for key in file_values:
        if key not in declared:
            raise ConfigError(f"{file_name}: {key}: no such parameter of the foundation "
                              f"template (known: {', '.join(sorted(declared))})")  # fmt: skip
        if key in FROM_SETTINGS:
            raise ConfigError(f"{file_name}: {key}: set by golden from the settings "
                              f"({FROM_SETTINGS[key]}); change it there")  # fmt: skip
    values: dict[str, str] = {}
    for key, declaration in declared.items():
        source = settings_values if key in settings_values else file_values
        if key in source:
            value = source[key]
        elif "Default" in declaration:
            value = declaration["Default"]
        else:
            raise ConfigError(f"{where(key)}: required (the template has no default: "
                              f"{declaration.get('Description', '').strip()})")  # fmt: skip
        text = _text(where(key), declaration, value)
        if text or not ("Default" in declaration and declaration["Default"] == ""):
            _check_declared(where(key), declaration, text, key in OWN_FORMS)
        values[key] = text
    _check_rules(values, region, where)
    return values
