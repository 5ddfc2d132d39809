"""The two layouts `golden bench load` compares, as docker containers on this machine:
the seed's baseline (one uvicorn process for the backend, the frontend beside it) and the
golden twin (nginx in front of the gunicorn replicas). Their names and 127.0.0.1 ports,
starting them and waiting until they answer, their addresses and root processes."""

from __future__ import annotations

import http.client
import ipaddress
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from golden.bench.workload import bench_seed_files
from golden.core import containers
from golden.core.errors import ConfigError, OperationFailed
from golden.core.shell import run, wait_until
from golden.twin import build as twin

NAME_PREFIX = "golden-perf-"
PORT_RANGE = (18380, 18399)


@dataclass
class Target:
    """One started layout: where to send load, its root processes (for the meters), its
    boot-to-healthy time (s) and its published 127.0.0.1 ports."""

    name: str  # baseline | golden
    url: str
    roots: list[int] = field(default_factory=list)
    frontend_url: str | None = None
    boot_seconds: float | None = None
    ports: list[int] = field(default_factory=list)
    # The layout at its container's own address, as an ALB reaches an instance: the
    # closed loop uses it so docker's userland proxy for the 127.0.0.1 ports (a local-only
    # hop that cost the golden layout 0.1 core at saturation) is in neither path.
    direct_url: str | None = None


@dataclass(frozen=True)
class Names:
    """The bench's container names and its three 127.0.0.1 ports from ``port_base``."""

    port_base: int = PORT_RANGE[0]

    @property
    def twin(self) -> str:
        return f"{NAME_PREFIX}twin"

    @property
    def api(self) -> str:
        return f"{NAME_PREFIX}baseline-api"

    @property
    def web(self) -> str:
        return f"{NAME_PREFIX}baseline-web"

    def ports(self) -> dict[str, int]:
        return {"twin": self.port_base, "api": self.port_base + 1, "web": self.port_base + 2}

    def validate(self) -> Names:
        low, high = PORT_RANGE
        if not low <= self.port_base <= high - 2:
            raise ConfigError(
                f"--port-base: expected {low}..{high - 2} (it uses 3 ports), got {self.port_base}"
            )
        return self


def _wait_http(url: str, timeout: float) -> float:
    def ok() -> bool:
        try:
            conn = http.client.HTTPConnection(*host_port(url), timeout=2)
            conn.request("GET", urlsplit(url).path or "/")
            status = conn.getresponse().status
            conn.close()
            return status == 200
        except OSError:
            return False

    return wait_until(ok, timeout=timeout, interval=0.2, what=f"{url} to answer 200")


def host_port(url: str) -> tuple[str, int]:
    """(host, port) of an http:// URL; 127.0.0.1 and 80 where it names none."""
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or 80


def container_address(name: str) -> str:
    """The address of a container the bench started, on the network docker gave it."""
    nets = ((containers.container_state(name) or {}).get("NetworkSettings") or {}).get(
        "Networks"
    ) or {}
    for net in nets.values():
        if net.get("IPAddress"):
            return net["IPAddress"]
    raise OperationFailed(f"container {name} has no address on a docker network")


def container_pid(name: str) -> int:
    """The host pid of a running container's first process; OperationFailed if it is not
    running."""
    state = containers.container_state(name) or {}
    pid = int((state.get("State") or {}).get("Pid") or 0)
    if not pid:
        raise OperationFailed(f"container {name} is not running")
    return pid


def start_baseline(names: Names, backend_image: str, frontend_image: str) -> Target:
    """The seed's "current state": one uvicorn process serving the backend directly, and
    the frontend on its own port, both published on 127.0.0.1 (no nginx, no gunicorn)."""
    ports = names.ports()
    started = time.monotonic()
    run(
        [
            "docker", "run", "-d", "--name", names.api,
            "-p", f"127.0.0.1:{ports['api']}:8000",
            "-e", "REPLICA_NAME=baseline",
            backend_image,
            # uvicorn's own plain-text access log off: the app writes the same JSON access
            # line as under gunicorn, so both layouts do the same logging work.
            "uvicorn", "sample_backend.asgi:app", "--host", "0.0.0.0", "--port", "8000",
            "--no-access-log",
        ],
        what="docker run (baseline backend)",
    )  # fmt: skip
    run(
        [
            "docker", "run", "-d", "--name", names.web,
            "-p", f"127.0.0.1:{ports['web']}:3000",
            "-e", "FRONTEND_HOST=0.0.0.0", "-e", "FRONTEND_PORT=3000",
            frontend_image,
        ],
        what="docker run (baseline frontend)",
    )  # fmt: skip
    url = f"http://127.0.0.1:{ports['api']}"
    web = f"http://127.0.0.1:{ports['web']}"
    _wait_http(url + "/health", 60)
    seconds = time.monotonic() - started
    _wait_http(web + "/health", 60)
    return Target(
        name="baseline",
        url=url,
        frontend_url=web,
        roots=[container_pid(names.api), container_pid(names.web)],
        boot_seconds=round(seconds, 2),
        ports=[ports["api"], ports["web"]],
        direct_url=f"http://{container_address(names.api)}:8000",
    )


def start_golden(names: Names, image: str, seed_dir: Path) -> Target:
    """The golden twin of ``image`` (role app), booted from the bench's seed written into
    ``seed_dir``; waits up to 180 s until it is healthy."""
    port = names.ports()["twin"]
    seed_dir.mkdir(parents=True, exist_ok=True)
    for filename, text in bench_seed_files(names.twin).items():
        (seed_dir / filename).write_text(text)
    up = twin.up(
        twin.TwinSpec(role="app", name=names.twin, port=port, image=image, seed_dir=str(seed_dir)),
        wait=180,
    )
    return Target(
        name="golden",
        url=f"http://127.0.0.1:{port}",
        roots=[container_pid(names.twin)],
        boot_seconds=up["healthy_after_s"],
        ports=[port],
        direct_url=f"http://{twin_address(names.twin)}:80",
    )


def twin_address(name: str) -> str:
    state = containers.container_state(name) or {}
    nets = (state.get("NetworkSettings") or {}).get("Networks") or {}
    addr = (nets.get(twin.NETWORK) or {}).get("IPAddress")
    if not addr or ipaddress.ip_address(addr) not in ipaddress.ip_network(twin.SUBNET):
        raise OperationFailed(f"{name} has no address on {twin.NETWORK} ({twin.SUBNET})")
    return addr


def workers_per_replica(name: str) -> int | None:
    proc = run(["docker", "exec", name, "cat", "/run/app/runtime.env"], check=False)
    for line in proc.stdout.decode(errors="replace").splitlines():
        if line.startswith("WEB_CONCURRENCY="):
            return int(line.split("=", 1)[1])
    return None
