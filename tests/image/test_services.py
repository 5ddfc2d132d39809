import json

import pytest

from .conftest import ROLE

COMMON = ["docker", "ssh", "chrony", "nftables"]
BY_ROLE = {"app": COMMON + ["nginx", "app"], "chroma": COMMON, "base": COMMON}


@pytest.mark.parametrize("service", BY_ROLE[ROLE])
def test_service_is_enabled_and_running(host, service):
    svc = host.service(service)
    assert svc.is_enabled, f"{service} is not enabled"
    assert svc.is_running, f"{service} is not running"


def test_no_unit_failed(host):
    failed = host.check_output("systemctl --failed --no-legend --plain | awk '{print $1}'")
    assert failed.strip() == "", f"failed units: {failed}"


def test_salt_is_kept_for_hotfixes(host):
    assert host.file("/opt/salt/bin/salt-call").is_executable
    assert host.file("/usr/local/sbin/salt-call").linked_to == "/opt/salt/bin/salt-call"
    assert "3008." in host.check_output("/opt/salt/bin/salt-call --version")


def test_role_grain_is_set(host):
    out = host.check_output("/opt/salt/bin/salt-call --local --out=json grains.get role")
    assert json.loads(out)["local"] == ROLE
