"""`golden bench load`: the seed's single uvicorn process and the golden image (nginx in
front of the gunicorn replicas) side by side, under the same load, on this machine.

One invocation boots both, runs the Locust workload (tests/load/locustfile.py, think time
between actions) at a few user counts against each, a closed-loop wrk run against each
(no think time: saturation throughput), nginx against one replica hit directly from inside
the twin's network namespace (nginx's own overhead), a 100 MB upload through nginx with
the memory of nginx and the backend sampled meanwhile, and boot-to-healthy times. It
prints the tables, their ratios and the targets, and writes a CSV, a JSON summary and a
PNG of latency against users.

A benchmark, not a test. Decisions (guards, parsing, ratios, tables) are pure functions
at the top; docker, /proc and subprocess calls follow."""

from __future__ import annotations

import csv
import http.client
import io
import ipaddress
import json
import math
import os
import resource
import shutil
import socket
import statistics
import sys
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from golden.core.errors import ConfigError, OperationFailed, PreflightError

# --------------------------------------------------------------------------------------
# Pure: targets, guards, plans, results.

# What the issue promises, checked against every run.
TARGETS = {
    "p95_ms": 2000.0,
    "throughput_ratio": 1.5,
    "nginx_overhead_pct": 10.0,
    "upload_seconds": 10.0,
}
TARGET_MAX_USERS = 400
# Per-user client addresses for X-Forwarded-For come from the benchmarking range of
# RFC 2544: header values only, never a destination.
XFF_NETWORK = ipaddress.ip_network("198.18.0.0/15")
LOOPBACK_NAMES = ("localhost",)
NAME_PREFIX = "golden-perf-"
PORT_RANGE = (18380, 18399)


def check_target(url: str, *, allow_remote: bool = False, what: str = "--host") -> str:
    """The base URL a load generator may send to: loopback unless ``allow_remote``.

    Only literal loopback addresses and ``localhost`` pass: a name is not resolved, so a
    name that happens to resolve to 127.0.0.1 today cannot point elsewhere tomorrow."""
    if not url or not isinstance(url, str):
        raise ConfigError(f"{what}: expected a URL like http://127.0.0.1:8080, got {url!r}")
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https"):
        raise ConfigError(f"{what}: expected an http:// or https:// URL, got {url!r}")
    host = parts.hostname
    if not host:
        raise ConfigError(f"{what}: no host in {url!r}")
    try:
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError:
        raise ConfigError(f"{what}: malformed port in {url!r}") from None
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ConfigError(f"{what}: expected a base URL without path or query, got {url!r}")
    if not (is_loopback_host(host) or allow_remote):
        raise ConfigError(
            f"{what}: {host!r} is not a loopback address; load is sent to 127.0.0.0/8, ::1 or "
            "localhost only. To load your own load balancer on AWS pass --allow-remote."
        )
    return f"{parts.scheme}://{parts.netloc}"


def is_loopback_host(host: str) -> bool:
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]").split("%")[0]).is_loopback
    except ValueError:
        return False


def client_address(index: int, pool: int = 0) -> str:
    """The X-Forwarded-For address of simulated user ``index``: one each by default, or
    ``pool`` shared addresses (users behind one NAT)."""
    if index < 0 or pool < 0:
        raise ConfigError(f"client index and pool must be >= 0, got {index}, {pool}")
    slot = index % pool if pool else index
    usable = XFF_NETWORK.num_addresses - 2
    return str(XFF_NETWORK.network_address + 1 + slot % usable)


def bench_seed_files(instance_id: str) -> dict[str, str]:
    """The twin's NoCloud seed for the bench: no instance document, and the boot step's
    build marker set by cloud-init before golden-boot runs (bootcmd, init stage). The boot
    step then writes the app environment it writes during a bake (no shared services), so
    the twin's backend runs the same in-process retrieval as the baseline: same app, same
    configuration, only the layout differs. An image without the boot step ignores it."""
    return {
        "meta-data": f"instance-id: {instance_id}\nlocal-hostname: {instance_id}\n",
        "user-data": (
            "#cloud-config\n"
            "# golden bench load: no shared services; the app runs as in a bake.\n"
            "bootcmd:\n"
            "  - [mkdir, -p, /run/golden]\n"
            "  - [touch, /run/golden/build]\n"
        ),
    }


@dataclass(frozen=True)
class Plan:
    levels: tuple[int, ...] = (100, 200, 400, 800)
    think_seconds: int = 35
    spawn_rate: int = 50
    think_min: float = 1.0
    think_max: float = 5.0
    saturation_connections: tuple[int, ...] = (50, 200)
    saturation_seconds: int = 45
    overhead_connections: int = 8
    overhead_seconds: int = 10
    upload_mb: int = 100

    def validate(self) -> Plan:
        if not self.levels or any(n < 1 or n > 2000 for n in self.levels):
            raise ConfigError(f"--levels: expected user counts in 1..2000, got {self.levels}")
        conns = (*self.saturation_connections, self.overhead_connections)
        if not self.saturation_connections or any(c < 2 or c > 4000 for c in conns):
            raise ConfigError(
                f"--connections: expected counts in 2..4000 (wrk runs 2 threads), got {conns}"
            )
        for name in ("think_seconds", "saturation_seconds", "overhead_seconds"):
            value = getattr(self, name)
            if not 5 <= value <= 600:
                raise ConfigError(f"--{name.replace('_', '-')}: expected 5..600 s, got {value}")
        if not 0 <= self.think_min <= self.think_max <= 60:
            raise ConfigError(
                f"--think: expected 0 <= min <= max <= 60 s, got {self.think_min}..{self.think_max}"
            )
        if self.spawn_rate < 1:
            raise ConfigError(f"--spawn-rate: expected >= 1, got {self.spawn_rate}")
        if not 1 <= self.upload_mb <= 100:
            raise ConfigError(
                f"--upload-mb: expected 1..100 (nginx allows 100m), got {self.upload_mb}"
            )
        return self

    @property
    def warmup_seconds(self) -> int:
        # Longer than the longest think time: every user has had its first visit.
        return max(6, math.ceil(self.think_max) + 1)

    def ramp_seconds(self, users: int) -> int:
        return math.ceil(users / self.spawn_rate)

    def estimate_seconds(self, boot_seconds: float = 30.0) -> float:
        """Wall time of the whole bench, for the plan printed before it starts."""
        per_target = sum(
            self.think_seconds + self.ramp_seconds(n) + self.warmup_seconds + 8 for n in self.levels
        )
        per_target += len(self.saturation_connections) * (self.saturation_seconds + 3)
        overhead = 2 * (self.overhead_seconds + 2)
        upload = 2 * 8
        return 2 * per_target + overhead + upload + boot_seconds


QUICK = Plan(
    levels=(200,),
    think_seconds=12,
    spawn_rate=100,
    saturation_connections=(200,),
    saturation_seconds=6,
    overhead_seconds=6,
)


@dataclass(frozen=True)
class RouteStats:
    route: str
    requests: int
    failures: int
    rps: float
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None

    @property
    def error_pct(self) -> float:
        return 100.0 * self.failures / self.requests if self.requests else 0.0


ALL_ROUTES = "ALL"


def _number(raw: str | None) -> float | None:
    if raw is None:
        return None
    raw = raw.strip()
    if raw in ("", "N/A", "nan"):
        return None
    return float(raw)


def parse_locust_stats(text: str) -> list[RouteStats]:
    """Rows of Locust's ``PREFIX_stats.csv``; its "Aggregated" row becomes route ``ALL``."""
    reader = csv.DictReader(io.StringIO(text))
    needed = {"Name", "Request Count", "Failure Count", "Requests/s", "50%", "95%", "99%"}
    missing = needed - set(reader.fieldnames or ())
    if missing:
        raise OperationFailed(f"locust stats CSV lacks columns {sorted(missing)}")
    rows = []
    for row in reader:
        name = row["Name"]
        rows.append(
            RouteStats(
                route=ALL_ROUTES if name == "Aggregated" else name,
                requests=int(row["Request Count"]),
                failures=int(row["Failure Count"]),
                rps=round(_number(row["Requests/s"]) or 0.0, 2),
                p50_ms=_number(row["50%"]) if int(row["Request Count"]) else None,
                p95_ms=_number(row["95%"]) if int(row["Request Count"]) else None,
                p99_ms=_number(row["99%"]) if int(row["Request Count"]) else None,
            )
        )
    return rows


WRK_MARK = "WRKJSON "


def parse_wrk(stdout: str, route: str) -> RouteStats:
    """The JSON line tests/load/xff.lua prints from wrk's done(): latencies in µs."""
    for line in stdout.splitlines():
        if line.startswith(WRK_MARK):
            data = json.loads(line[len(WRK_MARK) :])
            break
    else:
        raise OperationFailed("wrk printed no result line (is tests/load/xff.lua in use?)")
    requests = int(data["requests"])
    errors = sum(int(data[k]) for k in ("connect", "read", "write", "status", "timeout"))
    seconds = int(data["duration_us"]) / 1e6
    # Timed-out requests never complete: count them as requests that failed.
    total = requests + int(data["timeout"])

    def ms(key: str) -> float | None:
        return round(int(data[key]) / 1000, 1) if requests else None

    return RouteStats(
        route=route,
        requests=total,
        failures=errors,
        rps=round((requests - int(data["status"])) / seconds, 1) if seconds else 0.0,
        p50_ms=ms("p50"),
        p95_ms=ms("p95"),
        p99_ms=ms("p99"),
    )


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or denominator is None or denominator <= 0:
        return None
    return round(numerator / denominator, 2)


def overhead_pct(direct_ms: float | None, via_ms: float | None) -> float | None:
    """How much slower the path through nginx is than the replica hit directly, in %."""
    if direct_ms is None or via_ms is None or direct_ms <= 0:
        return None
    return round(100.0 * (via_ms - direct_ms) / direct_ms, 1)


def route_of(rows: Iterable[RouteStats], route: str = ALL_ROUTES) -> RouteStats | None:
    return next((r for r in rows if r.route == route), None)


def median_stats(runs: Sequence[RouteStats]) -> RouteStats:
    """One figure from repeated runs of the same route: sums of counts, medians of rates
    and latencies (robust to one run disturbed by other work on the machine)."""
    if not runs:
        raise ValueError("median_stats needs at least one run")

    def med(values):
        values = [v for v in values if v is not None]
        return round(statistics.median(values), 1) if values else None

    return RouteStats(
        route=runs[0].route,
        requests=sum(r.requests for r in runs),
        failures=sum(r.failures for r in runs),
        rps=med([r.rps for r in runs]),
        p50_ms=med([r.p50_ms for r in runs]),
        p95_ms=med([r.p95_ms for r in runs]),
        p99_ms=med([r.p99_ms for r in runs]),
    )


def _mean(values: Iterable[float | None]) -> float | None:
    values = [v for v in values if v is not None]
    return round(statistics.fmean(values), 2) if values else None


def mean_cores(samples: Sequence[Mapping[str, float]]) -> dict[str, float]:
    """Cores per part of the layout, averaged over rounds of equal length."""
    parts = sorted({part for sample in samples for part in sample})
    return {part: _mean(sample.get(part, 0.0) for sample in samples) for part in parts}


def compare(baseline: RouteStats | None, golden: RouteStats | None) -> dict:
    """Golden over baseline: throughput ratio (higher is better) and p95/p50 ratios
    (lower is better)."""
    b = baseline or RouteStats("", 0, 0, 0.0, None, None, None)
    g = golden or RouteStats("", 0, 0, 0.0, None, None, None)
    return {
        "throughput_ratio": ratio(g.rps, b.rps),
        "p50_ratio": ratio(g.p50_ms, b.p50_ms),
        "p95_ratio": ratio(g.p95_ms, b.p95_ms),
    }


def result_rows(runs: Sequence[Mapping]) -> list[dict]:
    """Flatten runs (each with target, kind, load and its RouteStats) into table rows."""
    rows = []
    for run in runs:
        for stats in run["routes"]:
            rows.append(
                {
                    "target": run["target"],
                    "kind": run["kind"],
                    "load": run["load"],
                    "route": stats.route,
                    "requests": stats.requests,
                    "rps": stats.rps,
                    "p50_ms": stats.p50_ms,
                    "p95_ms": stats.p95_ms,
                    "p99_ms": stats.p99_ms,
                    "errors": stats.failures,
                    "error_pct": round(stats.error_pct, 2),
                }
            )
    return rows


RESULT_COLUMNS = (
    "target",
    "kind",
    "load",
    "route",
    "requests",
    "rps",
    "p50_ms",
    "p95_ms",
    "p99_ms",
    "errors",
    "error_pct",
)


def fmt(value) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "NO"
    if isinstance(value, float):
        if value.is_integer() and abs(value) >= 100:
            return f"{value:.0f}"
        return f"{value:.2f}" if abs(value) < 10 else f"{value:.1f}"
    return str(value)


def render_table(rows: Sequence[Mapping], columns: Sequence[str] | None = None) -> str:
    """A Markdown table (readable in a terminal, pasteable into README); numbers right."""
    if not rows:
        return "(no rows)"
    columns = list(columns or rows[0].keys())
    cells = [[fmt(row.get(c)) for c in columns] for row in rows]
    numeric = [
        all(isinstance(row.get(c), int | float) or row.get(c) is None for row in rows)
        for c in columns
    ]
    widths = [max(len(c), *(len(line[i]) for line in cells)) for i, c in enumerate(columns)]

    def line(values: Sequence[str]) -> str:
        padded = [
            v.rjust(w) if num else v.ljust(w)
            for v, w, num in zip(values, widths, numeric, strict=True)
        ]
        return "| " + " | ".join(padded) + " |"

    rule = (
        "|"
        + "|".join(
            ("-" * (w + 1) + ":") if n else ("-" * (w + 2))
            for w, n in zip(widths, numeric, strict=True)
        )
        + "|"
    )
    return "\n".join([line(columns), rule, *(line(c) for c in cells)])


def rows_to_csv(rows: Sequence[Mapping], columns: Sequence[str] | None = None) -> str:
    """CSV with empty cells for missing figures (not "n/a": spreadsheets read them as blank)."""
    columns = list(columns or (rows[0].keys() if rows else ()))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow(["" if row.get(c) is None else row.get(c) for c in columns])
    return out.getvalue()


CPU_COLUMNS = (
    "target",
    "kind",
    "load",
    "host_busy_pct",
    "backend",
    "nginx",
    "frontend",
    "docker-proxy",
    "generator",
    "backend_ms_per_req",
)


def cpu_rows(runs: Sequence[Mapping]) -> list[dict]:
    """Cores used per part of the layout during each run, and the backend's CPU time per
    answered request: a figure that holds when other work on the machine slows the run."""
    rows = []
    for run in runs:
        cores = run.get("cores")
        if not cores:
            continue
        stats = run.get("all")
        rps = stats.rps if isinstance(stats, RouteStats) else 0.0
        backend = cores.get("backend")
        rows.append(
            {
                "target": run["target"],
                "kind": run["kind"],
                "load": run["load"],
                "host_busy_pct": run.get("host_busy_pct"),
                **{part: cores.get(part) for part in CPU_COLUMNS[4:9]},
                "backend_ms_per_req": round(1000 * backend / rps, 2) if backend and rps else None,
            }
        )
    return rows


def classify_process(cmdline: str) -> str:
    """Which part of the layout a process belongs to, from its command line."""
    if cmdline.startswith("nginx:") or cmdline.split(" ", 1)[0].endswith("/nginx"):
        return "nginx"
    if "sample_frontend" in cmdline:
        return "frontend"
    if "gunicorn" in cmdline or "sample_backend" in cmdline:
        return "backend"
    if "docker-proxy" in cmdline.split(" ", 1)[0]:
        return "docker-proxy"
    return "other"


def memory_summary(samples: Sequence[Mapping[str, int]]) -> dict[str, dict[str, float]]:
    """From memory samples (bytes per process class, the first taken before the upload):
    idle, peak and growth in MiB per class."""
    if not samples:
        return {}
    classes = sorted({c for s in samples for c in s})
    out = {}
    for cls in classes:
        idle = samples[0].get(cls, 0)
        peak = max(s.get(cls, 0) for s in samples)
        out[cls] = {
            "idle_mib": round(idle / 2**20, 1),
            "peak_mib": round(peak / 2**20, 1),
            "growth_mib": round((peak - idle) / 2**20, 1),
        }
    return out


def evaluate(summary: Mapping) -> list[dict]:
    """The issue's targets against the measured figures: one row each, ok or not."""
    checks = []

    def add(figure: str, measured, target: str, ok: bool | None) -> None:
        checks.append({"figure": figure, "measured": measured, "target": target, "ok": ok})

    think = summary.get("think", {})
    # The targets are at 200 and 400 users; larger counts look for the knee.
    for users in sorted(int(u) for u in think.get("golden", {}) if int(u) <= TARGET_MAX_USERS):
        stats = think["golden"][str(users)]
        p95 = stats.p95_ms if isinstance(stats, RouteStats) else stats.get("p95_ms")
        errors = stats.failures if isinstance(stats, RouteStats) else stats.get("failures")
        ok = p95 is not None and p95 < TARGETS["p95_ms"] and (users > 200 or errors == 0)
        add(
            f"golden p95 at {users} users (errors)",
            f"{fmt(p95)} ms ({errors})",
            "< 2000 ms" + (", 0 errors" if users <= 200 else ""),
            ok,
        )
    sat = summary.get("saturation_compare")
    if sat:
        tr = sat.get("throughput_ratio")
        pr = sat.get("p95_ratio")
        add(
            f"closed-loop throughput golden/baseline at {sat.get('connections')} conns",
            tr,
            f">= {TARGETS['throughput_ratio']}",
            tr is not None and tr >= TARGETS["throughput_ratio"],
        )
        add("closed-loop p95 golden/baseline", pr, "< 1.0", pr is not None and pr < 1.0)
    oh = summary.get("nginx_overhead", {}).get("p50_overhead_pct")
    if "nginx_overhead" in summary:
        add(
            "nginx overhead on p50 vs one replica",
            f"{fmt(oh)} %",
            f"<= {TARGETS['nginx_overhead_pct']:.0f} %",
            oh is not None and oh <= TARGETS["nginx_overhead_pct"],
        )
    up = summary.get("upload", {}).get("golden")
    if up:
        add(
            f"{up.get('mib')} MiB upload through nginx",
            f"{fmt(up.get('seconds'))} s",
            f"< {TARGETS['upload_seconds']:.0f} s",
            up.get("ok") and up.get("seconds", 1e9) < TARGETS["upload_seconds"],
        )
    return checks


# --------------------------------------------------------------------------------------
# Adapters: /proc, docker, the load generators. The locustfile imports this module inside
# Locust's gevent-patched process for the pure parts above, so docker and twin modules are
# imported inside the functions that use them.


def _read(path: str) -> str | None:
    try:
        with open(path, "rb") as fh:
            return fh.read().decode(errors="replace")
    except OSError:
        return None


@dataclass
class Proc:
    pid: int
    ppid: int
    cpu_ticks: int
    rss_bytes: int
    cmdline: str
    # Proportional set size: shared pages (forked workers, a preloaded app) split among
    # the processes sharing them, so sums are real memory. Read on request only.
    pss_bytes: int = 0


def read_pss(pid: int) -> int | None:
    text = _read(f"/proc/{pid}/smaps_rollup")
    for line in (text or "").splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1]) * 1024
    return None


def scan_processes() -> dict[int, Proc]:
    procs = {}
    page = os.sysconf("SC_PAGE_SIZE")
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        stat = _read(f"/proc/{entry}/stat")
        statm = _read(f"/proc/{entry}/statm")
        cmd = _read(f"/proc/{entry}/cmdline")
        if stat is None or statm is None or cmd is None:
            continue
        # The command name in parentheses may itself hold spaces or parentheses.
        fields = stat[stat.rfind(")") + 2 :].split()
        procs[int(entry)] = Proc(
            pid=int(entry),
            ppid=int(fields[1]),
            cpu_ticks=int(fields[11]) + int(fields[12]),
            rss_bytes=int(statm.split()[1]) * page,
            cmdline=cmd.replace("\0", " ").strip(),
        )
    return procs


def descendants(procs: Mapping[int, Proc], roots: Iterable[int]) -> list[Proc]:
    children: dict[int, list[int]] = {}
    for proc in procs.values():
        children.setdefault(proc.ppid, []).append(proc.pid)
    seen, todo = [], [r for r in roots if r in procs]
    while todo:
        pid = todo.pop()
        seen.append(procs[pid])
        todo.extend(children.get(pid, ()))
    return seen


def by_class(procs: Iterable[Proc], attr: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for proc in procs:
        cls = classify_process(proc.cmdline)
        out[cls] = out.get(cls, 0) + getattr(proc, attr)
    return out


def proxy_pids(ports: Iterable[int]) -> list[int]:
    """docker-proxy processes relaying our published ports (they cost CPU too)."""
    wanted = {f"-host-port {p}" for p in ports}
    return [
        p.pid
        for p in scan_processes().values()
        if "docker-proxy" in p.cmdline and any(w in p.cmdline for w in wanted)
    ]


def host_cpu_ticks() -> tuple[int, int]:
    fields = [int(x) for x in (_read("/proc/stat") or "cpu 0 0 0 0").splitlines()[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return sum(fields) - idle, sum(fields)


class CpuMeter:
    """CPU used during one run: per process class of the target, by the load generator
    (children of this process) and by the whole machine (others' builds included)."""

    def __init__(self, roots: Sequence[int]):
        self.roots = list(roots)

    def __enter__(self) -> CpuMeter:
        self.t0 = time.monotonic()
        self.host0 = host_cpu_ticks()
        self.gen0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        self.cls0 = by_class(descendants(scan_processes(), self.roots), "cpu_ticks")
        return self

    def __exit__(self, *exc) -> None:
        wall = max(time.monotonic() - self.t0, 1e-6)
        tick = os.sysconf("SC_CLK_TCK")
        cls1 = by_class(descendants(scan_processes(), self.roots), "cpu_ticks")
        gen1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        busy1, total1 = host_cpu_ticks()
        busy0, total0 = self.host0
        gen = (gen1.ru_utime + gen1.ru_stime) - (self.gen0.ru_utime + self.gen0.ru_stime)
        self.cores = {
            cls: round((cls1.get(cls, 0) - self.cls0.get(cls, 0)) / tick / wall, 2)
            for cls in sorted(set(cls1) | set(self.cls0))
            if cls != "other"
        }
        self.cores["generator"] = round(gen / wall, 2)
        self.host_busy_pct = (
            round(100.0 * (busy1 - busy0) / (total1 - total0), 1) if total1 > total0 else None
        )


def _wait_http(url: str, timeout: float) -> float:
    from golden.core.shell import wait_until

    def ok() -> bool:
        try:
            conn = http.client.HTTPConnection(*_host_port(url), timeout=2)
            conn.request("GET", urlsplit(url).path or "/")
            status = conn.getresponse().status
            conn.close()
            return status == 200
        except OSError:
            return False

    return wait_until(ok, timeout=timeout, interval=0.2, what=f"{url} to answer 200")


def _host_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or 80


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@dataclass
class Target:
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


def container_address(name: str) -> str:
    """The address of a container the bench started, on the network docker gave it."""
    from golden.core import containers

    nets = ((containers.container_state(name) or {}).get("NetworkSettings") or {}).get(
        "Networks"
    ) or {}
    for net in nets.values():
        if net.get("IPAddress"):
            return net["IPAddress"]
    raise OperationFailed(f"container {name} has no address on a docker network")


def _container_pid(name: str) -> int:
    from golden.core import containers

    state = containers.container_state(name) or {}
    pid = int((state.get("State") or {}).get("Pid") or 0)
    if not pid:
        raise OperationFailed(f"container {name} is not running")
    return pid


def start_baseline(names: Names, backend_image: str, frontend_image: str) -> Target:
    """The seed's "current state": one uvicorn process serving the backend directly, and
    the frontend on its own port, both published on 127.0.0.1 (no nginx, no gunicorn)."""
    from golden.core.shell import run

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
        roots=[_container_pid(names.api), _container_pid(names.web)],
        boot_seconds=round(seconds, 2),
        ports=[ports["api"], ports["web"]],
        direct_url=f"http://{container_address(names.api)}:8000",
    )


def start_golden(names: Names, image: str, seed_dir: Path) -> Target:
    from golden.twin import build as twin

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
        roots=[_container_pid(names.twin)],
        boot_seconds=up["healthy_after_s"],
        ports=[port],
        direct_url=f"http://{twin_address(names.twin)}:80",
    )


def twin_address(name: str) -> str:
    from golden.core import containers
    from golden.twin import build as twin

    state = containers.container_state(name) or {}
    nets = (state.get("NetworkSettings") or {}).get("Networks") or {}
    addr = (nets.get(twin.NETWORK) or {}).get("IPAddress")
    if not addr or ipaddress.ip_address(addr) not in ipaddress.ip_network(twin.SUBNET):
        raise OperationFailed(f"{name} has no address on {twin.NETWORK} ({twin.SUBNET})")
    return addr


def workers_per_replica(name: str) -> int | None:
    from golden.core.shell import run

    proc = run(["docker", "exec", name, "cat", "/run/app/runtime.env"], check=False)
    for line in proc.stdout.decode(errors="replace").splitlines():
        if line.startswith("WEB_CONCURRENCY="):
            return int(line.split("=", 1)[1])
    return None


def _locust_argv(target: Target, users: int, plan: Plan, csv_prefix: Path) -> list[str]:
    run_time = plan.think_seconds + plan.ramp_seconds(users) + plan.warmup_seconds
    argv = [
        sys.executable, "-m", "locust",
        "-f", str(LOCUSTFILE),
        "--headless", "--only-summary",
        "--host", target.url,
        "-u", str(users), "-r", str(plan.spawn_rate),
        "-t", f"{run_time}s",
        # Statistics restart a little after every user is running: neither the ramp nor the
        # herd of first visits it causes is measured.
        "--warmup", str(plan.warmup_seconds),
        "--stop-timeout", "5",
        "--csv", str(csv_prefix),
        "--loglevel", "WARNING",
        "--exit-code-on-error", "0",
        "--think-min", str(plan.think_min), "--think-max", str(plan.think_max),
        "--max-seconds", str(run_time + 30),
    ]  # fmt: skip
    if target.frontend_url:
        argv += ["--frontend-host", target.frontend_url]
    # The large-upload user is measured on its own (upload step), not mixed in here.
    return argv + ["WebUser"]


def run_locust(target: Target, users: int, plan: Plan, raw_dir: Path) -> dict:
    from golden.core.shell import run

    prefix = raw_dir / f"{target.name}-{users}u"
    argv = _locust_argv(target, users, plan, prefix)
    budget = plan.think_seconds + plan.ramp_seconds(users) + plan.warmup_seconds + 60
    with CpuMeter(target.roots) as meter:
        proc = run(argv, check=False, timeout=budget, what=f"locust ({target.name}, {users} users)")
    stats_path = Path(f"{prefix}_stats.csv")
    if not stats_path.exists():
        tail = (proc.stdout + proc.stderr).decode(errors="replace").strip().splitlines()[-15:]
        raise OperationFailed(
            f"locust ({target.name}, {users} users) wrote no {stats_path.name} "
            f"(exit {proc.returncode}):\n" + "\n".join(tail)
        )
    return {
        "target": target.name,
        "kind": "think",
        "load": users,
        "routes": parse_locust_stats(stats_path.read_text()),
        "cores": meter.cores,
        "host_busy_pct": meter.host_busy_pct,
    }


def run_wrk(
    url: str,
    path: str,
    connections: int,
    seconds: int,
    *,
    netns_pid: int | None = None,
    roots: Sequence[int] = (),
    log: Path | None = None,
) -> tuple[RouteStats, CpuMeter]:
    from golden.core.shell import run

    argv = [
        "wrk", "-t", "2", "-c", str(connections), "-d", f"{seconds}s",
        "--timeout", "10s", "-s", str(WRK_SCRIPT), url + path,
    ]  # fmt: skip
    if netns_pid:
        # Only the network namespace is entered: wrk, its files and its CPU stay the host's.
        argv = ["nsenter", f"--net=/proc/{netns_pid}/ns/net", *argv]
    with CpuMeter(roots) as meter:
        proc = run(argv, timeout=seconds + 60, what=f"wrk {url}{path}")
    out = proc.stdout.decode(errors="replace")
    if log is not None:
        # The raw output keeps the error kinds (connect/read/write/status/timeout).
        with log.open("a") as fh:
            fh.write(f"$ {' '.join(argv)}\n{out}\n")
    return parse_wrk(out, path.split("?")[0]), meter


def memory_sample(roots: Sequence[int]) -> dict[str, int]:
    """PSS per part of the layout (RSS where smaps_rollup cannot be read)."""
    procs = descendants(scan_processes(), roots)
    for proc in procs:
        pss = read_pss(proc.pid)
        proc.pss_bytes = proc.rss_bytes if pss is None else pss
    return by_class(procs, "pss_bytes")


def _memory_sampler(roots: Sequence[int], samples: list, stop: threading.Event) -> None:
    while not stop.is_set():
        samples.append(memory_sample(roots))
        stop.wait(0.1)


def upload(target: Target, mib: int) -> dict:
    """POST ``mib`` MiB to /api/upload, streamed from a 1 MiB buffer, timing it while the
    memory (PSS) of the target's processes is sampled every 0.1 s."""
    samples: list[dict[str, int]] = [memory_sample(target.roots)]
    stop = threading.Event()
    sampler = threading.Thread(
        target=_memory_sampler, args=(target.roots, samples, stop), daemon=True
    )
    size = mib * 2**20
    chunk = os.urandom(2**20)
    result: dict = {"mib": mib}
    host, port = _host_port(target.url)
    sampler.start()
    started = time.monotonic()
    try:
        conn = http.client.HTTPConnection(host, port, timeout=120)
        conn.putrequest("POST", f"/api/upload?name=bench-{mib}m.bin")
        conn.putheader("Content-Type", "application/octet-stream")
        conn.putheader("Content-Length", str(size))
        conn.putheader("X-Forwarded-For", client_address(0))
        conn.putheader("X-Forwarded-Proto", "https")
        conn.endheaders()
        for _ in range(mib):
            conn.send(chunk)
        resp = conn.getresponse()
        body = resp.read()
        conn.close()
        result["seconds"] = round(time.monotonic() - started, 2)
        result["status"] = resp.status
        answer = json.loads(body) if resp.status == 200 else {}
        result["ok"] = resp.status == 200 and answer.get("size") == size
        if not result["ok"]:
            result["error"] = body[:200].decode(errors="replace")
    except (OSError, http.client.HTTPException, ValueError) as exc:
        result.update(seconds=round(time.monotonic() - started, 2), ok=False, error=str(exc))
    finally:
        stop.set()
        sampler.join(5)
    result["mib_per_s"] = round(mib / result["seconds"], 1) if result.get("seconds") else None
    result["memory"] = memory_summary(samples)
    result["samples"] = len(samples)
    return result


def plot(summary: Mapping, path: Path, plan: Plan) -> Path:
    """Left: latency against users (think time), both layouts. Right: the closed loop,
    throughput and p95 against connections."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    styles = {
        "baseline": ("tab:red", "single uvicorn (baseline)"),
        "golden": ("tab:blue", "golden: nginx + gunicorn"),
    }
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.8), dpi=100)
    for name, series in summary.get("think", {}).items():
        users = sorted(int(u) for u in series)
        color, label = styles.get(name, ("tab:gray", name))
        left.plot(users, [series[str(u)].p95_ms for u in users], "o-", color=color,
                  label=f"{label} p95")  # fmt: skip
        left.plot(users, [series[str(u)].p50_ms for u in users], "s--", color=color,
                  alpha=0.6, label=f"{label} p50")  # fmt: skip
        search = summary.get("think_search", {}).get(name, {})
        if all(search.get(str(u)) for u in users):
            left.plot(users, [search[str(u)].p95_ms for u in users], "d-.", color=color,
                      alpha=0.8, label=f"{label} /api/search p95")  # fmt: skip
    left.axhline(TARGETS["p95_ms"], color="black", linewidth=0.8, linestyle=":",
                 label="p95 budget 2 s")  # fmt: skip
    left.set_xlabel(f"concurrent users (think time {plan.think_min:g}-{plan.think_max:g} s)")
    left.set_ylabel("latency, all routes (ms, log scale)")
    left.set_yscale("log")
    left.set_xticks(sorted(plan.levels))
    left.set_title("Latency against users")
    left.grid(True, which="both", alpha=0.3)
    left.legend(fontsize=8)
    twin_axis = right.twinx()
    for name, series in summary.get("saturation", {}).items():
        conns = sorted(int(c) for c in series)
        color, label = styles.get(name, ("tab:gray", name))
        right.plot(conns, [series[str(c)].rps for c in conns], "o-", color=color,
                   label=f"{label} req/s")  # fmt: skip
        twin_axis.plot(conns, [series[str(c)].p95_ms for c in conns], "^:", color=color,
                       alpha=0.7, label=f"{label} p95")  # fmt: skip
    right.set_xlabel("closed-loop connections (no think time), GET /api/search")
    right.set_ylabel("throughput (req/s)")
    twin_axis.set_ylabel("p95 (ms)")
    right.set_xticks(sorted(plan.saturation_connections))
    right.set_title("Saturation")
    right.grid(True, alpha=0.3)
    lines = right.get_legend_handles_labels()
    more = twin_axis.get_legend_handles_labels()
    right.legend(lines[0] + more[0], lines[1] + more[1], fontsize=8, loc="upper left")
    fig.suptitle("Same machine, same workload, same sample app", fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


# --------------------------------------------------------------------------------------
# Orchestration.

LOCUSTFILE = Path(__file__).resolve().parents[3] / "tests" / "load" / "locustfile.py"
WRK_SCRIPT = LOCUSTFILE.parent / "xff.lua"
SEARCH_PATH = "/api/search?q=how+does+a+release+roll+back"
OVERHEAD_ROUNDS = 3
CLOSED_ROUNDS = 3


def preflight(names: Names, twin_image: str, backend_image: str, frontend_image: str) -> None:
    """Everything checked before anything starts; names what is missing."""
    import importlib.util

    from golden.core import containers

    names.validate()

    for path in (LOCUSTFILE, WRK_SCRIPT):
        if not path.is_file():
            raise PreflightError(f"{path} is missing (the bench needs the repository checkout)")
    for tool, hint in (
        ("wrk", "apt-get install wrk"),
        ("nsenter", "apt-get install util-linux"),
        ("docker", "install docker.io"),
    ):
        if not shutil.which(tool):
            raise PreflightError(f"{tool} not found on PATH: {hint}")
    for module in ("locust", "matplotlib"):
        if importlib.util.find_spec(module) is None:
            raise PreflightError(f"Python package {module} missing: pip install -e '.[dev]'")
    for image, hint in (
        (twin_image, "make image ROLE=app"),
        (backend_image, "golden app-images build"),
        (frontend_image, "golden app-images build"),
    ):
        if containers.image_inspect(image) is None:
            raise PreflightError(f"image {image} not found: run `{hint}` first")
    if os.geteuid() != 0:
        raise PreflightError("nsenter into the twin's network namespace needs root")
    # Our own containers from an interrupted run go first; then the ports must be free.
    for name in (names.twin, names.api, names.web):
        containers.remove_container(name)
    for role, port in names.ports().items():
        if not _port_free(port):
            raise PreflightError(f"127.0.0.1:{port} ({role}) is in use by another program")


def run_bench(
    plan: Plan,
    *,
    out_dir: Path,
    names: Names = Names(),
    twin_image: str = "golden/twin-app:latest",
    backend_image: str = "golden-sample/backend:dev",
    frontend_image: str = "golden-sample/frontend:dev",
    keep: bool = False,
) -> dict:
    from golden.core import containers
    from golden.core.shell import eprint

    plan.validate()
    preflight(names, twin_image, backend_image, frontend_image)
    raw = out_dir / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    wall0 = time.monotonic()
    eprint(
        f"bench load: levels {list(plan.levels)} users x {plan.think_seconds}s, closed loop "
        f"{list(plan.saturation_connections)} conns x {plan.saturation_seconds}s; "
        f"about {plan.estimate_seconds() / 60:.0f} min; results in {out_dir}"
    )
    summary: dict = {
        "plan": asdict(plan),
        "machine": {"cpus": os.cpu_count(), "loadavg_start": os.getloadavg()},
        "think": {},
        "think_search": {},
        "runs": [],
    }
    runs: list[dict] = []
    targets: dict[str, Target] = {}
    try:
        eprint("starting the baseline (one uvicorn process) and the golden twin")
        targets["baseline"] = start_baseline(names, backend_image, frontend_image)
        targets["golden"] = start_golden(names, twin_image, out_dir / "seed")
        summary["boot_to_healthy_s"] = {n: t.boot_seconds for n, t in targets.items()}
        summary["golden_workers_per_replica"] = workers_per_replica(names.twin)
        for t in targets.values():
            t.roots += proxy_pids(t.ports)

        for users in plan.levels:
            for name, target in targets.items():
                eprint(f"  [{time.monotonic() - wall0:4.0f}s] {name}: {users} users, think time")
                result = run_locust(target, users, plan, raw)
                runs.append(result)
                summary["think"].setdefault(name, {})[str(users)] = route_of(result["routes"])
                search = route_of(result["routes"], "/api/search")
                summary["think_search"].setdefault(name, {})[str(users)] = search

        saturation: dict[str, dict[int, RouteStats]] = {}
        wrk_log = raw / "wrk.log"
        seconds = max(3, plan.saturation_seconds // CLOSED_ROUNDS)
        for conns in plan.saturation_connections:
            eprint(
                f"  [{time.monotonic() - wall0:4.0f}s] closed loop, {conns} conns: "
                f"{CLOSED_ROUNDS} interleaved rounds of {seconds}s per layout"
            )
            rounds: dict[str, list[tuple[RouteStats, CpuMeter]]] = {n: [] for n in targets}
            # Interleaved short rounds, median per layout: a burst of someone else's build
            # lands on both layouts alike instead of on whichever ran during it.
            for _ in range(CLOSED_ROUNDS):
                for name, target in targets.items():
                    rounds[name].append(
                        run_wrk(
                            target.direct_url or target.url,
                            SEARCH_PATH,
                            conns,
                            seconds,
                            roots=target.roots,
                            log=wrk_log,
                        )
                    )
            for name, measured in rounds.items():
                stats = median_stats([m[0] for m in measured])
                saturation.setdefault(name, {})[conns] = stats
                runs.append(
                    {
                        "target": name,
                        "kind": "closed",
                        "load": conns,
                        "routes": [stats],
                        "cores": mean_cores([m[1].cores for m in measured]),
                        "host_busy_pct": _mean([m[1].host_busy_pct for m in measured]),
                    }
                )
        summary["saturation"] = {
            name: {str(c): stats for c, stats in by_conns.items()}
            for name, by_conns in saturation.items()
        }
        ref = 200 if 200 in plan.saturation_connections else max(plan.saturation_connections)
        summary["saturation_compare"] = {
            "connections": ref,
            **compare(saturation["baseline"][ref], saturation["golden"][ref]),
            "peak_rps": {n: max(s.rps for s in v.values()) for n, v in saturation.items()},
        }

        eprint(f"  [{time.monotonic() - wall0:4.0f}s] nginx overhead (inside the twin's netns)")
        pid = _container_pid(names.twin)
        addr = twin_address(names.twin)
        c = plan.overhead_connections
        s = max(3, plan.overhead_seconds // OVERHEAD_ROUNDS)
        # Interleaved rounds, median of each path: a burst of someone else's build hits
        # both paths alike instead of one.
        directs, vias = [], []
        for _ in range(OVERHEAD_ROUNDS):
            for results, base in ((directs, "http://127.0.0.1:8001"), (vias, f"http://{addr}:80")):
                results.append(run_wrk(base, SEARCH_PATH, c, s, netns_pid=pid, log=wrk_log)[0])
        direct, via = median_stats(directs), median_stats(vias)
        summary["nginx_overhead"] = {
            "connections": c,
            "direct_replica": direct,
            "via_nginx": via,
            "p50_overhead_pct": overhead_pct(direct.p50_ms, via.p50_ms),
            "p95_overhead_pct": overhead_pct(direct.p95_ms, via.p95_ms),
        }
        runs.append({"target": "replica-direct", "kind": "overhead", "load": c, "routes": [direct]})
        runs.append({"target": "golden-in-netns", "kind": "overhead", "load": c, "routes": [via]})

        summary["upload"] = {}
        for name, target in targets.items():
            eprint(f"  [{time.monotonic() - wall0:4.0f}s] {name}: {plan.upload_mb} MiB upload")
            summary["upload"][name] = upload(target, plan.upload_mb)
    finally:
        if not keep:
            for name in (names.twin, names.api, names.web):
                containers.remove_container(name)
    summary["machine"]["loadavg_end"] = os.getloadavg()
    summary["seconds"] = round(time.monotonic() - wall0, 1)
    summary["runs"] = [
        {k: v for k, v in r.items() if k != "routes"}
        | {"all": route_of(r["routes"]) or r["routes"][0]}
        for r in runs
    ]
    rows = result_rows(runs)
    (out_dir / "results.csv").write_text(rows_to_csv(rows, RESULT_COLUMNS))
    summary["checks"] = evaluate(summary)
    summary["plot"] = str(plot(summary, out_dir / "latency-vs-users.png", plan))
    summary["csv"] = str(out_dir / "results.csv")
    summary["rows"] = rows
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2, default=_jsonable))
    return summary


def _jsonable(value):
    if isinstance(value, RouteStats):
        return asdict(value) | {"error_pct": round(value.error_pct, 2)}
    return str(value)


def report(summary: Mapping) -> str:
    """The human-readable report: every table the bench measured, then the targets."""
    parts = []
    plan = summary["plan"]
    parts.append(
        f"## Think-time runs (Locust, uniform {plan['think_min']:g}-{plan['think_max']:g} s "
        f"between actions, {plan['think_seconds']} s measured after the ramp)"
    )
    think_rows = [r for r in summary["rows"] if r["kind"] == "think"]
    parts.append(render_table(think_rows, RESULT_COLUMNS))
    cores_rows = cpu_rows(summary["runs"])
    parts.append(
        "## Closed loop (wrk, no think time, GET /api/search; each layout at its container's "
        "address, as an ALB reaches an instance, without docker's 127.0.0.1 proxy)"
    )
    parts.append(
        render_table([r for r in summary["rows"] if r["kind"] == "closed"], RESULT_COLUMNS)
    )
    sat = summary.get("saturation_compare") or {}
    parts.append("## Golden over baseline")
    searches = summary.get("think_search", {})
    compare_rows = [
        {
            "users": int(u),
            "throughput_ratio": ratio(g.rps, summary["think"]["baseline"][u].rps),
            "p95_ratio": ratio(g.p95_ms, summary["think"]["baseline"][u].p95_ms),
            "search_p95_ratio": _search_ratio(searches, u),
        }
        for u, g in summary["think"].get("golden", {}).items()
        if u in summary["think"].get("baseline", {})
    ]
    for row in compare_rows:
        row["kind"] = "think"
    if sat:
        compare_rows.append(
            {
                "users": sat["connections"],
                "throughput_ratio": sat["throughput_ratio"],
                "p95_ratio": sat["p95_ratio"],
                "search_p95_ratio": sat["p95_ratio"],
                "kind": "closed",
            }
        )
    parts.append(
        render_table(
            compare_rows, ("kind", "users", "throughput_ratio", "p95_ratio", "search_p95_ratio")
        )
    )
    parts.append(
        "(think-time runs: throughput is set by the users and their think time, so its ratio "
        "is ~1 until one layout saturates; the closed loop compares capacity)"
    )
    if sat:
        parts.append(
            f"saturation (best closed-loop rps): baseline {fmt(sat['peak_rps'].get('baseline'))}, "
            f"golden {fmt(sat['peak_rps'].get('golden'))}"
        )
    oh = summary.get("nginx_overhead")
    if oh:
        parts.append(f"## nginx overhead ({oh['connections']} conns, wrk inside the twin's netns)")
        parts.append(
            render_table(
                [
                    {"path": "replica :8001 direct", **_lat(oh["direct_replica"])},
                    {"path": "nginx :80 (2 replicas)", **_lat(oh["via_nginx"])},
                ]
            )
        )
        parts.append(
            f"p50 overhead {fmt(oh['p50_overhead_pct'])} %, "
            f"p95 overhead {fmt(oh['p95_overhead_pct'])} %"
        )
    parts.append("## Boot, upload, CPU")
    misc = [
        {"figure": f"{n} boot to healthy (s)", "value": v}
        for n, v in summary.get("boot_to_healthy_s", {}).items()
    ]
    misc.append(
        {
            "figure": "golden gunicorn workers per replica",
            "value": summary.get("golden_workers_per_replica"),
        }
    )
    for name, up in (summary.get("upload") or {}).items():
        misc.append({"figure": f"{name} {up['mib']} MiB upload (s)", "value": up.get("seconds")})
        for cls, mem in (up.get("memory") or {}).items():
            if cls in ("nginx", "backend"):
                misc.append(
                    {
                        "figure": f"{name} {cls} memory (PSS) idle -> peak (MiB)",
                        "value": f"{mem['idle_mib']} -> {mem['peak_mib']}",
                    }
                )
    parts.append(render_table(misc, ("figure", "value")))
    if cores_rows:
        parts.append(
            "## CPU during each run (cores used; host_busy_pct is the whole machine, other "
            "engineers' builds included; backend_ms_per_req = backend CPU per answered request)"
        )
        parts.append(render_table(cores_rows, CPU_COLUMNS))
    machine = summary.get("machine", {})
    parts.append("## Targets")
    parts.append(render_table(summary.get("checks", []), ("figure", "measured", "target", "ok")))
    parts.append(
        f"CSV: {summary.get('csv')}\nplot: {summary.get('plot')}\n"
        f"wall time {summary.get('seconds')} s; load average (1, 5, 15 min) "
        f"{_loadavg(machine.get('loadavg_start'))} at the start, "
        f"{_loadavg(machine.get('loadavg_end'))} at the end on {machine.get('cpus')} CPUs"
    )
    return "\n\n".join(parts)


def _search_ratio(searches: Mapping, users: str) -> float | None:
    golden = searches.get("golden", {}).get(users)
    baseline = searches.get("baseline", {}).get(users)
    return ratio(golden.p95_ms, baseline.p95_ms) if golden and baseline else None


def _loadavg(values) -> str:
    return "/".join(f"{v:.2f}" for v in values) if values else "n/a"


def _lat(stats: RouteStats) -> dict:
    return {
        "requests": stats.requests,
        "rps": stats.rps,
        "p50_ms": stats.p50_ms,
        "p95_ms": stats.p95_ms,
        "p99_ms": stats.p99_ms,
        "errors": stats.failures,
    }


# --------------------------------------------------------------------------------------
# Command.
