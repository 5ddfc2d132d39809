"""pgloader (Debian's package, 3.6.x) as a subprocess: the SQLite file into the staging
schema. The password goes in PGPASSWORD, never on a command line or in a file.

TLS: pgloader 3.6 knows sslmode disable/allow/prefer/require only, and its ``require``
checks the certificate chain against OpenSSL's default store, not the host name
(dimitri/pgloader#1219, #1476). So for verify-full golden hands pgloader the CA bundle as
that store (SSL_CERT_FILE) and, before pgloader connects, proves the server's identity
with a verify-full libpq connection to the same host and port (``postgres.connect``)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from golden.core.errors import ConfigError, OperationFailed, PreflightError
from golden.cutover import schema
from golden.cutover.target import Credentials, Target

_URI_SAFE = re.compile(r"^[A-Za-z0-9_.-]+$")


def program() -> str:
    found = shutil.which("pgloader")
    if not found:
        raise PreflightError("pgloader not found on PATH: apt-get install pgloader "
                             "(scripts/bootstrap.sh installs it)")
    return found


def target_url(target: Target) -> str:
    """pgloader's target URI (no password). Raises ConfigError for names its URI parser
    cannot take."""
    for field, value in (("database.user", target.db_user), ("database.name", target.db_name),
                         ("database.host", target.db_host)):
        if not _URI_SAFE.match(value):
            raise ConfigError(f"{field}: {value!r}: pgloader takes letters, digits, '.', '_' "
                              "and '-' only")
    mode = "disable" if target.sslmode == "disable" else "require"
    return (f"postgresql://{target.db_user}@{target.db_host}:{target.db_port}/"
            f"{target.db_name}?sslmode={mode}")


def check_password(creds: Credentials) -> None:
    """pgloader 3.6's SCRAM login fails on a non-ASCII password (seen against PostgreSQL
    15 with scram-sha-256); RDS allows printable ASCII only anyway. Raises ConfigError."""
    if not creds.db_password.isascii():
        raise ConfigError("SSM parameter db_password: pgloader 3.6 cannot log in with a "
                          "non-ASCII password; set an ASCII one (as RDS requires)")


def environment(target: Target, creds: Credentials) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["PGPASSWORD"] = creds.db_password
    if target.ca_bundle:
        env["SSL_CERT_FILE"] = target.ca_bundle
    return env


def load(sqlite_path: Path, tables: list[schema.Table], target: Target, creds: Credentials,
         *, timeout: float, on_line: Callable[[str], None] | None = None) -> list[str]:
    """Run pgloader; returns its summary lines. Raises OperationFailed with its last lines
    (password removed) when it fails or runs past ``timeout`` seconds."""
    argv0 = program()
    work = Path(tempfile.mkdtemp(prefix="golden-cutover-pgloader-"))
    try:
        # pgloader's URI parser takes no spaces or quotes: a plain link to the file.
        link = work / "source.db"
        link.symlink_to(sqlite_path.resolve())
        command = work / "load.pgl"
        command.write_text(schema.load_command(tables, source=str(link),
                                               target_url=target_url(target)))
        command.chmod(0o600)
        argv = [argv0, "--root-dir", str(work / "root"), "--logfile", str(work / "log"),
                "--summary", str(work / "summary.txt")]
        if target.sslmode == "require":
            argv.append("--no-ssl-cert-verification")
        argv.append(str(command))
        lines = _run(argv, environment(target, creds), timeout, on_line)
        failed = [line for line in lines if " ERROR " in line or "FATAL" in line]
        if failed:
            raise OperationFailed("pgloader reported errors:\n" +
                                  _redact("\n".join(failed[-10:]), creds))
        return lines
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _run(argv: list[str], env: dict, timeout: float, on_line) -> list[str]:
    lines: list[str] = []
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
                            text=True, errors="replace", preexec_fn=_die_with_parent)
    timer = threading.Timer(timeout, proc.kill)
    timer.start()
    started = time.monotonic()
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line.rstrip("\n"))
            if on_line:
                on_line(line.rstrip("\n"))
        rc = proc.wait()
    finally:
        timer.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if time.monotonic() - started >= timeout:
        raise OperationFailed(f"pgloader ran past its {timeout:.0f} s limit and was stopped")
    if rc != 0:
        tail = _redact("\n".join(lines[-25:]), Credentials(env.get("PGPASSWORD", "")))
        raise OperationFailed(f"pgloader failed (exit {rc}); last lines:\n{tail}")
    return lines


def _die_with_parent() -> None:
    """Linux: pgloader is killed when golden dies (a killed run must not leave a loader
    writing into the staging schema that the next run drops)."""
    import ctypes
    import signal

    pr_set_pdeathsig = 1
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)


def _redact(text: str, creds: Credentials) -> str:
    return text.replace(creds.db_password, "***") if creds.db_password else text
