"""The state tree renders for every role, platform and OS it supports, with the pillars
the repository ships and with pillar.example."""

import json

import pytest
import yaml

from .conftest import REPO


def state_ids(highstate: dict) -> set[str]:
    assert isinstance(highstate, dict), f"render failed: {highstate}"
    return set(highstate)


@pytest.mark.parametrize("os_name", ["Debian", "Ubuntu"])
@pytest.mark.parametrize("platform", ["aws", "twin"])
def test_app_role_renders(minion_factory, platform, os_name):
    ids = state_ids(minion_factory("app", platform, os_name).show_highstate())
    for sid in ("nginx-site-config-managed", "app-service-running", "docker-service-running",
                "hardening-firewall-rules-managed", "cloudwatch-agent-config-managed",
                "golden-salt-minion-config-managed", "base-chrony-service-running"):
        assert sid in ids


def test_chroma_role_has_no_app_states(minion_factory):
    ids = state_ids(minion_factory("chroma", "aws", "Ubuntu").show_highstate())
    assert "docker-service-running" in ids
    assert not any(sid.startswith(("app-", "nginx-")) for sid in ids)


def test_compose_v2_source_follows_os(minion_factory):
    debian = minion_factory("app", "aws", "Debian").show_highstate()
    ubuntu = minion_factory("app", "aws", "Ubuntu").show_highstate()
    assert "docker-compose-v2-installed" in debian
    assert "docker-compose-v2-installed" not in ubuntu
    pkgs = ubuntu["docker-engine-installed"]["pkg"]
    assert {"docker-compose-v2", "docker.io"} <= set(next(a["pkgs"] for a in pkgs
                                                          if isinstance(a, dict) and "pkgs" in a))


def test_twin_pillar_differs_only_where_documented(minion_factory):
    aws = minion_factory("app", "aws", "Debian").pillar()
    twin = minion_factory("app", "twin", "Debian").pillar()
    documented = yaml.safe_load((REPO / "pillar" / "twin.sls").read_text())
    for section, values in documented.items():
        for key, value in values.items():
            assert twin[section][key] == value
            assert aws.get(section, {}).get(key) != value, f"{section}:{key} is not a difference"
    assert twin["golden"]["platform"] == "twin" and aws["golden"]["platform"] == "aws"


def test_twin_sysctls_leave_host_wide_keys_unapplied(minion_factory):
    twin = minion_factory("app", "twin", "Debian").show_highstate()
    aws = minion_factory("app", "aws", "Debian").show_highstate()
    assert "base-sysctl-fs.file-max-set" in aws
    assert "base-sysctl-fs.file-max-set" not in twin
    assert "base-sysctl-net.core.somaxconn-set" in twin


@pytest.mark.parametrize("os_name", ["Debian", "Ubuntu"])
def test_pillar_example_renders(minion_factory, example_pillar_root, os_name):
    minion = minion_factory("app", "aws", os_name, pillar_root=example_pillar_root)
    highstate = minion.show_highstate()
    ids = state_ids(highstate)
    # The example pins registry images by digest: they are pulled, not loaded.
    assert "app-image-backend-pulled-by-digest" in ids
    assert "app-images-loaded-from-archive" not in ids


def test_pillar_example_documents_every_schema_key(example_pillar_root):
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "golden_pillar", REPO / "salt" / "_modules" / "golden_pillar.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    schema = json.loads((REPO / "schemas" / "pillar.schema.json").read_text())
    example = yaml.safe_load((REPO / "pillar" / "pillar.example").read_text())

    def keys(properties, prefix=""):
        for key, spec_ in properties.items():
            path = f"{prefix}{key}"
            if "properties" in spec_:
                yield from keys(spec_["properties"], path + ":")
            else:
                yield path

    def has(data, path):
        for part in path.split(":"):
            if not isinstance(data, dict) or part not in data:
                return False
            data = data[part]
        return True

    missing = [path for path in keys(schema["properties"]) if not has(example, path)]
    assert missing == []
    assert module.check(example, "app") == []
