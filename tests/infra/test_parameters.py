"""The foundation's parameters are checked before any AWS call, each failure naming the file
and the key (golden.infra.parameters; pure, no emulator)."""

from __future__ import annotations

import copy

import pytest
from golden.core.errors import ConfigError
from golden.infra import parameters
from golden.infra import template as tmpl

from autoscaling.settings import load

DECLARED = tmpl.load().parameters
CERT = "arn:aws:acm:us-east-1:123456789012:certificate/0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b"
GOOD = {
    "VpcCidr": "10.40.0.0/16",
    "AvailabilityZones": ["us-east-1a", "us-east-1b"],
    "PublicSubnetCidrs": ["10.40.0.0/24", "10.40.1.0/24"],
    "PrivateSubnetCidrs": ["10.40.16.0/20", "10.40.32.0/20"],
    "CertificateArn": CERT,
}


def _build(file_values: dict, raw: dict | None = None) -> dict[str, str]:
    raw = raw or load("staging").raw
    return parameters.build(DECLARED, parameters.from_settings(raw, None), file_values,
                            "params.yaml", "staging.yaml", "us-east-1")  # fmt: skip


def test_good_parameters_become_cloudformation_text_with_defaults_filled():
    values = _build(GOOD)
    assert values["AvailabilityZones"] == "us-east-1a,us-east-1b"
    assert values["PrivateSubnetCidrs"] == "10.40.16.0/20,10.40.32.0/20"
    assert values["NatGateways"] == "1" and values["DbBackupRetentionDays"] == "7"
    assert values["SsmPath"] == "/golden/staging/" and values["NamePrefix"] == "golden-staging"
    assert values["EcrRepositoryArns"] == ""


@pytest.mark.parametrize(
    ("changes", "key", "words"),
    [
        # CIDRs that overlap, leave the VPC, or are no network at all
        ({"PrivateSubnetCidrs": ["10.40.1.0/24", "10.40.32.0/20"]}, "PrivateSubnetCidrs",
         "10.40.1.0/24 overlaps 10.40.1.0/24 (PublicSubnetCidrs)"),
        ({"PublicSubnetCidrs": ["10.40.0.0/23", "10.40.1.0/24"]}, "PublicSubnetCidrs",
         "overlaps 10.40.0.0/23"),
        ({"PublicSubnetCidrs": ["10.41.0.0/24", "10.40.1.0/24"]}, "PublicSubnetCidrs",
         "10.41.0.0/24 is not inside VpcCidr 10.40.0.0/16"),
        ({"PrivateSubnetCidrs": ["10.40.10.0/22", "10.40.32.0/20"]}, "PrivateSubnetCidrs",
         "expected an IPv4 network"),
        ({"VpcCidr": "10.32.0.0/12"}, "VpcCidr", "expected a /16 to /24 range"),
        ({"IngressCidr": "everyone"}, "IngressCidr", "expected an IPv4 network"),
        # Two zones of the region, two subnets of each kind
        ({"AvailabilityZones": ["us-east-1a"]}, "AvailabilityZones", "expected 2 different"),
        ({"AvailabilityZones": ["us-east-1a", "us-east-1b", "us-east-1c"]}, "AvailabilityZones",
         "expected 2 different"),
        ({"AvailabilityZones": ["us-east-1a", "us-east-1a"]}, "AvailabilityZones",
         "expected 2 different"),
        ({"AvailabilityZones": ["us-east-1a", "us-west-2b"]}, "AvailabilityZones",
         "zones of the environment's region us-east-1"),
        ({"PublicSubnetCidrs": ["10.40.0.0/24"]}, "PublicSubnetCidrs",
         "expected 2 ranges, one per Availability Zone, got 1"),
        # ARN forms and regions
        ({"CertificateArn": "arn:aws:iam::123456789012:server-certificate/site"},
         "CertificateArn", "expected an ACM ARN"),
        ({"CertificateArn": CERT.replace("us-east-1", "eu-west-1")}, "CertificateArn",
         "is in eu-west-1; the stack is in us-east-1"),
        ({"AlarmTopicArn": "arn:aws:sqs:us-east-1:123456789012:alarms"}, "AlarmTopicArn",
         "expected an SNS ARN"),
        ({"EcrRepositoryArns": ["arn:aws:ecr:us-east-1:123456789012:repo/app"]},
         "EcrRepositoryArns", "expected an ECR ARN"),
        # The template's own declarations
        ({"NatGateways": 3}, "NatGateways", "expected one of 0, 1, 2"),
        ({"DbBackupRetentionDays": 0}, "DbBackupRetentionDays", "expected at least 1"),
        ({"LogRetentionDays": 31}, "LogRetentionDays", "expected one of"),
        ({"DbInstanceClass": "t3.medium"}, "DbInstanceClass", "expected a value matching"),
        ({"CacheNodes": "two"}, "CacheNodes", "expected a number"),
        ({"VpcCidr": ["10.40.0.0/16"]}, "VpcCidr", "expected a single value"),
        # Rules between keys
        ({"DbAllocatedStorage": 200, "DbMaxAllocatedStorage": 100}, "DbMaxAllocatedStorage",
         "expected at least DbAllocatedStorage (200)"),
        ({"NatGateways": 0}, "NatGateways", "0 needs InterfaceEndpoints: true"),
        # Keys that are not the file's
        ({"VpcCidrr": "10.40.0.0/16"}, "VpcCidrr", "no such parameter of the foundation"),
        ({"SsmPath": "/other/"}, "SsmPath", "set by golden from the settings (instance.ssm_path)"),
    ],
)  # fmt: skip
def test_each_bad_parameter_is_refused_naming_the_file_and_key(changes, key, words):
    with pytest.raises(ConfigError) as caught:
        _build({**GOOD, **changes})
    assert str(caught.value).startswith(f"params.yaml: {key}: "), str(caught.value)
    assert words in str(caught.value)


def test_a_required_parameter_missing_is_named():
    with pytest.raises(ConfigError, match=r"^params.yaml: CertificateArn: required"):
        _build({k: v for k, v in GOOD.items() if k != "CertificateArn"})


def test_settings_values_are_checked_too_naming_the_settings_key():
    raw = copy.deepcopy(load("staging").raw)
    raw["instance"]["ssm_path"] = "golden/staging"
    with pytest.raises(ConfigError, match=r"^staging.yaml: instance.ssm_path \(foundation "
                                          r"parameter SsmPath\): expected a value matching"):
        _build(GOOD, raw)
    raw = copy.deepcopy(load("staging").raw)
    raw["artifacts_bucket"] = None
    with pytest.raises(ConfigError, match=r"^artifacts_bucket: the foundation stack creates it"):
        _build(GOOD, raw)
    raw["artifacts_bucket"] = "b-artifacts"
    raw["environment"] = "a-very-long-environment"
    with pytest.raises(ConfigError, match=r"^environment: 'a-very-long-environment' is too long"):
        _build(GOOD, raw)


def test_lb_timeouts_from_the_chain_replace_the_template_defaults():
    raw = load("staging").raw
    values = parameters.build(DECLARED, parameters.from_settings(
        raw, {"idle_timeout": 400, "deregistration_delay": 390}), GOOD, "p", "s", "us-east-1")
    assert values["IdleTimeoutSeconds"] == "400" and values["DeregistrationDelaySeconds"] == "390"
