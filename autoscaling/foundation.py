"""The foundation stack's outputs and the environment settings: which settings key each
output stands for, and where the two disagree (pure), plus reading the outputs (adapter).

The stack (autoscaling/stacks/foundation.yaml, deployed by `golden infra apply ENV`)
creates the network, load balancer, data stores, instance profiles and alarms that the
settings (autoscaling/environments/ENV.yaml) name. `golden infra outputs ENV --write`
writes its outputs into the settings; when the settings name the stack
(``foundation_stack``), `golden env plan|apply` compares them before anything else and
refuses when they disagree, so the groups never launch into a network, profile or alarm
set other than the stack's.

A settings path is a tuple of keys, e.g. ("roles", "app", "subnets"). Values are compared
after resolution: subnets, security groups and target groups as IDs/ARNs (the settings
may name them by Name tag or name), instance profiles by name, alarms as sets.
"""

from __future__ import annotations

from botocore.exceptions import ClientError
from golden.core.errors import ConfigError, PreflightError

from autoscaling import awsstate

Path = tuple[str, ...]

# Output key -> (settings path, how to read the output's text).
_LIST = "list"
_ONE_LIST = "one-item list"
_TEXT = "text"
_INT = "int"
OUTPUTS: dict[str, tuple[Path, str]] = {
    "PrivateSubnetIds": (("roles", "app", "subnets"), _LIST),
    "AppSecurityGroupId": (("roles", "app", "security_groups"), _ONE_LIST),
    "AppTargetGroupArn": (("roles", "app", "target_groups"), _ONE_LIST),
    "AppInstanceProfileName": (("roles", "app", "instance_profile"), _TEXT),
    "AppAlarmNames": (("roles", "app", "alarms"), _LIST),
    "ChromaSubnetId": (("roles", "chroma", "subnets"), _ONE_LIST),
    "ChromaSecurityGroupId": (("roles", "chroma", "security_groups"), _ONE_LIST),
    "ChromaInstanceProfileName": (("roles", "chroma", "instance_profile"), _TEXT),
    "ChromaAlarmNames": (("roles", "chroma", "alarms"), _LIST),
    "ChromaDataVolumeName": (("roles", "chroma", "data_volume", "name_tag"), _TEXT),
    "DatabaseEndpoint": (("instance", "database", "host"), _TEXT),
    "DatabasePort": (("instance", "database", "port"), _INT),
    "CacheEndpoint": (("instance", "redis", "host"), _TEXT),
    "CachePort": (("instance", "redis", "port"), _INT),
    "UploadsBucketName": (("instance", "s3", "bucket"), _TEXT),
    "ArtifactsBucketName": (("artifacts_bucket",), _TEXT),
    "SsmPath": (("instance", "ssm_path"), _TEXT),
    "LogGroupPrefix": (("instance", "log_group_prefix"), _TEXT),
}
# What the stack builds that has no output of its own: ElastiCache with in-transit
# encryption and AUTH, so the app must speak TLS and send the token.
FIXED: dict[Path, object] = {
    ("instance", "redis", "tls"): True,
    ("instance", "redis", "auth"): True,
    ("instance", "database", "sslmode"): "verify-full",
}
# Compared as sets (their order carries no meaning).
UNORDERED = {("roles", "app", "alarms"), ("roles", "chroma", "alarms"),
             ("roles", "app", "subnets"), ("roles", "app", "security_groups")}  # fmt: skip


def _value(text: str, kind: str):
    if kind == _LIST:
        return [item for item in text.split(",") if item]
    if kind == _ONE_LIST:
        return [text]
    if kind == _INT:
        return int(text)
    return text


def expected(outputs: dict[str, str], roles: list[str]) -> dict[Path, object]:
    """{settings path: the value the stack's OUTPUTS (OutputKey -> OutputValue) give it},
    for the settings' ROLES only. An output the stack lacks is left out."""
    out: dict[Path, object] = {}
    for key, (path, kind) in OUTPUTS.items():
        if path[0] == "roles" and path[1] not in roles:
            continue
        if key in outputs:
            out[path] = _value(outputs[key], kind)
    out.update(FIXED)
    return out


def lookup(raw: dict, path: Path):
    """The settings value at PATH (None when a key on the way is missing or null)."""
    node = raw
    for key in path:
        if not isinstance(node, dict) or node.get(key) is None:
            return None
        node = node[key]
    return node


_DOC_PATHS: dict[Path, Path] = {
    ("instance", "database", "host"): ("database", "host"),
    ("instance", "database", "port"): ("database", "port"),
    ("instance", "database", "sslmode"): ("database", "sslmode"),
    ("instance", "redis", "host"): ("redis", "host"),
    ("instance", "redis", "port"): ("redis", "port"),
    ("instance", "s3", "bucket"): ("s3", "bucket"),
    ("instance", "ssm_path"): ("ssm", "path"),
    ("instance", "log_group_prefix"): ("logs", "group_prefix"),
}


def current(raw: dict, document: dict, resolved: dict[str, dict]) -> dict[Path, object]:
    """The settings' values in the stack's terms. RAW: the validated settings; DOCUMENT: an
    instance settings document built from them (defaults filled in: sslmode, redis tls and
    auth); RESOLVED: {role: {"subnets": [ids], "security_groups": [ids], "target_groups":
    [arns]}} for the roles compared (names resolved in AWS)."""
    out: dict[Path, object] = {path: lookup(document, doc_path)
                               for path, doc_path in _DOC_PATHS.items()}  # fmt: skip
    out[("instance", "redis", "tls")] = bool(document["redis"].get("tls"))
    out[("instance", "redis", "auth")] = bool(document["redis"].get("auth"))
    out[("artifacts_bucket",)] = raw.get("artifacts_bucket")
    for role, ids in resolved.items():
        settings = raw["roles"][role]
        for key in ("subnets", "security_groups", "target_groups"):
            value = ids.get(key)
            out[("roles", role, key)] = list(value) if value is not None else None
        out[("roles", role, "instance_profile")] = profile_name(settings["instance_profile"])
        out[("roles", role, "alarms")] = list(settings.get("alarms") or [])
        out[("roles", role, "data_volume", "name_tag")] = lookup(settings,
                                                                 ("data_volume", "name_tag"))
    return out


def _same(path: Path, have, want) -> bool:
    if path in UNORDERED and isinstance(have, list) and isinstance(want, list):
        return sorted(have) == sorted(want)
    return have == want


def disagreements(current: dict[Path, object], wanted: dict[Path, object]) -> list[tuple]:
    """[(path, the settings' value, the stack's value)] for every path whose values differ.
    CURRENT holds the settings' values, resolved like the stack's (IDs, names)."""
    return [(path, current.get(path), want) for path, want in wanted.items()
            if not _same(path, current.get(path), want)]  # fmt: skip


def profile_name(value: str | None) -> str | None:
    """An instance profile's name from a name or an ARN (…:instance-profile/PATH/NAME)."""
    if value and value.startswith("arn:"):
        return value.rsplit("/", 1)[-1]
    return value


def dotted(path: Path) -> str:
    return ".".join(path)


def describe(problems: list[tuple], stack: str, env_name: str) -> str:
    """The message for settings that disagree with the stack, one line per key."""
    lines = [f"{dotted(path)}: the settings say "
             f"{'nothing (or names that do not resolve)' if have is None else repr(have)}, "
             f"the foundation stack {stack} has {want!r}" for path, have, want in problems]
    return (
        "the settings disagree with the foundation stack they name (foundation_stack); "
        f"write the stack's values with `golden infra outputs {env_name} --write`:\n  "
        + "\n  ".join(lines)
    )


# -- adapter -------------------------------------------------------------------------------
def resolve_network(env, clients, roles: list[str]) -> dict[str, dict]:
    """Per role, the settings' subnets, security groups and target groups as IDs/ARNs, read
    from AWS (names by Name tag or name); a name that does not resolve gives None, which
    agrees with no stack."""
    out: dict[str, dict] = {}
    for name in roles:
        role = env.role(name)
        source = f"{env.path}: roles.{name}"
        ids: dict[str, list | None] = {}
        for key, resolve, client in (
            ("subnets", awsstate.resolve_subnets, clients.ec2),
            ("security_groups", awsstate.resolve_security_groups, clients.ec2),
            ("target_groups", awsstate.resolve_target_groups, clients.elbv2),
        ):
            try:
                ids[key] = resolve(client, role[key], source)
            except PreflightError:
                ids[key] = None
        out[name] = ids
    return out


def check(env, clients, roles: list[str]) -> None:
    """Refuse settings that disagree with the foundation stack they name (ConfigError
    listing every key with the settings' value and the stack's). No stack named: nothing
    to check; a named stack that does not exist or is not finished: PreflightError."""
    stack = env.raw.get("foundation_stack")
    if not stack or not roles:
        return
    outputs = read_outputs(clients.cloudformation, stack)
    if outputs is None:
        raise PreflightError(
            f"{env.path}: foundation_stack: no stack {stack} in {env.region} (create it with "
            f"`golden infra apply {env.name} --yes`, or set foundation_stack: null)"
        )
    have = current(env.raw, env.instance_document(roles[0]), resolve_network(env, clients, roles))
    problems = disagreements(have, expected(outputs, roles))
    if problems:
        raise ConfigError(f"{env.path}: " + describe(problems, stack, env.name))
READY = ("CREATE_COMPLETE", "UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE")


def read_outputs(cloudformation, stack_name: str) -> dict[str, str] | None:
    """The stack's outputs (OutputKey -> OutputValue); None when no such stack exists.
    Raises PreflightError when the stack exists but is not in a finished, usable state."""
    try:
        stacks = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    except ClientError as exc:
        if "does not exist" in str(exc.response.get("Error", {}).get("Message", "")):
            return None
        raise
    if not stacks:
        return None
    status = stacks[0]["StackStatus"]
    if status not in READY:
        raise PreflightError(
            f"foundation stack {stack_name} is {status}, not ready (expected one of "
            f"{', '.join(READY)}); see `golden infra apply` or `golden infra destroy`"
        )
    return {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs") or []}
