"""Running `golden bench load`: preflight, the selected layouts started and removed,
Locust and wrk run against them with their CPU metered, the large upload with memory
sampled, and run_bench, which does the selected parts in order and writes the results."""

from __future__ import annotations

import http.client
import importlib.util
import json
import os
import shutil
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path

from golden.bench.layouts import (
    Names,
    Target,
    container_pid,
    host_port,
    start_backend,
    start_frontend,
    start_golden,
    twin_address,
    workers_per_replica,
)
from golden.bench.meters import CpuMeter, memory_sample, memory_summary, proxy_pids
from golden.bench.report import evaluate, jsonable, plot, rows_to_csv
from golden.bench.results import (
    RESULT_COLUMNS,
    RouteStats,
    closed_compare,
    mean,
    mean_cores,
    median_stats,
    overhead_pct,
    parse_locust_stats,
    parse_wrk,
    result_rows,
    route_of,
)
from golden.bench.workload import (
    LAYOUTS,
    LOCUSTFILE,
    SEARCH_PATH,
    WRK_SCRIPT,
    Plan,
    client_address,
    interleaved,
)
from golden.core import containers, ports
from golden.core.errors import OperationFailed, PreflightError
from golden.core.shell import eprint, in_background, run

# Interleaved rounds per closed-loop level and for nginx's overhead.
OVERHEAD_ROUNDS = 3
CLOSED_ROUNDS = 3


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
    """One think-time run: Locust with ``users`` users against ``target``, its CSVs in
    ``raw_dir``. Returns the run: target, kind "think", load, routes (RouteStats per
    route, ALL among them), cores per part and host_busy_pct. Raises OperationFailed when
    Locust wrote no stats."""
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
    """wrk (tests/load/xff.lua) on ``url`` + ``path`` for ``seconds`` with ``connections``
    connections, inside the network namespace of ``netns_pid`` if given, its output
    appended to ``log``. Returns the figures for the path (query left out) and the CPU the
    processes under ``roots`` used meanwhile. Raises OperationFailed when wrk fails."""
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


def _memory_sampler(roots: Sequence[int], samples: list, stop: threading.Event) -> None:
    while not stop.is_set():
        samples.append(memory_sample(roots))
        stop.wait(0.1)


def upload(target: Target, mib: int) -> dict:
    """POST ``mib`` MiB to /api/upload, streamed from a 1 MiB buffer, timing it while the
    memory (PSS) of the target's processes is sampled every 0.1 s."""
    samples: list[dict[str, int]] = [memory_sample(target.roots)]
    stop = threading.Event()
    size = mib * 2**20
    chunk = os.urandom(2**20)
    result: dict = {"mib": mib}
    host, port = host_port(target.url)
    # A process that vanishes mid-sample ends the sampling with one line, not a traceback.
    sampler = in_background("memory sampling", _memory_sampler, target.roots, samples, stop)
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


def preflight(
    names: Names,
    twin_image: str,
    backend_image: str,
    frontend_image: str,
    layouts: Sequence[str] = LAYOUTS,
) -> None:
    """Everything checked before anything starts; names what is missing. Only the images
    of the selected ``layouts`` are required.

    Raises ConfigError for a port base outside the bench's range, PreflightError for a
    missing file, tool, Python package or image, for not running as root, or for a port
    that another program holds. The bench's own containers left by an interrupted run are
    removed on the way."""
    names.validate()
    _require_checkout_and_tools()
    images = []
    if "golden" in layouts:
        images.append((twin_image, "make image ROLE=app"))
    if {"baseline", "plan"} & set(layouts):
        images += [(backend_image, "golden app-images build"),
                   (frontend_image, "golden app-images build")]  # fmt: skip
    _require_images(images)
    if os.geteuid() != 0:
        raise PreflightError("nsenter into the twin's network namespace needs root")
    # Our own containers from an interrupted run go first; then the ports must be free.
    _remove_containers(names)
    for role, port in names.ports().items():
        if not ports.loopback_port_free(port):
            raise PreflightError(f"127.0.0.1:{port} ({role}) is in use by another program")


def _require_checkout_and_tools() -> None:
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


def _require_images(images: Sequence[tuple[str, str]]) -> None:
    """Each (image, how to make it) must exist locally."""
    for image, hint in images:
        if containers.image_inspect(image) is None:
            raise PreflightError(f"image {image} not found: run `{hint}` first")


def _remove_containers(names: Names) -> None:
    for name in names.all():
        containers.remove_container(name)


def run_bench(
    plan: Plan,
    *,
    out_dir: Path,
    names: Names = Names(),  # noqa: B008 - a frozen dataclass, never mutated
    twin_image: str = "golden/twin-app:latest",
    backend_image: str = "golden-sample/backend:dev",
    frontend_image: str = "golden-sample/frontend:dev",
    keep: bool = False,
) -> dict:
    """The whole bench: preflight, the plan's layouts started, then its parts in order
    (think-time runs, closed loop, nginx's overhead, the upload); the containers removed
    afterwards unless ``keep``.

    Writes ``out_dir``/raw/ (Locust's CSVs, wrk.log), results.csv, summary.json and
    latency-vs-users.png; progress goes to stderr. Returns the summary: plan, machine,
    think and think_search (layout -> users -> RouteStats), runs, boot_to_healthy_s,
    golden_workers_per_replica, and for the parts run saturation (layout -> conns ->
    median RouteStats), saturation_rounds (layout -> conns -> RouteStats per round),
    saturation_compare, nginx_overhead, upload; then seconds, checks, plot, csv and rows.
    Raises ConfigError or PreflightError before anything starts, OperationFailed when a
    step fails."""
    plan.validate()
    preflight(names, twin_image, backend_image, frontend_image, plan.layouts)
    raw = out_dir / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    wall0 = time.monotonic()
    eprint(
        f"bench load: layouts {', '.join(plan.layouts)}; parts {', '.join(plan.parts)}; "
        f"levels {list(plan.levels)} users x {plan.think_seconds}s, closed loop "
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
    try:
        eprint(f"starting {', '.join(plan.layouts)}")
        targets = _start_layouts(names, plan, twin_image, backend_image, frontend_image, out_dir)
        summary["boot_to_healthy_s"] = {n: t.boot_seconds for n, t in targets.items()}
        if "golden" in targets:
            summary["golden_workers_per_replica"] = workers_per_replica(names.twin)
        _run_parts(summary, names, targets, plan, raw, wall0, runs)
    finally:
        if not keep:
            _remove_containers(names)
    _write_results(summary, runs, out_dir, plan, wall0)
    return summary


def _run_parts(
    summary: dict,
    names: Names,
    targets: Mapping[str, Target],
    plan: Plan,
    raw: Path,
    wall0: float,
    runs: list[dict],
) -> None:
    """The plan's parts in order, each against the layouts it measures; their figures go
    into ``summary`` and their runs onto ``runs``."""

    def only(part: str) -> dict[str, Target]:
        return {n: targets[n] for n in plan.part_layouts(part)}

    if "think" in plan.parts:
        summary["think"], summary["think_search"] = _think_runs(
            only("think"), plan, raw, wall0, runs
        )
    if "closed" in plan.parts:
        summary.update(_closed_loop(only("closed"), plan, raw / "wrk.log", wall0, runs))
    if "nginx" in plan.parts:
        summary["nginx_overhead"] = _nginx_overhead(names, plan, raw / "wrk.log", wall0, runs)
    if "upload" in plan.parts:
        summary["upload"] = _uploads(only("upload"), plan, wall0)


def _progress(wall0: float, text: str) -> None:
    eprint(f"  [{time.monotonic() - wall0:4.0f}s] {text}")


def _start_layouts(
    names: Names,
    plan: Plan,
    twin_image: str,
    backend_image: str,
    frontend_image: str,
    out_dir: Path,
) -> dict[str, Target]:
    """The plan's layouts in LAYOUTS order, each measured with the docker-proxy processes
    that relay its published ports. The baseline and the plan share one frontend
    container: it is in both layouts' processes, as the seed and the plan run it."""
    targets: dict[str, Target] = {}
    web = None
    for name in plan.layouts:
        if name == "golden":
            targets[name] = start_golden(names, twin_image, out_dir / "seed")
            continue
        if web is None:
            web = start_frontend(names, frontend_image)
        target = start_backend(names, name, backend_image, plan.plan_workers)
        target.frontend_url, web_pid = web
        target.roots.append(web_pid)
        target.ports.append(names.ports()["web"])
        targets[name] = target
    for t in targets.values():
        t.roots += proxy_pids(t.ports)
    return targets


def _think_runs(
    targets: Mapping[str, Target], plan: Plan, raw: Path, wall0: float, runs: list[dict]
) -> tuple[dict, dict]:
    """Locust at each user count against each layout; appends one run each to ``runs``.
    Returns (all routes, /api/search): layout -> str(users) -> RouteStats."""
    think: dict[str, dict] = {}
    think_search: dict[str, dict] = {}
    for users in plan.levels:
        for name, target in targets.items():
            _progress(wall0, f"{name}: {users} users, think time")
            result = run_locust(target, users, plan, raw)
            runs.append(result)
            think.setdefault(name, {})[str(users)] = route_of(result["routes"])
            search = route_of(result["routes"], "/api/search")
            think_search.setdefault(name, {})[str(users)] = search
    return think, think_search


def _closed_loop(
    targets: Mapping[str, Target], plan: Plan, wrk_log: Path, wall0: float, runs: list[dict]
) -> dict:
    """wrk without think time at each connection count, CLOSED_ROUNDS rounds interleaved
    over the layouts (interleaved()); appends each round and then the rounds' median per
    layout and count to ``runs``. Returns {"saturation": layout -> str(conns) -> median
    RouteStats, "saturation_rounds": layout -> str(conns) -> [RouteStats per round],
    "saturation_compare": closed_compare()}."""
    saturation: dict[str, dict[int, RouteStats]] = {}
    per_round: dict[str, dict[str, list[RouteStats]]] = {}
    seconds = max(3, plan.saturation_seconds // CLOSED_ROUNDS)
    for conns in plan.saturation_connections:
        _progress(
            wall0,
            f"closed loop, {conns} conns: {CLOSED_ROUNDS} rounds of {seconds}s interleaved "
            f"over {', '.join(targets)}",
        )
        rounds: dict[str, list[tuple[RouteStats, CpuMeter]]] = {n: [] for n in targets}
        for number, name in interleaved(tuple(targets), CLOSED_ROUNDS):
            target = targets[name]
            stats, meter = run_wrk(
                target.direct_url or target.url, SEARCH_PATH, conns, seconds,
                roots=target.roots, log=wrk_log,
            )  # fmt: skip
            rounds[name].append((stats, meter))
            runs.append(
                {"target": name, "kind": "closed-round", "load": conns, "round": number,
                 "routes": [stats]}
            )  # fmt: skip
        for name, measured in rounds.items():
            stats = median_stats([m[0] for m in measured])
            saturation.setdefault(name, {})[conns] = stats
            per_round.setdefault(name, {})[str(conns)] = [m[0] for m in measured]
            runs.append(
                {
                    "target": name,
                    "kind": "closed",
                    "load": conns,
                    "routes": [stats],
                    "cores": mean_cores([m[1].cores for m in measured]),
                    "host_busy_pct": mean([m[1].host_busy_pct for m in measured]),
                }
            )
    return {
        "saturation": {
            name: {str(c): stats for c, stats in by_conns.items()}
            for name, by_conns in saturation.items()
        },
        "saturation_rounds": per_round,
        "saturation_compare": closed_compare(saturation, plan.saturation_connections),
    }


def _nginx_overhead(
    names: Names, plan: Plan, wrk_log: Path, wall0: float, runs: list[dict]
) -> dict:
    """One replica hit directly against nginx in front of both, wrk inside the twin's
    network namespace; appends both medians to ``runs``. Returns the summary's
    nginx_overhead (connections, both RouteStats, p50/p95 overhead in %)."""
    _progress(wall0, "nginx overhead (inside the twin's netns)")
    pid = container_pid(names.twin)
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
    runs.append({"target": "replica-direct", "kind": "overhead", "load": c, "routes": [direct]})
    runs.append({"target": "golden-in-netns", "kind": "overhead", "load": c, "routes": [via]})
    return {
        "connections": c,
        "direct_replica": direct,
        "via_nginx": via,
        "p50_overhead_pct": overhead_pct(direct.p50_ms, via.p50_ms),
        "p95_overhead_pct": overhead_pct(direct.p95_ms, via.p95_ms),
    }


def _uploads(targets: Mapping[str, Target], plan: Plan, wall0: float) -> dict:
    """The large upload against each layout: layout -> upload()'s result."""
    results = {}
    for name, target in targets.items():
        _progress(wall0, f"{name}: {plan.upload_mb} MiB upload")
        results[name] = upload(target, plan.upload_mb)
    return results


def _write_results(
    summary: dict, runs: list[dict], out_dir: Path, plan: Plan, wall0: float
) -> None:
    """Completes ``summary`` (load average at the end, wall time, runs, checks, rows, the
    paths written) and writes results.csv, the plot and summary.json into ``out_dir``."""
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
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2, default=jsonable))
