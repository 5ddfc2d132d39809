"""The timeout chain, read back from the files the state tree renders (nginx, the compose
file with gunicorn's settings, app.service) plus the load balancer's part that
autoscaling/timeouts.py derives from the same pillar values:

    load balancer idle > nginx's longest read        (nginx answers before the LB cuts)
    nginx keep-alive   > load balancer idle          (keep-alive: the client closes first)
    gunicorn keep-alive > nginx upstream keep-alive
    deregistration delay > nginx's longest read      (in-flight requests end first)
    gunicorn graceful  > nginx's longest read        (a drained replica finishes them)
    Docker stop grace  > gunicorn graceful           (Docker kills only after that)
    systemd TimeoutStopSec > Docker stop grace       (systemd kills `compose stop` last)
"""

from __future__ import annotations

import json
import re

import pytest
import yaml
from golden.core.errors import ConfigError

from autoscaling import timeouts

from . import nginxconf
from .conftest import REPO, pillar_root_with, rendered

IMAGES = {"backend": "sha256:" + "ab" * 32, "frontend": "sha256:" + "cd" * 32}


def _seconds(value) -> float:
    return nginxconf.seconds(str(value))


def chain_from_files(highstate: dict) -> dict:
    """Every link of the chain as the rendered files say it."""
    main = nginxconf.parse(rendered(highstate, "nginx-main-config-managed"))
    site = nginxconf.parse(rendered(highstate, "nginx-site-config-managed"))
    server = next(b for b in site.blocks if b.name == "server")
    reads = [_seconds(server.one("proxy_read_timeout")[0])]
    for path in ("/api/", "/api/chat/", "/api/upload"):
        block = server.find("location", path)
        reads += [_seconds(a[0]) for a in block.get("proxy_read_timeout")]
    compose = yaml.safe_load(rendered(highstate, "app-compose-file-managed"))
    backends = [s for name, s in compose["services"].items() if name.startswith("backend-")]
    unit = rendered(highstate, "app-service-unit-managed")
    return {
        "request_max": max(reads),
        "nginx_keepalive": _seconds(main.find("http").one("keepalive_timeout")[0]),
        "upstream_idle": _seconds(site.find("upstream", "backend").one("keepalive_timeout")[0]),
        "gunicorn_keepalive": min(int(s["environment"]["GUNICORN_KEEPALIVE"]) for s in backends),
        "gunicorn_graceful": max(int(s["environment"]["GUNICORN_GRACEFUL_TIMEOUT"])
                                 for s in backends),  # fmt: skip
        "stop_grace": min(_seconds(s["stop_grace_period"]) for s in compose["services"].values()),
        "systemd_stop": float(re.search(r"^TimeoutStopSec=(\d+)$", unit, re.M).group(1)),
    }


def assert_chain_holds(files: dict, lb: dict) -> None:
    assert lb["lb_idle"] > files["request_max"], "the load balancer cuts a request nginx waits for"
    assert files["nginx_keepalive"] > lb["lb_idle"], "nginx closes idle connections the LB uses"
    assert files["gunicorn_keepalive"] > files["upstream_idle"], "a replica closes first"
    assert lb["deregistration_delay"] > files["request_max"]
    assert files["gunicorn_graceful"] > files["request_max"]
    assert files["stop_grace"] > files["gunicorn_graceful"]
    assert files["systemd_stop"] > files["stop_grace"]


def app_highstate(minion_factory, tmp_path, app_values=None, **timeouts_pillar):
    """The app role's highstate with test image pins, ``app_values`` merged into the app
    pillar and ``timeouts_pillar`` as app:timeouts; returns (highstate, pillar root)."""
    manifest = tmp_path / "sample-app.json"
    manifest.write_text(json.dumps({"images": {k: {"id": v} for k, v in IMAGES.items()}}))
    values = {"image_manifest": str(manifest), **(app_values or {})}
    if timeouts_pillar:
        values["timeouts"] = timeouts_pillar
    root = pillar_root_with(tmp_path, "roles/app.sls", "app", **values)
    return minion_factory("app", "aws", "Debian", pillar_root=root).show_highstate(), root


def test_the_rendered_chain_holds_with_the_shipped_pillar(minion_factory, tmp_path):
    highstate, _ = app_highstate(minion_factory, tmp_path)
    files = chain_from_files(highstate)
    lb = timeouts.chain(timeouts.load_inputs())
    assert_chain_holds(files, lb)
    # The instance's side and the load balancer's are derived from the same values.
    for key in ("request_max", "nginx_keepalive", "upstream_idle", "gunicorn_keepalive",
                "gunicorn_graceful", "stop_grace", "systemd_stop"):  # fmt: skip
        assert files[key] == lb[key], key


def test_one_pillar_value_moves_the_whole_chain(minion_factory, tmp_path):
    highstate, root = app_highstate(minion_factory, tmp_path, chat_read=900, margin=10)
    files = chain_from_files(highstate)
    lb = timeouts.chain(timeouts.load_inputs(pillar_path=root / "roles" / "app.sls"))
    assert files["request_max"] == 900
    assert files["stop_grace"] == 920 and files["systemd_stop"] == 930
    assert lb["lb_idle"] == 910 and lb["deregistration_delay"] == 910
    assert_chain_holds(files, lb)


def test_the_sample_backend_reads_the_settings_the_compose_file_gives_it():
    conf = (REPO / "tests" / "sample_app" / "backend" / "gunicorn.conf.py").read_text()
    assert 'graceful_timeout = _int_env("GUNICORN_GRACEFUL_TIMEOUT"' in conf
    assert 'keepalive = _int_env("GUNICORN_KEEPALIVE"' in conf


@pytest.mark.parametrize(("settings", "message"), [
    ({"idle_timeout": 60}, "idle_timeout: expected more than 300"),
    ({"idle_timeout": 310}, "less than 310 (nginx's keep-alive), got 310"),
    ({"deregistration_delay": 30}, "deregistration_delay: expected more than 300"),
])  # fmt: skip
def test_load_balancer_settings_that_break_the_chain_are_refused(settings, message):
    links = timeouts.chain(timeouts.load_inputs())
    with pytest.raises(ConfigError, match=re.escape(message)):
        timeouts.load_balancer_targets(links, settings, "staging.yaml: roles.app")
    assert timeouts.load_balancer_targets(links, None, "x") == {
        "idle_timeout": 305, "deregistration_delay": 305}  # fmt: skip
