#!/usr/bin/python3
"""golden-chroma-limits: the Chroma container's memory and process limits, decided at each
start of chroma.service (ExecStartPre) from the instance's memory, written to
/run/chroma/limits.env for the unit's EnvironmentFile (systemd reads it after this
step, before ExecStart: systemd.exec(5), EnvironmentFile=).

Memory: the instance's memory less what the system keeps (the larger of SYSTEM_RESERVE_MB
and a fifth: dockerd, the authenticating nginx proxy, the CloudWatch agent, Salt runs, the
page cache Chroma's files need). Processes (threads count): PIDS, Chroma's Rust and
Python threads with room to spare."""

from __future__ import annotations

import os
import sys
from pathlib import Path

OUT = Path("/run/chroma/limits.env")
SYSTEM_RESERVE_MB = 768
MIN_MEMORY_MB = 512
PIDS = 2048


def limits(mem_total_mb: int, system_reserve_mb: int = SYSTEM_RESERVE_MB) -> dict[str, str]:
    """CHROMA_MEMORY ("NNNm", docker's syntax) and CHROMA_PIDS for an instance with
    ``mem_total_mb`` MiB."""
    memory = max(MIN_MEMORY_MB, mem_total_mb - max(system_reserve_mb, mem_total_mb // 5))
    return {"CHROMA_MEMORY": f"{memory}m", "CHROMA_PIDS": str(PIDS)}


def mem_total_mb(meminfo: str) -> int:
    for line in meminfo.splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) // 1024
    raise SystemExit("golden-chroma-limits: /proc/meminfo has no MemTotal")


def main() -> int:
    values = limits(mem_total_mb(Path("/proc/meminfo").read_text()))
    OUT.parent.mkdir(parents=True, exist_ok=True)
    tmp = OUT.with_name(OUT.name + ".tmp")
    tmp.write_text("".join(f"{key}={value}\n" for key, value in values.items()))
    os.chmod(tmp, 0o644)
    os.replace(tmp, OUT)
    return 0


if __name__ == "__main__":
    sys.exit(main())
