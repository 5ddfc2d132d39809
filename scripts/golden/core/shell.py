"""Thin subprocess layer: every external command the CLI runs goes through here, so the
decisions around it stay pure and the commands show up in one place in logs."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Sequence

from golden.core.errors import GoldenError, OperationFailed


def which_or_fail(program: str, hint: str) -> str:
    from shutil import which

    path = which(program)
    if not path:
        raise GoldenError(f"{program} not found on PATH: {hint}", exit_code=5)
    return path


def run(
    argv: Sequence[str],
    *,
    check: bool = True,
    capture: bool = True,
    input: bytes | None = None,
    env: dict | None = None,
    timeout: float | None = None,
    what: str | None = None,
) -> subprocess.CompletedProcess:
    """Run a command; on failure raise OperationFailed naming it and its last output lines."""
    full_env = None if env is None else {**os.environ, **env}
    proc = subprocess.run(
        list(argv),
        input=input,
        capture_output=capture,
        env=full_env,
        timeout=timeout,
    )
    if check and proc.returncode != 0:
        tail = ""
        if capture:
            out = (proc.stdout or b"") + (proc.stderr or b"")
            tail = "\n".join(out.decode(errors="replace").strip().splitlines()[-15:])
        raise OperationFailed(
            f"{what or shlex.join(argv[:3])} failed (exit {proc.returncode})"
            + (f":\n{tail}" if tail else "")
        )
    return proc


def stream(
    argv: Sequence[str],
    *,
    on_line: Callable[[str], None] | None = None,
    env: dict | None = None,
    log_path: str | None = None,
    what: str | None = None,
    tail_lines: int = 25,
) -> list[str]:
    """Run a long command, feeding each output line to ``on_line`` (progress) and to a log
    file; raise OperationFailed with the last lines when it fails."""
    full_env = None if env is None else {**os.environ, **env}
    tail: list[str] = []
    log = open(log_path, "a", encoding="utf-8") if log_path else None
    try:
        with subprocess.Popen(
            list(argv),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=full_env,
            text=True,
            errors="replace",
            bufsize=1,
        ) as proc:
            assert proc.stdout is not None
            for line in proc.stdout:
                line = line.rstrip("\n")
                if log:
                    log.write(line + "\n")
                tail.append(line)
                del tail[:-tail_lines]
                if on_line:
                    on_line(line)
            rc = proc.wait()
    finally:
        if log:
            log.close()
    if rc != 0:
        where = f" (full log: {log_path})" if log_path else ""
        raise OperationFailed(
            f"{what or shlex.join(argv[:3])} failed (exit {rc}){where}; last lines:\n"
            + "\n".join(tail)
        )
    return tail


def wait_until(
    predicate: Callable[[], bool], *, timeout: float, interval: float = 0.5, what: str
) -> float:
    """Poll ``predicate`` until true; bounded in time. Returns the seconds it took."""
    start = time.monotonic()
    deadline = start + timeout
    while True:
        if predicate():
            return time.monotonic() - start
        if time.monotonic() >= deadline:
            raise OperationFailed(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def eprint(*args) -> None:
    print(*args, file=sys.stderr, flush=True)


def error_line(exc: BaseException) -> str:
    """One line for an exception: its type and first line, never a traceback."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def in_background(
    what: str,
    target: Callable[..., object],
    *args,
    on_error: Callable[[BaseException], None] | None = None,
):
    """Start ``target(*args)`` in a daemon thread. An exception ends the thread with one
    line on stderr ("error: WHAT failed: Type: message") instead of the traceback
    threading would print, then ``on_error(exc)`` runs (e.g. to stop what relied on it).
    Returns the started thread."""
    import threading

    def body() -> None:
        try:
            target(*args)
        except Exception as exc:  # noqa: BLE001 -- reported as one line, by design
            eprint(f"error: {what} failed: {error_line(exc)}")
            if on_error is not None:
                on_error(exc)

    thread = threading.Thread(target=body, name=what, daemon=True)
    thread.start()
    return thread
