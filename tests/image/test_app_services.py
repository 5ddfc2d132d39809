"""The app contract on the image, whatever app it runs (docs/app-contract.md): every
declared replica answers its health path on its own port from the host, and nginx sends
each declared route to the service that declared it. The sample app and the examples
(examples/golden-pillar.yaml) both pass these; the sample's own endpoints are checked in
the tests marked sample_app."""

from __future__ import annotations

import json
import uuid

import pytest

from .conftest import SERVICES_PLAN, wait_for

pytestmark = pytest.mark.app_role

ACCESS_LOG = "/var/log/nginx/access.log"


def _status(host, url: str) -> int:
    return int(host.check_output(
        f"curl -s -o /dev/null --max-time 10 -w '%{{http_code}}' '{url}'"))  # fmt: skip


def test_every_replica_answers_its_health_path_on_its_own_port(host, plan):
    """golden's probe, from the host over 127.0.0.1: no program inside the image."""
    probed = [c for c in plan["containers"] if c["port"] is not None]
    assert probed, f"{SERVICES_PLAN}: no container with a port"
    answers = {c["name"]: _status(host, f"http://127.0.0.1:{c['port']}{c['health_path']}")
               for c in probed}  # fmt: skip
    assert all(200 <= code < 400 for code in answers.values()), answers
    assert len({c["port"] for c in probed}) == len(probed), "two replicas share a port"


def longest_route(routes: dict[str, str], uri: str) -> str:
    """The service nginx picks for ``uri`` among ``routes`` (prefix -> service): the
    longest matching prefix, as nginx's prefix locations do."""
    matching = [prefix for prefix in routes if uri.startswith(prefix)]
    assert matching, f"no route matches {uri}"
    return routes[max(matching, key=len)]


def _logged_upstream(host, uri: str) -> str | None:
    found = host.run(f"grep -F '\"uri\":\"{uri}\"' {ACCESS_LOG}").stdout.strip().splitlines()
    return json.loads(found[-1])["upstream_addr"] if found else None


def test_each_declared_route_reaches_the_service_that_declared_it(host, plan):
    routes = {prefix: service["name"] for service in plan["services"]
              for prefix in service["routes"]}  # fmt: skip
    assert routes, "no service declares a route"
    ports = {}
    for container in plan["containers"]:
        if container["port"] is not None:
            ports.setdefault(container["service"], set()).add(container["port"])
    for prefix in routes:
        # A path no app answers: the app's 404 is enough, it says which upstream nginx chose.
        uri = prefix.rstrip("/") + f"/golden-route-check-{uuid.uuid4().hex[:8]}"
        expected = longest_route(routes, uri)
        _status(host, f"http://127.0.0.1{uri}")
        # nginx's access log is buffered (flush=2s, nginx.conf.j2).
        assert wait_for(lambda uri=uri: _logged_upstream(host, uri) is not None,
                        timeout=15), f"{uri}: no access line"  # fmt: skip
        upstream = _logged_upstream(host, uri)
        port = int(upstream.split(",")[-1].strip().rsplit(":", 1)[1])
        assert port in ports[expected], f"{uri} went to {upstream}, not {expected} {ports}"

