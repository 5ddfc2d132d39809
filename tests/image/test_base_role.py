"""The base image (golden bake --role base): OS, hardening, Docker, Salt and the CloudWatch
agent, and nothing of a role. Role bakes start from it (--from-base) and add their own."""

import json

import pytest

pytestmark = pytest.mark.base_role


def test_no_application_is_installed(host):
    for package in ("nginx", "nginx-core"):
        assert not host.package(package).is_installed, package
    for path in ("/opt/app", "/etc/nginx", "/etc/chroma", "/var/lib/chroma"):
        assert not host.file(path).exists, path


def test_no_role_unit_and_no_boot_step(host):
    # The boot step belongs to instances of a role: a role bake starting from this image
    # must boot without instance settings.
    for unit in ("app", "chroma", "nginx", "golden-boot"):
        assert not host.file(f"/etc/systemd/system/{unit}.service").exists, unit
    assert host.run("systemctl cat golden-boot.service").rc != 0


def test_docker_holds_no_images(host):
    assert host.check_output("docker image ls -q") == ""


def test_only_ssh_is_open_in_the_firewall(host):
    ruleset = host.check_output("nft list table inet golden_filter")
    ports = {int(word) for line in ruleset.splitlines() if "tcp dport" in line
             for word in line.split() if word.isdigit()}  # fmt: skip
    assert ports == {22}


def test_image_json_says_base_and_names_no_base_of_its_own(host):
    record = json.loads(host.file("/etc/golden/image.json").content_string)
    assert record["role"] == "base"
    assert "base" not in record
