"""The audit's way into the local twin: docker cp and docker exec, nothing else. The
twin's sshd and nginx are reached from inside it, on its own loopback."""

from __future__ import annotations

import secrets
from pathlib import Path

from golden.audit import remote
from golden.audit.bundle import Bundle
from golden.core import containers
from golden.core.errors import ConfigError, OperationFailed
from golden.core.shell import run


def check_running(name: str) -> None:
    state = containers.container_state(name)
    if not state or not (state.get("State") or {}).get("Running"):
        raise ConfigError(f"twin {name}: no such running container (make local, or "
                          "golden twin up; --twin names another)")


def audit(name: str, bundle: Bundle, *, ssh_port: int = 22, timeout: float = 900) -> str:
    """Copy the bundle into the twin, run the audit script there, return its output. The
    work folder is removed by the script and again here, whatever happened."""
    check_running(name)
    work = remote.WORK_PREFIX + secrets.token_hex(6)
    text = remote.script(work, bundle.sha256, ssh_port=ssh_port)
    try:
        containers.exec_in(name, ["mkdir", "-m", "0700", work], timeout=30)
        containers.copy_into(name, str(bundle.path), f"{work}/bundle.tgz")
        proc = run(["docker", "exec", name, "sh", "-c", text], check=False, timeout=timeout,
                   what=f"golden audit in {name}")
    finally:
        run(["docker", "exec", name, "rm", "-rf", work], check=False, timeout=60)
    out = proc.stdout.decode(errors="replace")
    if proc.returncode != 0:
        raise OperationFailed(f"the audit script failed in {name} (exit {proc.returncode}): "
                              f"{proc.stderr.decode(errors='replace').strip()[-800:]}")
    return out


def leftovers(name: str) -> list[str]:
    """Anything of the audit still in the twin (it must be nothing)."""
    # The root file system and the tmpfs mounts (/run, /tmp) alike.
    proc = containers.exec_in(name, ["sh", "-c", "ls -d /var/tmp/golden-audit-* 2>/dev/null; "
                                     "find / /run /tmp -xdev -name '*lynis*' 2>/dev/null"],
                              check=False, timeout=120)
    return [line for line in proc.stdout.decode().splitlines() if line.strip()]


def default_bundle_dir() -> Path:
    from golden.core.provenance import REPO

    return REPO / "build" / "audit"
