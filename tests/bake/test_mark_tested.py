"""Marking an AMI tested talks to EC2 only through the configured endpoint. Here that is
the AWS emulator on 127.0.0.1 (moto extended; what it does not model: tag-on-create
permissions and cross-region copies, each region is its own moto backend; eventual
consistency only when a test declares it with emulator.fault)."""

from __future__ import annotations

from datetime import datetime, timezone

import boto3
import pytest
from golden.bake import marking
from golden.bake import request as bake_request
from golden.bake.request import app_images_value, is_loopback_endpoint
from golden.core import retry


@pytest.fixture
def ec2_endpoint(emulator, aws_env):
    emulator.reset()
    return emulator.url


@pytest.fixture
def sleeps() -> tuple[retry.Backoff, list[float]]:
    waited: list[float] = []
    return retry.Backoff(sleep=waited.append), waited


def _register(endpoint: str, region: str) -> str:
    ec2 = boto3.client("ec2", region_name=region, endpoint_url=endpoint)
    return ec2.register_image(
        Name=f"golden-app-0.1.0-{region}",
        RootDeviceName="/dev/sda1",
        BlockDeviceMappings=[{"DeviceName": "/dev/sda1", "Ebs": {"VolumeSize": 8}}],
    )["ImageId"]


def _tags(endpoint: str, region: str, ami: str) -> dict[str, str]:
    ec2 = boto3.client("ec2", region_name=region, endpoint_url=endpoint)
    (image,) = ec2.describe_images(ImageIds=[ami])["Images"]
    return {tag["Key"]: tag["Value"] for tag in image.get("Tags", [])}


def _snapshot_tags(endpoint: str, region: str, ami: str) -> list[dict[str, str]]:
    ec2 = boto3.client("ec2", region_name=region, endpoint_url=endpoint)
    (image,) = ec2.describe_images(ImageIds=[ami])["Images"]
    ids = [m["Ebs"]["SnapshotId"] for m in image["BlockDeviceMappings"]]
    return [
        {tag["Key"]: tag["Value"] for tag in snap.get("Tags", [])}
        for snap in ec2.describe_snapshots(SnapshotIds=ids)["Snapshots"]
    ]


def test_every_regional_copy_and_its_snapshots_get_golden_tested_true(ec2_endpoint):
    amis = {region: _register(ec2_endpoint, region) for region in ("us-east-1", "eu-west-1")}
    marked, unfinished = marking.mark_ami_tested(amis, ec2_endpoint)
    assert marked == [f"eu-west-1:{amis['eu-west-1']}", f"us-east-1:{amis['us-east-1']}"]
    assert unfinished == []
    for region, ami in amis.items():
        assert _tags(ec2_endpoint, region, ami) == {"golden:tested": "true"}
        assert _snapshot_tags(ec2_endpoint, region, ami) == [{"golden:tested": "true"}]


def test_a_fresh_ami_not_yet_visible_is_marked_after_a_bounded_wait(ec2_endpoint, emulator, sleeps):
    """AWS: "if you run a command to modify or describe the resource that you just
    created, its ID might not have propagated throughout the system, and you will get an
    error responding that the resource does not exist"
    (https://docs.aws.amazon.com/ec2/latest/devguide/eventual-consistency.html)."""
    backoff, waited = sleeps
    ami = _register(ec2_endpoint, "us-east-1")
    emulator.fault("DescribeImages", "InvalidAMIID.NotFound", times=1)
    emulator.fault("CreateTags", "InvalidAMIID.NotFound", times=2)
    marked, unfinished = marking.mark_ami_tested({"us-east-1": ami}, ec2_endpoint, backoff)
    assert (marked, unfinished) == ([f"us-east-1:{ami}"], [])
    assert _tags(ec2_endpoint, "us-east-1", ami) == {"golden:tested": "true"}
    assert waited == backoff.delays()[:1] + backoff.delays()[:2]


def test_a_region_that_cannot_be_marked_is_reported_and_the_others_are_marked(
    ec2_endpoint, emulator, sleeps
):
    backoff, waited = sleeps
    amis = {region: _register(ec2_endpoint, region) for region in ("us-east-1", "eu-west-1")}
    emulator.fault(
        "CreateTags", "InvalidAMIID.NotFound", times=100, match={"ResourceId.1": amis["eu-west-1"]}
    )
    marked, unfinished = marking.mark_ami_tested(amis, ec2_endpoint, backoff)
    assert marked == [f"us-east-1:{amis['us-east-1']}"]
    (line,) = unfinished
    assert line.startswith(f"eu-west-1:{amis['eu-west-1']}: InvalidAMIID.NotFound")
    assert "aws ec2 create-tags --region eu-west-1" in line
    assert len(waited) == backoff.attempts - 1
    assert _tags(ec2_endpoint, "eu-west-1", amis["eu-west-1"]) == {}
    assert _tags(ec2_endpoint, "us-east-1", amis["us-east-1"]) == {"golden:tested": "true"}


def test_endpoint_comes_from_the_template_var_then_the_aws_environment(monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
    monkeypatch.setenv("AWS_ENDPOINT_URL_EC2", "http://127.0.0.1:2")
    assert bake_request.ec2_endpoint({"ec2_endpoint": "http://127.0.0.1:3"}) == "http://127.0.0.1:3"
    assert bake_request.ec2_endpoint({}) == "http://127.0.0.1:2"
    monkeypatch.delenv("AWS_ENDPOINT_URL_EC2")
    assert bake_request.ec2_endpoint({}) == "http://127.0.0.1:1"


def test_only_loopback_endpoints_count_as_an_emulator():
    assert is_loopback_endpoint("http://127.0.0.1:5000")
    assert is_loopback_endpoint("http://localhost:5000/")
    assert not is_loopback_endpoint("https://ec2.us-east-1.amazonaws.com")
    assert not is_loopback_endpoint("")
    assert is_loopback_endpoint("http://[::1]:5000")
    assert not is_loopback_endpoint("http://127.0.0.1.nip.io:5000")


def test_app_images_tag_value_is_sorted_short_names_and_fits_a_tag():
    refs = [f"reg.example/agent/frontend@sha256:{'b' * 64}",
            f"reg.example/agent/backend:1.2@sha256:{'a' * 64}"]  # fmt: skip
    assert app_images_value(refs) == f"backend@sha256:{'a' * 64} frontend@sha256:{'b' * 64}"
    many = [f"r/img{i}@sha256:{str(i) * 64}" for i in range(5)]
    value = app_images_value(many)
    assert value.startswith("list-sha256:") and len(value) <= 256
    assert app_images_value([]) == "none"


def test_only_a_clean_non_empty_test_summary_counts_as_passed():
    assert marking.tests_passed({"passed": 3, "failed": 0, "skipped": 1})
    assert not marking.tests_passed({"passed": 3, "failed": 1, "skipped": 0})
    assert not marking.tests_passed({"passed": 0, "failed": 0, "skipped": 4})
    assert not marking.tests_passed(None)


def test_a_bake_whose_amis_are_not_all_marked_fails_and_records_which_were(monkeypatch):
    from types import SimpleNamespace

    from golden.bake import build
    from golden.core.errors import OperationFailed

    monkeypatch.setattr(
        build,
        "mark_ami_tested",
        lambda amis, endpoint, **_: (
            ["us-east-1:ami-1"], ["eu-west-1:ami-2: InvalidAMIID.NotFound"]
        ),
    )
    plan = SimpleNamespace(
        request=SimpleNamespace(target="aws", role="app", artifacts_bucket=None),
        packer=SimpleNamespace(endpoint=None),
        ident="app-1",
        sbom_path=None,
        checked=SimpleNamespace(region="us-east-1",
                                policy=SimpleNamespace(deprecate_after_days=90)),
    )  # fmt: skip
    summary = SimpleNamespace(tests={"passed": 3, "failed": 0, "skipped": 0})
    record: dict = {}
    found = {"amis": {"us-east-1": "ami-1", "eu-west-1": "ami-2"}}
    now = datetime(2026, 11, 30, tzinfo=timezone.utc)
    with pytest.raises(OperationFailed, match="eu-west-1:ami-2") as err:
        build._mark_tested(plan, summary, found, {}, record, SimpleNamespace(say=print), now)
    assert "marked: us-east-1:ami-1" in str(err.value)
    assert record["tested_marks"] == ["us-east-1:ami-1"]
    assert record["status"] == "partially-marked" and "tested" not in record
