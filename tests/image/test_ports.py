"""Only declared ports listen: ssh and http on all addresses, everything else on
loopback only."""

import pytest

from .conftest import ROLE


def listeners(host):
    out = host.check_output("ss -Hltnu")
    found = set()
    for line in out.splitlines():
        fields = line.split()
        proto, local = fields[0], fields[4]
        addr, _, port = local.rpartition(":")
        found.add((proto, addr.strip("[]").split("%")[0], int(port)))
    return found


def app_ports(plan) -> list[int]:
    """The ports of the app's containers (app:services, expanded in services.json)."""
    return [c["port"] for c in plan["containers"] if c["port"] is not None]


def declared(app_plan=None, chroma=None):
    public = {("tcp", "0.0.0.0", 22), ("tcp", "::", 22)}
    local = {("udp", "127.0.0.1", 323), ("udp", "::1", 323)}
    if ROLE == "app":
        public |= {("tcp", "0.0.0.0", 80)}
        local |= {("tcp", "127.0.0.1", 8081)}
        local |= {("tcp", "127.0.0.1", port) for port in app_ports(app_plan)}
    if ROLE == "chroma":
        # The authenticating proxy on every address; Chroma itself on loopback only.
        chroma = chroma or {}
        public |= {("tcp", "0.0.0.0", chroma.get("proxy_port", 8000))}
        local |= {("tcp", "127.0.0.1", chroma.get("port", 8001))}
    return public, local


def test_only_declared_ports_listen(request, host, pillar):
    app_plan = request.getfixturevalue("plan") if ROLE == "app" else None
    public, local = declared(app_plan, pillar.get("chroma"))
    unexpected = {entry for entry in listeners(host) if entry not in public | local}
    if pillar["golden"]["platform"] == "twin":
        # Docker's embedded DNS for the twin's own network (served by this machine's
        # dockerd inside the twin's namespace, not by a process of the image).
        unexpected = {e for e in unexpected if e[1] != "127.0.0.11"}
    assert not unexpected, f"undeclared listeners: {sorted(unexpected)}"


@pytest.mark.app_role
def test_app_ports_listen_on_loopback_only(host, plan):
    found = listeners(host)
    for port in [8081, *app_ports(plan)]:
        assert ("tcp", "127.0.0.1", port) in found, f"nothing on 127.0.0.1:{port}"
        assert ("tcp", "0.0.0.0", port) not in found
