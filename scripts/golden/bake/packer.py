"""Thin adapter over the `packer` executable: find it, check its version, validate, build.

Nothing here decides anything about the bake; it runs Packer and hands back lines and exit
codes. Ctrl-C (and SIGTERM) are forwarded to Packer, which then cleans up its instance or
container, and we wait for that to finish."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from golden.core.errors import OperationFailed, PreflightError

MIN_VERSION = (1, 6, 6)
INSTALL_HINT = (
    "install Packer >= 1.6.6: `apt-get install packer` (Debian) or the HashiCorp release "
    "from https://developer.hashicorp.com/packer/install (1.9+ recommended; then run "
    "`packer init packer/`)"
)
# How long Packer may take to clean up (terminate the instance, delete the temporary key,
# security group and IAM profile) after an interrupt before we give up waiting.
CLEANUP_TIMEOUT = 30 * 60

_VERSION = re.compile(r"(\d+)\.(\d+)\.(\d+)")


def environment() -> dict[str, str]:
    # Packer phones home for version checks unless told not to.
    return {**os.environ, "CHECKPOINT_DISABLE": "1"}


def find_packer() -> str:
    path = shutil.which("packer")
    if not path:
        raise PreflightError(f"packer not found on PATH: {INSTALL_HINT}")
    return path


def parse_version(text: str) -> tuple[int, int, int] | None:
    match = _VERSION.search(text)
    return tuple(int(part) for part in match.groups()) if match else None  # type: ignore[return-value]


def version(packer: str) -> tuple[int, int, int]:
    try:
        proc = subprocess.run(
            [packer, "version"], capture_output=True, text=True, env=environment(), timeout=60
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise PreflightError(f"{packer} version: could not run ({exc}); {INSTALL_HINT}") from None
    found = parse_version(proc.stdout) if proc.returncode == 0 else None
    if found is None:
        raise PreflightError(
            f"{packer} version: unexpected answer (exit {proc.returncode}): "
            f"{(proc.stdout + proc.stderr).strip()[:200]!r}; {INSTALL_HINT}"
        )
    if found < MIN_VERSION:
        raise PreflightError(
            f"packer {'.'.join(map(str, found))} at {packer} is too old (need >= "
            f"{'.'.join(map(str, MIN_VERSION))}): {INSTALL_HINT}"
        )
    return found


@dataclass(frozen=True)
class Result:
    returncode: int
    output: list[str]
    interrupted: bool = False


def validate(
    packer: str, template_dir: Path, args: Sequence[str], *, cwd: Path | None = None
) -> Result:
    proc = subprocess.run(
        [packer, "validate", "-machine-readable", *args, str(template_dir)],
        capture_output=True,
        text=True,
        errors="replace",
        env=environment(),
        cwd=cwd,
        timeout=300,
    )
    return Result(proc.returncode, (proc.stdout + proc.stderr).splitlines())


def build(
    packer: str,
    template_dir: Path,
    args: Sequence[str],
    *,
    on_line: Callable[[str], None],
    log_path: Path,
    cwd: Path | None = None,
    on_interrupt: Callable[[int], None] | None = None,
) -> Result:
    """Run `packer build -machine-readable`, feeding every stdout line to ``on_line`` and to
    ``log_path``. Packer gets its own session so a terminal Ctrl-C reaches only us; we pass
    each SIGINT/SIGTERM on and keep reading until Packer has cleaned up and exited."""
    argv = [packer, "build", "-machine-readable", *args, str(template_dir)]
    interrupts: list[int] = []
    tail: list[str] = []
    with open(log_path, "a", encoding="utf-8") as log:
        proc = subprocess.Popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            bufsize=1,
            env=environment(),
            cwd=cwd,
            start_new_session=True,
        )

        def forward(signum, _frame):
            interrupts.append(signum)
            if on_interrupt:
                on_interrupt(signum)
            if proc.poll() is None:
                # To the whole group, as a terminal would: Packer 1.6.6 runs under
                # panicwrap, whose parent process ignores a SIGINT sent to it alone.
                try:
                    os.killpg(proc.pid, signal.SIGINT)
                except ProcessLookupError:
                    pass

        previous = {}
        if threading.current_thread() is threading.main_thread():
            previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                line = line.rstrip("\n")
                log.write(line + "\n")
                log.flush()
                tail.append(line)
                del tail[:-200]
                on_line(line)
            rc = _wait(proc, interrupts)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            if proc.poll() is None:  # only when something above raised
                proc.kill()
                proc.wait()
    return Result(rc, tail, interrupted=bool(interrupts))


def _wait(proc: subprocess.Popen, interrupts: list[int]) -> int:
    deadline = time.monotonic() + CLEANUP_TIMEOUT
    while True:
        try:
            return proc.wait(timeout=1)
        except subprocess.TimeoutExpired:
            if interrupts and time.monotonic() > deadline:
                proc.kill()
                raise OperationFailed(
                    f"packer did not finish cleaning up within {CLEANUP_TIMEOUT}s after the "
                    "interrupt and was killed: check for a leftover build instance, key pair, "
                    "security group or container"
                ) from None
