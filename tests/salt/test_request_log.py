"""One access line per request: nginx writes it, the replicas are told not to repeat it
(app:replica_access_log, docs/performance.md), unless pillar asks for theirs too."""

from __future__ import annotations

import yaml

from . import nginxconf
from .conftest import rendered
from .test_timeout_chain import app_highstate


def _backend_env(highstate) -> list[dict]:
    compose = yaml.safe_load(rendered(highstate, "app-compose-file-managed"))
    return [s["environment"] for name, s in compose["services"].items()
            if name.startswith("backend-")]  # fmt: skip


def test_nginx_logs_every_request_and_the_replicas_do_not_repeat_it(minion_factory, tmp_path):
    highstate, _ = app_highstate(minion_factory, tmp_path)
    main = nginxconf.parse(rendered(highstate, "nginx-main-config-managed"))
    (log,) = main.find("http").get("access_log")
    assert log[0] == "/var/log/nginx/access.log" and log[1] == "golden_json", log
    envs = _backend_env(highstate)
    assert envs and all(env["ACCESS_LOG"] == "false" for env in envs), envs


def test_pillar_can_keep_the_replicas_own_access_line(minion_factory, tmp_path):
    highstate, _ = app_highstate(minion_factory, tmp_path, {"replica_access_log": True})
    assert {env["ACCESS_LOG"] for env in _backend_env(highstate)} == {"true"}


def test_each_nginx_worker_keeps_enough_idle_connections_for_its_share(minion_factory,
                                                                      tmp_path):
    """At the bench's 200 connections each of nginx's workers (one per vCPU: 2 here, more
    on larger instances) has about 200 / workers requests in flight; a smaller idle pool
    closes and reopens connections to the replicas on every answer past it."""
    highstate, _ = app_highstate(minion_factory, tmp_path)
    site = nginxconf.parse(rendered(highstate, "nginx-site-config-managed"))
    (keepalive,) = site.find("upstream", "backend").one("keepalive")
    assert int(keepalive) >= 200
