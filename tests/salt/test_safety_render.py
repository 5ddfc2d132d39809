"""Safety paths of the rendered tree: who may read the restricted nginx locations, and the
boot-time overrides of the instance settings document reaching what they size."""

from __future__ import annotations

import json

import pytest
import yaml
from golden.core import instance_doc
from golden.instance import boot

from autoscaling.settings import ENV_DIR

from . import nginxconf
from .conftest import pillar_root_with, rendered, state_args

IMAGES = {"backend": "sha256:" + "ab" * 32, "frontend": "sha256:" + "cd" * 32}


def app_pillar_root(tmp_path, **app):
    """The repository's pillar with the app's archive manifest in a temporary file (the
    compose file names the images it pins) and ``app`` merged into roles/app.sls."""
    manifest = tmp_path / "sample-app.json"
    manifest.write_text(json.dumps({"images": {k: {"id": v} for k, v in IMAGES.items()}}))
    return pillar_root_with(tmp_path, "roles/app.sls", "app", image_manifest=str(manifest), **app)


def access_rules(block: nginxconf.Block) -> list[tuple[str, str]]:
    return [(name, args[0]) for name, args in block.directives if name in ("allow", "deny")]


def test_healthz_deps_allows_only_deps_allow_and_denies_everyone_else(minion_factory, tmp_path):
    allowed = ["10.20.0.0/16", "127.0.0.1"]
    root = pillar_root_with(tmp_path, "roles/app.sls", "nginx", deps_allow=allowed)
    highstate = minion_factory("app", "aws", "Debian", pillar_root=root).show_highstate()
    conf = nginxconf.parse(rendered(highstate, "nginx-site-config-managed"))
    deps = conf.find("location", "=", "/healthz/deps")
    assert access_rules(deps) == [("allow", a) for a in allowed] + [("deny", "all")]
    # Nothing above the location lets anyone in that the location would inherit.
    server = next(b for b in conf.blocks if b.name == "server")
    assert access_rules(server) == [] and access_rules(conf) == []


@pytest.mark.parametrize(("role", "sids"), [
    ("app", ["nginx-site-config-managed", "nginx-main-config-managed"]),
    ("chroma", ["chroma-proxy-site-config-managed", "chroma-proxy-main-config-managed"]),
])  # fmt: skip
def test_every_location_that_allows_someone_denies_everyone_else(minion_factory, role, sids):
    highstate = minion_factory(role, "aws", "Debian").show_highstate()
    restricted = 0
    for sid in sids:
        for block in nginxconf.parse(rendered(highstate, sid)).walk():
            rules = access_rules(block)
            if any(kind == "allow" for kind, _ in rules):
                restricted += 1
                assert rules[-1] == ("deny", "all"), f"{sid}: {block.name} {block.args}: {rules}"
    if role == "app":
        assert restricted >= 2  # /healthz/deps and stub_status


def _runtime_grain(overrides: dict) -> dict:
    """What the boot step records for Salt from an environment's settings with these
    role overrides (settings -> instance document -> golden_runtime grain)."""
    settings = yaml.safe_load((ENV_DIR / "staging.yaml").read_text())
    settings["roles"]["app"]["overrides"] = overrides
    return boot.runtime_grain(instance_doc.from_environment(settings, "app"))


def _sizes(highstate: dict) -> dict:
    compose = yaml.safe_load(rendered(highstate, "app-compose-file-managed"))
    nginx = nginxconf.parse(rendered(highstate, "nginx-site-config-managed"))
    runtime = state_args(highstate, "app-runtime-settings-managed")["contents"]
    settings = dict(line.split("=", 1) for line in runtime.splitlines() if "=" in line)
    plan = json.loads(state_args(highstate, "app-services-plan-managed")["contents"])
    return {
        "backends": sorted(s for s in compose["services"] if s.startswith("backend-")),
        "upstream": [a[0] for a in nginx.find("upstream", "backend").get("server")],
        "replicas": str(next(s["replicas"] for s in plan["services"] if s["name"] == "backend")),
        "worker_cap": settings["WORKER_CAP"],
    }


def test_replica_and_worker_overrides_from_the_settings_size_the_app(minion_factory, tmp_path):
    root = app_pillar_root(tmp_path, backend_replicas=2, worker_cap=8)
    baked = _sizes(minion_factory("app", "aws", "Debian", pillar_root=root).show_highstate())
    assert baked == {
        "backends": ["backend-1", "backend-2"],
        "upstream": ["127.0.0.1:8001", "127.0.0.1:8002"],
        "replicas": "2",
        "worker_cap": "8",
    }
    grain = _runtime_grain({"backend_replicas": 3, "worker_cap": 2})
    booted = minion_factory("app", "aws", "Debian", pillar_root=root,
                            extra_grains={"golden_runtime": grain}).show_highstate()  # fmt: skip
    assert _sizes(booted) == {
        "backends": ["backend-1", "backend-2", "backend-3"],
        "upstream": ["127.0.0.1:8001", "127.0.0.1:8002", "127.0.0.1:8003"],
        "replicas": "3",
        "worker_cap": "2",
    }


def test_without_overrides_the_pillar_sizes_the_app(minion_factory, tmp_path):
    root = app_pillar_root(tmp_path, backend_replicas=2, worker_cap=8)
    grain = _runtime_grain({})
    assert "backend_replicas" not in grain and "worker_cap" not in grain
    booted = minion_factory("app", "aws", "Debian", pillar_root=root,
                            extra_grains={"golden_runtime": grain}).show_highstate()  # fmt: skip
    assert _sizes(booted)["backends"] == ["backend-1", "backend-2"]
    assert _sizes(booted)["worker_cap"] == "8"
