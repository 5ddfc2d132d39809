"""The ports golden's own services listen on, and the kernel's reserved-ports value that
keeps outgoing connections off them.

An outgoing connection takes its local port from net.ipv4.ip_local_port_range (base
formula: 1024-65535), which covers the ports of golden's listeners (the app's declared
services: the sample's frontend on 3000 and backend replicas from 8001; nginx's status
page on 8081, the Chroma proxy and server on 8000 and 8001). A connection that holds
such a port while its listener restarts (a replica rolled by golden-app-roll) makes
that listener fail to bind. Ports listed in
net.ipv4.ip_local_reserved_ports are never picked for outgoing connections
(ip-sysctl.rst); listening on them is unaffected.

Called from salt/base/sysctl.sls with the merged settings of the formulas a role runs;
pure functions, loaded by tests directly."""

# chronyd's command port (salt/base/files/chrony.conf.j2: cmdport 323), on every role.
CHRONY_CMDPORT = 323


def listening(role, settings):
    """Sorted ports golden listens on for ``role`` ("app", "chroma", "base"), from the
    merged settings of its formulas: ``settings`` = {"hardening": {...}, "app": {...,
    "ports": [every container's port]},
    "nginx": {...}, "chroma": {...}} (the sections a role does not run may be absent).
    TCP and UDP alike: the reserved list applies to both."""
    hardening = settings.get("hardening") or {}
    ports = {int(hardening.get("ssh_port") or 22), CHRONY_CMDPORT}
    if role == "app":
        app, nginx = settings.get("app") or {}, settings.get("nginx") or {}
        ports.add(80)
        if (nginx.get("tls") or {}).get("enabled"):
            ports.add(443)
        ports.add(int(nginx["status_port"]))
        # Every replica of every declared service with a port (golden_app.ports).
        ports.update(int(p) for p in app.get("ports") or [])
    elif role == "chroma":
        chroma = settings.get("chroma") or {}
        ports.update((int(chroma["port"]), int(chroma["proxy_port"])))
    ports.update(int(p) for p in hardening.get("extra_tcp_ports") or [])
    return sorted(ports)


def in_range(ports, port_range):
    """The ports inside ``port_range`` ("LOW HIGH", as net.ipv4.ip_local_port_range):
    outside it the kernel never picks a port for an outgoing connection anyway."""
    low, high = (int(x) for x in str(port_range).split())
    return [p for p in ports if low <= p <= high]


def ranges(ports):
    """[3000, 8000, 8001, 8002, 8081] -> "3000,8000-8002,8081" (the sysctl's syntax)."""
    spans = []
    for port in sorted(set(ports)):
        if spans and port == spans[-1][1] + 1:
            spans[-1][1] = port
        else:
            spans.append([port, port])
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in spans)


def reserved(role, settings, port_range):
    """The value of net.ipv4.ip_local_reserved_ports for ``role``: its listening ports
    inside ``port_range``, in the sysctl's syntax ("" when there are none)."""
    return ranges(in_range(listening(role, settings), port_range))
