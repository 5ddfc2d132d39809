#!/usr/bin/python3
"""golden-app-runtime: decides, at every start of app.service (and before every roll), what
depends on the machine rather than the image.

- Workers per backend replica = ceil(vCPU / replicas), at least 1, capped by WORKER_CAP.
  The workers are uvicorn event loops, so one loop per vCPU across all replicas already
  fills the CPU; more processes only add scheduling cost (docs/performance.md, "Workers
  per replica"). -> /run/app/runtime.env (WEB_CONCURRENCY, GOLDEN_VCPU), an env file of
  the backend containers.
- Memory and process limits of the containers, from the instance's memory and the
  workers -> /run/app/limits.env, which compose reads for interpolation
  (BACKEND_MEMORY, BACKEND_PIDS, BACKEND_SCRATCH, FRONTEND_MEMORY, FRONTEND_PIDS).

Inputs: /etc/app/runtime.conf (REPLICAS, WORKER_CAP, SYSTEM_RESERVE_MB,
FRONTEND_MEMORY_MB, PIDS_PER_WORKER; written by the app formula), the CPU count and
/proc/meminfo. Both files are replaced atomically; a bad input exits 2 naming it."""

from __future__ import annotations

import os
import sys
from pathlib import Path

CONF = Path("/etc/app/runtime.conf")
RUN = Path("/run/app")
MIB = 1024 * 1024
# Below these a container cannot start its interpreter and workers at all.
MIN_BACKEND_MB = 256
MIN_FRONTEND_MB = 128
# The gunicorn master, the container's init and health checks, on top of the workers'.
BASE_PIDS = 64
FRONTEND_PIDS = 256


def workers(vcpu: int, replicas: int, cap: int) -> int:
    """gunicorn workers per backend replica: ceil(vcpu / replicas) in 1..cap."""
    replicas = max(1, replicas)
    return max(1, min(-(-vcpu // replicas), cap))


def limits(mem_total_mb: int, vcpu: int, replicas: int, cap: int, *, system_reserve_mb: int,
           frontend_memory_mb: int, pids_per_worker: int) -> dict[str, str]:
    """Container limits for an instance with ``mem_total_mb`` MiB and ``vcpu`` CPUs.

    Memory: the instance's memory less what the system keeps (the larger of
    ``system_reserve_mb`` and a fifth of it: dockerd, nginx, the CloudWatch agent, Salt
    runs, the page cache), then the frontend's share (``frontend_memory_mb``, at most a
    quarter of what is left), and the rest split evenly over the backend replicas. A
    replica's scratch tmpfs (/tmp: uploads in flight) is half of its memory, which the
    tmpfs is charged to. Processes (threads count): a base per container plus
    ``pids_per_worker`` per gunicorn worker (the event loop's thread pool, database and
    S3 client threads). Values in docker's syntax ("512m", "640")."""
    available = mem_total_mb - max(system_reserve_mb, mem_total_mb // 5)
    frontend = max(MIN_FRONTEND_MB, min(frontend_memory_mb, available // 4))
    backend = max(MIN_BACKEND_MB, (available - frontend) // max(1, replicas))
    per_replica = workers(vcpu, replicas, cap)
    return {
        "BACKEND_MEMORY": f"{backend}m",
        "BACKEND_SCRATCH": f"{backend // 2}m",
        "BACKEND_PIDS": str(BASE_PIDS + per_replica * pids_per_worker),
        "FRONTEND_MEMORY": f"{frontend}m",
        "FRONTEND_PIDS": str(FRONTEND_PIDS),
    }


def read_conf(text: str) -> dict[str, int]:
    """KEY=integer lines of runtime.conf; SystemExit(2) naming a key that is not one."""
    values = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, _, value = line.partition("=")
        try:
            values[key.strip()] = int(value.strip())
        except ValueError:
            raise SystemExit(f"golden-app-runtime: {CONF}: {key.strip()}: expected an "
                             f"integer, got {value.strip()!r}") from None
    return values


def mem_total_mb(meminfo: str) -> int:
    """MemTotal of /proc/meminfo (kB) in MiB."""
    for line in meminfo.splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) // 1024
    raise SystemExit("golden-app-runtime: /proc/meminfo has no MemTotal")


def env_text(values: dict[str, object]) -> str:
    return "".join(f"{key}={value}\n" for key, value in values.items())


def write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def main() -> int:
    conf = read_conf(CONF.read_text())
    # The CPUs this process may run on, as nproc counts them.
    vcpu = len(os.sched_getaffinity(0)) or 1
    replicas = conf.get("REPLICAS", 1)
    cap = conf.get("WORKER_CAP", 8)
    decided = limits(
        mem_total_mb(Path("/proc/meminfo").read_text()), vcpu, replicas, cap,
        system_reserve_mb=conf.get("SYSTEM_RESERVE_MB", 768),
        frontend_memory_mb=conf.get("FRONTEND_MEMORY_MB", 512),
        pids_per_worker=conf.get("PIDS_PER_WORKER", 128),
    )
    RUN.mkdir(parents=True, exist_ok=True)
    write_atomically(RUN / "runtime.env", env_text(
        {"WEB_CONCURRENCY": workers(vcpu, replicas, cap), "GOLDEN_VCPU": vcpu}))
    write_atomically(RUN / "limits.env", env_text(decided))
    return 0


if __name__ == "__main__":
    sys.exit(main())
