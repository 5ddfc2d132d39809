"""gixy (PyPI gixy-ng) on the nginx configuration the audited host printed with
`nginx -T`, which gixy reads as one dump: every included file from the host, none from
this machine."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from golden.core.errors import ConfigError, OperationFailed


def executable() -> str:
    """gixy beside this Python (the venv), else on PATH; ConfigError when neither."""
    beside = Path(sys.executable).parent / "gixy"
    found = str(beside) if beside.exists() else shutil.which("gixy")
    if not found:
        raise ConfigError("gixy not found: pip install gixy-ng (golden's dev dependencies: "
                          "make setup)")
    return found


def run(dump: str, timeout: float = 300) -> str:
    """gixy's JSON report (-f json) of an `nginx -T` dump. OperationFailed when gixy
    could not read it (exit 1 and 0 both carry a report)."""
    with tempfile.TemporaryDirectory(prefix="golden-gixy-") as tmp:
        path = Path(tmp) / "nginx-T.conf"
        path.write_text(dump)
        try:
            proc = subprocess.run([executable(), "-f", "json", str(path)], capture_output=True,
                                  text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise OperationFailed(f"gixy did not finish within {timeout:.0f}s") from None
    if not proc.stdout.strip().startswith("["):
        raise OperationFailed(f"gixy: no report (exit {proc.returncode}): "
                              f"{(proc.stderr or proc.stdout).strip()[-500:]}")
    return proc.stdout
