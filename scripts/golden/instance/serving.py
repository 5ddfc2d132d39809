"""Whether an instance is settled and serving, as the instance side of hotfix and drift
needs to know: the jobs systemd still runs (a unit caught starting is not drift), and the
requests nginx failed while a highstate ran (a hotfix that dropped requests is not a
success). Plain reads of systemd and nginx's JSON access log; every wait bounded."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

from golden.core.shell import eprint

# Answers nginx gives when no replica could serve the request (the upstream failed).
DROPPED_STATUSES = (502, 503, 504)


def pending_jobs(systemctl: str) -> list[str]:
    """The units systemd is still starting or stopping (`systemctl list-jobs`); an empty
    list when none, or when systemd cannot be asked (then there is nothing to wait for)."""
    try:
        proc = subprocess.run([systemctl, "list-jobs", "--no-legend", "--plain"],
                              capture_output=True, text=True, timeout=30)  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return []
    if proc.returncode != 0:
        return []
    return [line.split()[1] for line in proc.stdout.splitlines() if len(line.split()) > 1]


def wait_settled(
    systemctl: str | None, seconds: float, progress=eprint, sleep=time.sleep, clock=time.monotonic
) -> list[str]:
    """Wait until systemd has no job queued, at most SECONDS; returns the jobs still
    queued then (drift reports them as starting, never as drift). SYSTEMCTL None: no
    systemd to ask (tests)."""
    if systemctl is None:
        return []
    deadline = clock() + seconds
    jobs = pending_jobs(systemctl)
    if jobs:
        progress(f"golden drift: waiting for systemd to finish starting {', '.join(jobs)}")
    while jobs and clock() < deadline:
        sleep(1.0)
        jobs = pending_jobs(systemctl)
    return jobs


def log_size(path: Path) -> int | None:
    """Bytes in the access log now (None when there is none: no nginx on this host)."""
    try:
        return path.stat().st_size
    except OSError:
        return None


def failed_requests_since(
    path: Path, offset: int | None, *, flush_seconds: float = 3.0, sleep=time.sleep
) -> dict[int, int]:
    """{status: count} of the requests nginx answered 502/503/504 after byte OFFSET of
    its JSON access log (empty when there was no log), once its buffer has been flushed.
    A log rotated meanwhile is read from its start."""
    if offset is None:
        return {}
    sleep(flush_seconds)
    try:
        with path.open("rb") as handle:
            size = path.stat().st_size
            handle.seek(offset if size >= offset else 0)
            data = handle.read()
    except OSError:
        return {}
    counts: dict[int, int] = {}
    for line in data.splitlines():
        try:
            status = int(json.loads(line).get("status"))
        except (ValueError, TypeError, AttributeError):
            continue
        if status in DROPPED_STATUSES:
            counts[status] = counts.get(status, 0) + 1
    return counts


def dropped_message(counts: dict[int, int]) -> str:
    total = sum(counts.values())
    detail = ", ".join(f"{n} x {status}" for status, n in sorted(counts.items()))
    return (f"{total} request(s) failed while the highstate ran ({detail}): a change took "
            f"the app down; look for a replica that was stopped or restarted")  # fmt: skip
