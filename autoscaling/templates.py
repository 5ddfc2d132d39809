"""Launch-template data an environment wants for a role (pure).

Security defaults are not settings: every version this tool writes requires IMDSv2
(HttpTokens=required; hop limit 2 so containers on the instance reach it) and has an
encrypted gp3 root volume. ImageId is not part of the managed data: only a release
changes it.
"""

from __future__ import annotations

import base64
import copy

from golden.core import instance_doc
from golden.core import tags as T

from autoscaling.settings import Environment, Role

MANAGED_KEYS = (
    "InstanceType",
    "IamInstanceProfile",
    "SecurityGroupIds",
    "MetadataOptions",
    "BlockDeviceMappings",
    "UserData",
    "TagSpecifications",
    "Monitoring",
)

METADATA_OPTIONS = {
    "HttpTokens": "required",
    "HttpEndpoint": "enabled",
    "HttpPutResponseHopLimit": 2,
}


def user_data(env: Environment, role: str) -> str:
    """Base64 of the cloud-config that writes the instance settings document."""
    text = instance_doc.render_user_data(env.instance_document(role))
    return base64.b64encode(text.encode()).decode()


def decode_user_data(value: str | None) -> str | None:
    if not value:
        return None
    try:
        # validate: plain text (moto may answer the decoded script) is not base64.
        return base64.b64decode(value, validate=True).decode()
    except (ValueError, UnicodeDecodeError):
        return value


def _tag_list(tags: dict[str, str]) -> list[dict]:
    return [{"Key": k, "Value": v} for k, v in sorted(tags.items())]


def desired_data(env: Environment, role: Role, security_group_ids: list[str]) -> dict:
    root = role["root_volume"]
    ebs = {
        "VolumeSize": root["size_gb"],
        "VolumeType": "gp3",
        "Iops": root["iops"],
        "Throughput": root["throughput"],
        "Encrypted": True,
        "DeleteOnTermination": True,
    }
    if root.get("kms_key_id"):
        ebs["KmsKeyId"] = root["kms_key_id"]
    profile = role["instance_profile"]
    tags = env.tags(role.name)
    if role["data_volume"]:
        tags[T.DATA_VOLUME] = role["data_volume"]["name_tag"]
    return {
        "InstanceType": role["instance_type"],
        "IamInstanceProfile": {"Arn": profile} if profile.startswith("arn:") else {"Name": profile},
        "SecurityGroupIds": sorted(security_group_ids),
        "MetadataOptions": dict(METADATA_OPTIONS),
        "BlockDeviceMappings": [{"DeviceName": root["device_name"], "Ebs": ebs}],
        "UserData": user_data(env, role.name),
        "TagSpecifications": [
            {"ResourceType": "instance", "Tags": _tag_list(tags)},
            {"ResourceType": "volume", "Tags": _tag_list(tags)},
        ],
        "Monitoring": {"Enabled": True},
    }


def managed(data: dict) -> dict:
    """The part of a version's data this tool owns, normalised for comparison."""
    out = {}
    for key in MANAGED_KEYS:
        if key not in data or data[key] in (None, [], {}):
            continue
        value = copy.deepcopy(data[key])
        if key == "SecurityGroupIds":
            value = sorted(value)
        elif key == "TagSpecifications":
            # Only the instance and volume specs are ours (moto also copies the
            # launch-template's own tags in here).
            value = sorted(
                (
                    {
                        "ResourceType": s["ResourceType"],
                        "Tags": sorted(s.get("Tags", []), key=lambda t: t["Key"]),
                    }
                    for s in value
                    if s.get("ResourceType") in ("instance", "volume")
                ),
                key=lambda s: s["ResourceType"],
            )
        elif key == "UserData":
            value = decode_user_data(value)
        elif key == "MetadataOptions":
            value = {k: v for k, v in value.items() if k in METADATA_OPTIONS}
        out[key] = value
    return out


def differences(current: dict, desired: dict) -> dict[str, tuple]:
    """{key: (current, desired)} for every managed key that differs."""
    have, want = managed(current), managed(desired)
    return {k: (have.get(k), want.get(k)) for k in MANAGED_KEYS if have.get(k) != want.get(k)}


def security_problems(data: dict) -> list[str]:
    """Checks every version the tool writes must pass (defence against a bad merge)."""
    problems = []
    if (data.get("MetadataOptions") or {}).get("HttpTokens") != "required":
        problems.append("MetadataOptions.HttpTokens must be 'required' (IMDSv2)")
    for mapping in data.get("BlockDeviceMappings") or []:
        ebs = mapping.get("Ebs") or {}
        if ebs and (not ebs.get("Encrypted") or ebs.get("VolumeType") != "gp3"):
            problems.append(f"volume {mapping.get('DeviceName')} must be encrypted gp3")
    return problems


# Fields AWS adds to a version's data in its answers that are not launch parameters.
_ANSWER_ONLY = {"MetadataOptions": ("State",)}
# Metadata options at their documented defaults launch the same instance as omitted ones
# (LaunchTemplateInstanceMetadataOptionsRequest: HttpEndpoint enabled, hop limit 1,
# HttpProtocolIpv6 and InstanceMetadataTags disabled).
_METADATA_DEFAULTS = {
    "HttpEndpoint": "enabled",
    "HttpPutResponseHopLimit": 1,
    "HttpProtocolIpv6": "disabled",
    "InstanceMetadataTags": "disabled",
}


def _canonical(key: str, value):
    """One launch parameter, normalised so that equal launches compare equal."""
    value = copy.deepcopy(value)
    if key == "UserData":
        return decode_user_data(value)
    if key in ("SecurityGroupIds", "SecurityGroups"):
        return sorted(value)
    if key == "TagSpecifications":
        return sorted(
            (
                {
                    "ResourceType": s.get("ResourceType"),
                    "Tags": sorted(s.get("Tags", []), key=lambda t: t["Key"]),
                }
                for s in value
            ),
            key=lambda s: str(s["ResourceType"]),
        )
    if key == "MetadataOptions" and isinstance(value, dict):
        return {
            k: v
            for k, v in value.items()
            if k not in _ANSWER_ONLY[key] and _METADATA_DEFAULTS.get(k, object()) != v
        }
    return value


def launch_identity(data: dict) -> dict:
    """What instances launched from a version get: EVERY launch parameter of its
    LaunchTemplateData (ImageId, UserData, instance type, network, volumes, tags ...),
    empty ones dropped, order-free lists sorted, UserData decoded, answer-only fields
    removed. Two versions are the same release exactly when these are equal."""
    return {
        key: _canonical(key, value)
        for key, value in sorted(data.items())
        if value not in (None, [], {}, "")
    }


def identity_differences(have: dict, want: dict) -> list[str]:
    """The launch parameters in which two versions' data differ (empty: same release)."""
    a, b = launch_identity(have), launch_identity(want)
    return sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))


def release_data(current: dict, ami_id: str, user_data_b64: str) -> dict:
    """The data of the version a release creates from CURRENT (the group's version, the
    SourceVersion): CURRENT with the new ImageId, freshly rendered user data and the
    IMDSv2 metadata options; everything else inherited."""
    data = copy.deepcopy(current)
    data["ImageId"] = ami_id
    data["UserData"] = user_data_b64
    data["MetadataOptions"] = dict(METADATA_OPTIONS)
    return data


def release_overrides(ami_id: str, user_data_b64: str) -> dict:
    """The LaunchTemplateData a release sends with SourceVersion (see release_data)."""
    return {
        "ImageId": ami_id,
        "UserData": user_data_b64,
        "MetadataOptions": dict(METADATA_OPTIONS),
    }
