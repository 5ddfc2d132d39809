"""What an image is made of: git revisions of the repository and of the state tree."""

from __future__ import annotations

import datetime as dt
import subprocess
from pathlib import Path

from golden import __version__

REPO = Path(__file__).resolve().parents[2]


def _git(*args: str) -> str | None:
    proc = subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True)
    return proc.stdout.strip() if proc.returncode == 0 else None


def revision(paths: tuple[str, ...] = ()) -> str:
    """Last commit touching ``paths`` (whole repo when empty); `-dirty` when they carry
    uncommitted changes, `unknown` outside a git checkout."""
    rev = _git("log", "-1", "--format=%H", "--", *paths) if paths else _git("rev-parse", "HEAD")
    if not rev:
        return "unknown"
    dirty = _git("status", "--porcelain", "--", *paths) if paths else _git("status", "--porcelain")
    return rev[:12] + ("-dirty" if dirty else "")


def collect(role: str) -> dict:
    return {
        "role": role,
        "version": __version__,
        "git_revision": revision(),
        "state_tree_revision": revision(("salt", "pillar")),
        "build_time": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
