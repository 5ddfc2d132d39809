"""Marking an AMI tested talks to EC2 only through the configured endpoint. Here that is
moto in server mode on 127.0.0.1 (what it does not model: tag-on-create permissions and
cross-region copies; each region is its own moto backend)."""

from __future__ import annotations

import socket

import boto3
import pytest
from golden.bake import marking
from golden.bake import request as bake_request
from golden.bake.request import app_images_value, is_loopback_endpoint
from moto.server import ThreadedMotoServer


@pytest.fixture(scope="module")
def ec2_endpoint():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


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


def test_every_regional_copy_gets_golden_tested_true(ec2_endpoint):
    amis = {region: _register(ec2_endpoint, region) for region in ("us-east-1", "eu-west-1")}
    marked = marking.mark_ami_tested(amis, ec2_endpoint)
    assert marked == [f"eu-west-1:{amis['eu-west-1']}", f"us-east-1:{amis['us-east-1']}"]
    for region, ami in amis.items():
        assert _tags(ec2_endpoint, region, ami) == {"golden:tested": "true"}


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
