"""CPU and memory of the layouts under load, read from /proc: which part of a layout a
process is (nginx, backend, frontend, docker-proxy), the processes under a container's
root, cores used per part during a run (CpuMeter), and memory (PSS) samples with their
idle/peak summary."""

from __future__ import annotations

import os
import resource
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass


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


def memory_sample(roots: Sequence[int]) -> dict[str, int]:
    """PSS per part of the layout (RSS where smaps_rollup cannot be read)."""
    procs = descendants(scan_processes(), roots)
    for proc in procs:
        pss = read_pss(proc.pid)
        proc.pss_bytes = proc.rss_bytes if pss is None else pss
    return by_class(procs, "pss_bytes")
