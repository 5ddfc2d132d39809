"""The wheelhouse: every wheel the image installs, built on the host.

Containers (and build instances without PyPI access) install from it with
`--no-index --find-links`, which is also what makes a bake reproducible. Wheels are built
for the host's Python, which must match the target's (Debian 12: 3.11)."""

from __future__ import annotations

import hashlib
import shutil
import sys
import time
from pathlib import Path

from golden.core.shell import eprint, run, stream

REPO = Path(__file__).resolve().parents[3]
REQUIREMENTS = REPO / "scripts" / "wheelhouse-requirements.txt"
STAMP = ".inputs"


def inputs_hash(requirements: str) -> str:
    py = f"{sys.version_info.major}.{sys.version_info.minor}"
    return hashlib.sha256((py + "\n" + requirements).encode()).hexdigest()[:16]


def _progress(line: str) -> None:
    # pip repeats a warning per package for find-links folders this machine lacks.
    if line.strip() and not line.lstrip().startswith("WARNING: Location"):
        eprint(f"  {line}")


def build(out: str = "build/wheelhouse", *, force: bool = False) -> dict:
    out_dir = Path(out)
    requirements = REQUIREMENTS.read_text()
    wanted = inputs_hash(requirements)
    stamp = out_dir / STAMP
    if not force and stamp.exists() and stamp.read_text().strip() == wanted:
        eprint(f"wheelhouse {out_dir} is up to date ({wanted})")
        add_golden_wheel(out_dir)
        return {"path": str(out_dir), "built": False, "wheels": len(list(out_dir.glob("*.whl")))}
    started = time.monotonic()
    tmp = out_dir.with_name(out_dir.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    (tmp / "requirements.txt").write_text(requirements + "golden\n")
    eprint(f"building wheelhouse for Python {sys.version_info.major}.{sys.version_info.minor}")
    stream(
        [sys.executable, "-m", "pip", "wheel", "-q", "-w", str(tmp), "-r", str(REQUIREMENTS)],
        on_line=_progress,
        what="pip wheel",
    )
    (tmp / STAMP).write_text(wanted + "\n")
    # Swap in whole so an interrupted build never leaves a partial wheelhouse in place.
    shutil.rmtree(out_dir, ignore_errors=True)
    tmp.rename(out_dir)
    add_golden_wheel(out_dir)
    wheels = len(list(out_dir.glob("*.whl")))
    eprint(f"wheelhouse: {wheels} wheels in {time.monotonic() - started:.0f}s")
    return {"path": str(out_dir), "built": True, "wheels": wheels}


def add_golden_wheel(out_dir: Path) -> None:
    """The golden package of this checkout, rebuilt every time (it changes with the code;
    the dependencies above do not)."""
    for old in out_dir.glob("golden-*.whl"):
        old.unlink()
    # A fixed timestamp makes the wheel byte-for-byte reproducible, so an unchanged
    # checkout gives an unchanged image (twin builds are skipped on equal inputs).
    run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out_dir),
         str(REPO)], env={"SOURCE_DATE_EPOCH": "315532800"}, what="pip wheel golden")
