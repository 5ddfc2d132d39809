#!/usr/bin/python3
"""golden-app-runtime: decides, at every start of app.service (and before every roll), what
depends on the machine rather than the image.

- Workers per replica of the services that take WEB_CONCURRENCY = ceil(vCPU / their
  replicas), at least 1, capped by WORKER_CAP. The workers are event loops (uvicorn), so
  one loop per vCPU across all replicas already fills the CPU; more processes only add
  scheduling cost (docs/performance.md, "Workers per replica"). -> /run/app/runtime.env
  (WEB_CONCURRENCY, GOLDEN_VCPU), an env file of those services' containers.
- Memory and process limits of every service's containers, from the instance's memory
  and the workers -> /run/app/limits.env, which compose reads for interpolation
  (<PREFIX>_MEMORY, <PREFIX>_SCRATCH, <PREFIX>_PIDS per service: BACKEND_MEMORY, ...).

Inputs: /etc/app/runtime.conf (WORKER_CAP, SYSTEM_RESERVE_MB, PIDS_PER_WORKER) and
/etc/app/services.json (per service: prefix, replicas, workers, memory_mb), both written
by the app formula; the CPU count and /proc/meminfo. Both outputs are replaced
atomically; a bad input exits with a message naming it."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

CONF = Path("/etc/app/runtime.conf")
SERVICES = Path("/etc/app/services.json")
RUN = Path("/run/app")
MIB = 1024 * 1024
# Below these a container cannot start its interpreter and workers at all.
MIN_SHARED_MB = 256
MIN_FIXED_MB = 128
# The gunicorn master and the container's init, on top of the workers'.
BASE_PIDS = 64
# A service that does not take WEB_CONCURRENCY (a Node server, a worker).
SERVICE_PIDS = 256


def workers(vcpu: int, replicas: int, cap: int) -> int:
    """gunicorn workers per backend replica: ceil(vcpu / replicas) in 1..cap."""
    replicas = max(1, replicas)
    return max(1, min(-(-vcpu // replicas), cap))


def worker_replicas(services: list[dict]) -> int:
    """Replicas of the services that take WEB_CONCURRENCY, together."""
    return sum(int(s["replicas"]) for s in services if s.get("workers"))


def limits(mem_total_mb: int, vcpu: int, services: list[dict], cap: int, *,
           system_reserve_mb: int, pids_per_worker: int) -> dict[str, str]:
    """Container limits for an instance with ``mem_total_mb`` MiB and ``vcpu`` CPUs.

    ``services``: one dict per declared service (services.json): prefix, replicas,
    workers (takes WEB_CONCURRENCY), memory_mb (a fixed share per replica, or None).
    Memory: the instance's memory less what the system keeps (the larger of
    ``system_reserve_mb`` and a fifth of it: dockerd, nginx, the CloudWatch agent, Salt
    runs, the page cache), then each fixed share (its memory_mb, at most a quarter of
    what is left), and the rest split evenly over the other services' replicas. A
    replica's scratch tmpfs (/tmp: uploads in flight) is half of its memory, which the
    tmpfs is charged to. Processes (threads count): for a service taking WEB_CONCURRENCY
    a base per container plus ``pids_per_worker`` per worker (the event loop's thread
    pool, database and S3 client threads), else SERVICE_PIDS. Values in docker's syntax
    ("512m", "640")."""
    available = mem_total_mb - max(system_reserve_mb, mem_total_mb // 5)
    fixed = {s["prefix"]: max(MIN_FIXED_MB, min(int(s["memory_mb"]), available // 4))
             for s in services if s.get("memory_mb")}  # fmt: skip
    fixed_total = sum(fixed[s["prefix"]] * int(s["replicas"])
                      for s in services if s["prefix"] in fixed)  # fmt: skip
    shared_replicas = sum(int(s["replicas"]) for s in services if s["prefix"] not in fixed)
    shared = max(MIN_SHARED_MB, (available - fixed_total) // max(1, shared_replicas))
    per_replica = workers(vcpu, worker_replicas(services), cap)
    out = {}
    for service in services:
        memory = fixed.get(service["prefix"], shared)
        pids = BASE_PIDS + per_replica * pids_per_worker if service.get("workers") \
            else SERVICE_PIDS
        out.update({f"{service['prefix']}_MEMORY": f"{memory}m",
                    f"{service['prefix']}_SCRATCH": f"{memory // 2}m",
                    f"{service['prefix']}_PIDS": str(pids)})
    return out


def read_services(text: str) -> list[dict]:
    """The services of services.json; SystemExit naming the file and the entry that is
    not a service (each needs an integer replicas and a prefix)."""
    try:
        services = json.loads(text)["services"]
    except (ValueError, KeyError, TypeError) as exc:
        raise SystemExit(f"golden-app-runtime: {SERVICES}: not the app's services "
                         f"({type(exc).__name__}: {exc})") from None
    for index, service in enumerate(services):
        if not (isinstance(service, dict) and isinstance(service.get("replicas"), int)
                and service.get("prefix")):
            raise SystemExit(f"golden-app-runtime: {SERVICES}: services[{index}]: expected "
                             f"replicas (integer) and prefix, got {service!r}")
    return services


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
    services = read_services(SERVICES.read_text())
    # The CPUs this process may run on, as nproc counts them.
    vcpu = len(os.sched_getaffinity(0)) or 1
    cap = conf.get("WORKER_CAP", 8)
    decided = limits(
        mem_total_mb(Path("/proc/meminfo").read_text()), vcpu, services, cap,
        system_reserve_mb=conf.get("SYSTEM_RESERVE_MB", 768),
        pids_per_worker=conf.get("PIDS_PER_WORKER", 128),
    )
    RUN.mkdir(parents=True, exist_ok=True)
    write_atomically(RUN / "runtime.env", env_text(
        {"WEB_CONCURRENCY": workers(vcpu, worker_replicas(services), cap),
         "GOLDEN_VCPU": vcpu}))
    write_atomically(RUN / "limits.env", env_text(decided))
    return 0


if __name__ == "__main__":
    sys.exit(main())
