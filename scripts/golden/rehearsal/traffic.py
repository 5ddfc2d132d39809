"""Traffic during a rehearsal: the project's Locust file as the users, the load balancer's
own counts published as the ALB's CloudWatch metrics, and a monitor of the fleet.

- `Load`: Locust (tests/load/locustfile.py) headless against the listener on 127.0.0.1
  (the Locust file refuses any other host), users with think time, bounded by
  --max-seconds; stopped with SIGTERM when a scenario ends, after which it writes the
  outcome of every request by class (see golden.bench.workload.outcome_class). Not
  SIGINT: a rehearsal started in the background (nohup, `&`, CI runners) hands its
  children SIGINT ignored, and Locust would run on to its time limit, writing nothing.
- `MetricPublisher`: every few seconds the target group's new 5xx answers and requests
  (from HAProxy's `show stat`) go to the emulator as AWS/ApplicationELB
  HTTPCode_Target_5XX_Count and RequestCount, the metrics a release's 5xx alarm watches.
- `FleetMonitor`: when each instance container appeared and when its target first
  turned healthy (launch -> in service), and its memory.

Every loop is bounded by a stop event and by the caller's deadline."""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from golden.bench.workload import LOCUSTFILE
from golden.core.errors import OperationFailed
from golden.core.shell import run
from golden.rehearsal.haproxy import Balancer, backend_counts, backend_name
from golden.rehearsal.instances import INSTANCE_LABEL, RUN_LABEL

# Longest a scenario may keep users running (a release with its timeout, plus margin).
MAX_LOAD_SECONDS = 900


@dataclass(frozen=True)
class LoadSpec:
    host: str
    users: int = 50
    spawn_rate: float = 10.0
    think_min: float = 1.0
    think_max: float = 3.0


def locust_argv(spec: LoadSpec, outcomes: Path, csv_prefix: Path) -> list[str]:
    """Locust, headless, the Locust file's own guards on (loopback only, bounded)."""
    locust = str(Path(sys.executable).parent / "locust")
    return [
        locust, "-f", str(LOCUSTFILE), "--headless", "--only-summary",
        "--host", spec.host,
        "-u", str(spec.users), "-r", str(spec.spawn_rate),
        "-t", f"{MAX_LOAD_SECONDS}s", "--max-seconds", str(MAX_LOAD_SECONDS),
        "--think-min", str(spec.think_min), "--think-max", str(spec.think_max),
        "--large-uploaders", "0",
        "--outcomes-file", str(outcomes), "--csv", str(csv_prefix),
    ]  # fmt: skip


def failed_requests(classes: dict[str, int]) -> int:
    """Requests users saw fail: 5xx, cut connections, timeouts, failed checks (429 is
    rate limiting, counted apart; 4xx other than 429 are the users' own mistakes)."""
    return sum(classes.get(k, 0) for k in ("5xx", "reset", "timeout", "other"))


class Load:
    """``with Load(spec, folder, "a") as load: ...``; ``load.outcomes`` after the block."""

    def __init__(self, spec: LoadSpec, folder: Path, name: str):
        self.spec = spec
        self.folder = folder
        self.name = name
        self.outcomes: dict = {}
        self._process: subprocess.Popen | None = None

    @property
    def outcomes_path(self) -> Path:
        return self.folder / f"load-{self.name}.json"

    def __enter__(self) -> Load:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.outcomes_path.unlink(missing_ok=True)
        log = open(self.folder / f"load-{self.name}.log", "wb")  # noqa: SIM115 - the process's
        try:
            self._process = subprocess.Popen(
                locust_argv(self.spec, self.outcomes_path, self.folder / f"load-{self.name}"),
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        finally:
            log.close()
        (self.folder / "locust.pid").write_text(str(self._process.pid))
        # Let every user arrive before the scenario acts.
        time.sleep(min(30.0, self.spec.users / max(self.spec.spawn_rate, 1.0) + 2.0))
        if self._process.poll() is not None:
            raise OperationFailed(
                f"locust exited at once ({self._process.returncode}): see "
                f"{self.folder / f'load-{self.name}.log'}"
            )
        return self

    def stop(self) -> None:
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
        self._process = None
        (self.folder / "locust.pid").unlink(missing_ok=True)
        with contextlib.suppress(OSError, ValueError):
            self.outcomes = json.loads(self.outcomes_path.read_text())

    def __exit__(self, *exc) -> None:
        self.stop()


class MetricPublisher:
    """Publishes the target group's 5xx and request counts as ALB metrics (deltas of
    HAProxy's cumulative counters) every ``period`` seconds, in a daemon thread."""

    def __init__(self, balancer: Balancer, cloudwatch, dimensions: list[dict], period=2.0):
        self.balancer = balancer
        self.cloudwatch = cloudwatch
        self.dimensions = dimensions
        self.period = period
        self.published: list[dict] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._last: dict[str, int] | None = None

    def start(self) -> MetricPublisher:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def _counts(self) -> dict[str, int]:
        tg = self.balancer.spec.target_groups[0]
        return backend_counts(self.balancer.stat_rows(), backend_name(tg))

    def publish_once(self) -> dict:
        counts = self._counts()
        last = self._last if self._last is not None else counts
        self._last = counts
        errors = max(0, counts.get("hrsp_5xx", 0) - last.get("hrsp_5xx", 0))
        requests = max(0, counts.get("stot", 0) - last.get("stot", 0))
        now = datetime.now(timezone.utc)
        self.cloudwatch.put_metric_data(
            Namespace="AWS/ApplicationELB",
            MetricData=[
                {"MetricName": "HTTPCode_Target_5XX_Count", "Dimensions": self.dimensions,
                 "Timestamp": now, "Value": float(errors), "Unit": "Count"},
                {"MetricName": "RequestCount", "Dimensions": self.dimensions,
                 "Timestamp": now, "Value": float(requests), "Unit": "Count"},
            ],
        )  # fmt: skip
        point = {"time": now.isoformat(), "5xx": errors, "requests": requests}
        self.published.append(point)
        return point

    def _loop(self) -> None:
        while not self._stop.wait(self.period):
            with contextlib.suppress(Exception):
                self.publish_once()


@dataclass
class InstanceTimes:
    container: str
    instance_id: str
    created: float
    healthy: float | None = None
    memory_mib: float | None = None


def container_memory_mib(container_id: str) -> float | None:
    """cgroup v1 memory use (docker stats reads 0 B on this host; build-machine.md)."""
    path = Path(f"/sys/fs/cgroup/memory/docker/{container_id}/memory.usage_in_bytes")
    with contextlib.suppress(OSError, ValueError):
        return round(int(path.read_text()) / 2**20, 1)
    return None


def ps_argv(run_id: str) -> list[str]:
    """`docker ps` of one rehearsal's instance containers: "ID INSTANCE" per line. No -q:
    it overrides --format (Docker prints the IDs alone, and warns)."""
    return ["docker", "ps", "--no-trunc", "--filter", f"label={RUN_LABEL}={run_id}",
            "--format", f'{{{{.ID}}}} {{{{.Label "{INSTANCE_LABEL}"}}}}']  # fmt: skip


def parse_ps(text: str) -> list[tuple[str, str]]:
    """(container id, instance id) per line of `ps_argv`'s output; lines without an
    instance id are skipped."""
    out = []
    for line in text.splitlines():
        cid, _, instance_id = line.strip().partition(" ")
        if cid and instance_id.strip():
            out.append((cid, instance_id.strip()))
    return out


@dataclass
class FleetMonitor:
    """Polls the rehearsal's containers and the balancer once a second (daemon thread)."""

    run_id: str
    balancer: Balancer
    target_group_arn: str
    seen: dict[str, InstanceTimes] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> FleetMonitor:
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(10)

    def poll_once(self) -> None:
        proc = run(ps_argv(self.run_id), check=False)
        now = time.monotonic()
        for cid, instance_id in parse_ps(proc.stdout.decode()):
            times = self.seen.setdefault(instance_id, InstanceTimes(cid, instance_id, now))
            times.memory_mib = container_memory_mib(cid) or times.memory_mib
        with contextlib.suppress(OSError):
            health = self.balancer.target_health(self.target_group_arn)
            for instance_id, state in health.items():
                times = self.seen.get(instance_id)
                if times and times.healthy is None and state["State"] == "healthy":
                    times.healthy = now

    def _loop(self) -> None:
        while not self._stop.wait(1.0):
            with contextlib.suppress(Exception):
                self.poll_once()

    def launch_to_healthy(self, since: float = 0.0) -> list[float]:
        return [
            round(t.healthy - t.created, 1)
            for t in self.seen.values()
            if t.healthy is not None and t.created >= since
        ]

    def memory(self) -> list[float]:
        return [t.memory_mib for t in self.seen.values() if t.memory_mib]
