"""Ports golden listens on are reserved from outgoing connections
(net.ipv4.ip_local_reserved_ports), derived from pillar (salt/_modules/golden_ports.py)."""

from __future__ import annotations

import importlib.util
import shutil

import pytest
import yaml

from .conftest import REPO


@pytest.fixture(scope="module")
def ports():
    spec = importlib.util.spec_from_file_location(
        "golden_ports", REPO / "salt" / "_modules" / "golden_ports.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# The app formula's merged settings as golden_ports reads them: every container's port
# (golden_app.ports of the sample's services).
APP = {"ports": [3000, 8001, 8002]}
NGINX = {"status_port": 8081, "tls": {"enabled": False}}


def test_app_role_listens_on_ssh_http_status_frontend_and_every_replica(ports):
    found = ports.listening("app", {"hardening": {"ssh_port": 22}, "app": APP, "nginx": NGINX})
    assert found == [22, 80, 323, 3000, 8001, 8002, 8081]
    assert ports.reserved("app", {"app": APP, "nginx": NGINX}, "1024 65535") == (
        "3000,8001-8002,8081")


def test_more_replicas_and_tls_widen_the_reservation(ports):
    settings = {"app": {"ports": [3000, *range(8001, 8006)]},
                "nginx": {**NGINX, "tls": {"enabled": True}},
                "hardening": {"ssh_port": 2222}}  # fmt: skip
    assert 443 in ports.listening("app", settings)
    assert ports.reserved("app", settings, "1024 65535") == "2222,3000,8001-8005,8081"


def test_chroma_role_reserves_its_server_and_proxy_and_extra_ports(ports):
    settings = {"chroma": {"port": 8001, "proxy_port": 8000},
                "hardening": {"extra_tcp_ports": [8000, 9100]}}  # fmt: skip
    assert ports.reserved("chroma", settings, "1024 65535") == "8000-8001,9100"


def test_only_ports_inside_the_local_range_are_listed(ports):
    settings = {"app": APP, "nginx": NGINX}
    assert ports.reserved("app", settings, "8000 8050") == "8001-8002"
    assert ports.reserved("base", {"hardening": {"ssh_port": 22}}, "1024 65535") == ""


@pytest.mark.parametrize("role, expected", [("app", "3000,8001-8002,8081"),
                                            ("chroma", "8000-8001")])  # fmt: skip
def test_the_role_highstate_sets_the_reservation_from_its_pillar(minion_factory, role, expected):
    highstate = minion_factory(role, "twin", "Debian").show_highstate()
    state = highstate["base-sysctl-net.ipv4.ip_local_reserved_ports-set"]["sysctl"]
    assert {"value": expected} in state
    assert {"config": "/etc/sysctl.d/60-golden.conf"} in state


def test_replicas_from_pillar_change_the_reservation(minion_factory, tmp_path):
    root = tmp_path / "pillar"
    shutil.copytree(REPO / "pillar", root)
    path = root / "roles" / "app.sls"
    data = yaml.safe_load(path.read_text())
    data["app"]["backend_replicas"] = 4
    path.write_text(yaml.safe_dump(data))
    highstate = minion_factory("app", "aws", "Ubuntu", pillar_root=root).show_highstate()
    state = highstate["base-sysctl-net.ipv4.ip_local_reserved_ports-set"]["sysctl"]
    assert {"value": "3000,8001-8004,8081"} in state


def test_base_role_reserves_nothing_below_the_range(minion_factory):
    highstate = minion_factory("base", "aws", "Debian").show_highstate()
    assert "base-sysctl-net.ipv4.ip_local_reserved_ports-set" not in highstate
