"""Every `make TARGET` the README's table and the manual name is a target of the Makefile
(`make audit` was documented, listed in .PHONY, and had no recipe)."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def documented_targets() -> set[str]:
    texts = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
    found = set()
    for path in texts:
        found |= set(re.findall(r"`make ([a-z][a-z0-9-]*)", path.read_text()))
    return found


def test_every_documented_make_target_has_a_recipe():
    targets = documented_targets()
    assert {"local", "test", "audit", "rehearsal", "cost"} <= targets
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    # -B: a target already up to date (setup) still shows its recipe.
    missing = []
    for target in sorted(targets):
        proc = subprocess.run(["make", "--no-print-directory", "-n", "-B", target], cwd=REPO,
                              capture_output=True, text=True, timeout=60, env=env)  # fmt: skip
        if proc.returncode != 0 or "Nothing to be done" in proc.stdout + proc.stderr:
            missing.append(f"{target}: {(proc.stderr or proc.stdout).strip()[-200:]}")
    assert missing == []
