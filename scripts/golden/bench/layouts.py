"""The layouts `golden bench load` compares, as docker containers on this machine: the
seed's baseline (one uvicorn process for the backend, the frontend beside it), the plan's
own layout (one gunicorn with uvicorn workers, same backend image, same frontend) and the
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
# The sample backend's ASGI app (tests/sample_app/backend/sample_backend/asgi.py).
APP_MODULE = "sample_backend.asgi:app"


@dataclass
class Target:
    """One started layout: where to send load, its root processes (for the meters), its
    boot-to-healthy time (s) and its published 127.0.0.1 ports."""

    name: str  # baseline | plan | golden
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
    """The bench's container names and its four 127.0.0.1 ports from ``port_base``."""

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

    @property
    def plan(self) -> str:
        return f"{NAME_PREFIX}plan-api"

    def all(self) -> tuple[str, ...]:
        """Every container the bench may start."""
        return (self.twin, self.api, self.web, self.plan)

    def ports(self) -> dict[str, int]:
        """role -> 127.0.0.1 port: twin, api (baseline), web (frontend), plan."""
        base = self.port_base
        return {"twin": base, "api": base + 1, "web": base + 2, "plan": base + 3}

    def validate(self) -> Names:
        low, high = PORT_RANGE
        count = len(self.ports())
        if not low <= self.port_base <= high - count + 1:
            raise ConfigError(
                f"--port-base: expected {low}..{high - count + 1} (it uses {count} ports), "
                f"got {self.port_base}"
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


def start_frontend(names: Names, frontend_image: str) -> tuple[str, int]:
    """The sample frontend as its own process, published on 127.0.0.1, as the seed and
    the plan run it: the baseline and the plan layouts share it. Returns (its URL, its
    container's pid) once /health answers (60 s at most)."""
    port = names.ports()["web"]
    run(
        [
            "docker", "run", "-d", "--name", names.web,
            "-p", f"127.0.0.1:{port}:3000",
            "-e", "FRONTEND_HOST=0.0.0.0", "-e", "FRONTEND_PORT=3000",
            frontend_image,
        ],
        what="docker run (frontend)",
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    _wait_http(url + "/health", 60)
    return url, container_pid(names.web)


def baseline_argv() -> list[str]:
    """The seed's "current state": one uvicorn process serving the backend directly. Its
    own plain-text access log is off: the app writes the same JSON access line as under
    gunicorn, so every layout does the same logging work."""
    return ["uvicorn", APP_MODULE, "--host", "0.0.0.0", "--port", "8000", "--no-access-log"]


def plan_argv(workers: int) -> list[str]:
    """The plan's own layout: `gunicorn -w 4 -k uvicorn.workers.UvicornWorker` in front of
    nothing, ``workers`` for its -w. gunicorn writes no access log without
    --access-logfile, and its uvicorn workers log access through gunicorn's (then empty)
    access handlers, as the golden replicas' workers do; the app writes its JSON line.
    gunicorn also reads ./gunicorn.conf.py from the image's working directory (/app), as
    the plan's command does in this image: preload, backlog, timeouts and the JSON log
    set-up come from there, and -w, -k and --bind given here take precedence."""
    return [
        "gunicorn", "-w", str(workers), "-k", "uvicorn.workers.UvicornWorker",
        APP_MODULE, "--bind", "0.0.0.0:8000",
    ]  # fmt: skip


def start_backend(names: Names, layout: str, backend_image: str, plan_workers: int) -> Target:
    """The backend of the ``layout`` "baseline" (baseline_argv) or "plan" (plan_argv with
    ``plan_workers``) from ``backend_image``, published on 127.0.0.1 (no nginx); waits up
    to 60 s for /health. Its boot time runs from `docker run` to the first 200. The
    frontend (start_frontend) is added by the caller."""
    if layout == "plan":
        name, port, argv = names.plan, names.ports()["plan"], plan_argv(plan_workers)
    else:
        name, port, argv = names.api, names.ports()["api"], baseline_argv()
    started = time.monotonic()
    run(
        [
            "docker", "run", "-d", "--name", name,
            "-p", f"127.0.0.1:{port}:8000",
            "-e", f"REPLICA_NAME={layout}",
            backend_image, *argv,
        ],
        what=f"docker run ({layout} backend)",
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    _wait_http(url + "/health", 60)
    return Target(
        name=layout,
        url=url,
        roots=[container_pid(name)],
        boot_seconds=round(time.monotonic() - started, 2),
        ports=[port],
        direct_url=f"http://{container_address(name)}:8000",
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
