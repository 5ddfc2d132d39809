"""The wheelhouse: every wheel the image installs, built on the host from the lock.

Containers (and build instances without PyPI access) install from it with
`pip install --require-hashes --no-index --find-links`, which is also what makes a bake
reproducible: the versions and the sha256 of every distribution come from the lock
(scripts/wheelhouse-requirements.txt, `make lock`), never from a resolver run at bake
time. Wheels are built for the host's Python, which must match the target's (Debian 12:
3.11).

What the folder holds besides the wheels (the image installs from these files only):

- ``requirements.txt``: the lock's pins this machine's Python and CPU need, with the
  lock's hashes plus, for a wheel pip built here from a locked sdist (timelib has no
  manylinux wheel), that wheel's own sha256: pip checked the sdist against the lock.
- ``golden.txt``: the golden package of this checkout, built at bake time (it cannot be
  in the lock), pinned by the sha256 of its wheel.
- ``onedir.txt``: golden's own dependencies without Salt and what only Salt needs (the
  onedir install brings Salt and its Python).
- ``tests.txt``: the in-bake test run's tools (pytest, testinfra, ssh-audit).
- ``wheelhouse.json``: the lock's digest, the Python and CPU, the wheels built here and
  the golden wheel's sha256; the bake refuses a wheelhouse whose lock digest is not the
  checkout's and copies the rest into its build record.
"""

from __future__ import annotations

import hashlib
import json
import platform
import shutil
import sys
import time
import zipfile
from pathlib import Path

from golden.core import locks
from golden.core.errors import ConfigError
from golden.core.shell import eprint, run, stream

REPO = Path(__file__).resolve().parents[3]
LOCK = REPO / locks.IMAGE_LOCKS["wheelhouse"]
STAMP = ".inputs"
MANIFEST = locks.WHEELHOUSE_MANIFEST
TEST_TOOLS = ("pytest", "pytest-testinfra", "ssh-audit")
# A fixed timestamp makes the golden wheel byte-for-byte reproducible, so an unchanged
# checkout gives an unchanged image (twin builds are skipped on equal inputs).
SOURCE_DATE_EPOCH = "315532800"


def host_target() -> tuple[str, str]:
    """(major.minor of this Python, CPU name as in wheel tags: x86_64, aarch64)."""
    return f"{sys.version_info.major}.{sys.version_info.minor}", platform.machine()


def inputs_hash(lock_text: str, python: str | None = None, machine: str | None = None) -> str:
    """What the wheels depend on: the lock, the Python and the CPU (16 hex digits)."""
    host_python, host_machine = host_target()
    text = f"{python or host_python} {machine or host_machine}\n{lock_text}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _progress(line: str) -> None:
    # pip repeats a warning per package for find-links folders this machine lacks.
    if line.strip() and not line.lstrip().startswith("WARNING: Location"):
        eprint(f"  {line}")


def classify_wheels(pins: list[locks.Pin], wheels: dict[str, str],
                    source: str = LOCK.name) -> tuple[dict, dict]:  # fmt: skip
    """Check every wheel ({file name: sha256 hex}) against the lock's ``pins``. Returns
    (extra hashes per pin name, {file: sha256} of the wheels built here): a wheel whose
    sha256 the lock lists was downloaded as locked; one it does not list was built here
    from the locked sdist. Raises ConfigError for a wheel no pin names (name or version)."""
    by_name = {pin.name: pin for pin in pins}
    extra: dict[str, list[str]] = {}
    built: dict[str, str] = {}
    for filename, sha in sorted(wheels.items()):
        parsed = locks.wheel_name_version(filename)
        pin = by_name.get(parsed[0]) if parsed else None
        if pin is None or locks.normalize(parsed[1]) != locks.normalize(pin.version):
            raise ConfigError(f"wheelhouse: {filename} is not pinned by {source}; rebuild the "
                              "wheelhouse (golden twin build, make image)")  # fmt: skip
        if sha not in pin.hashes:
            extra.setdefault(pin.name, []).append(sha)
            built[filename] = sha
    return extra, built


def golden_requirements(wheel: Path) -> tuple[str, list[str]]:
    """(version, normalized names of the runtime requirements, extras left out) from a
    golden wheel's METADATA."""
    from packaging.requirements import Requirement

    with zipfile.ZipFile(wheel) as archive:
        meta = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        text = archive.read(meta).decode()
    version, requires = "", []
    for line in text.splitlines():
        if line.startswith("Version:"):
            version = line.split(":", 1)[1].strip()
        elif line.startswith("Requires-Dist:"):
            requirement = Requirement(line.split(":", 1)[1].strip())
            if requirement.marker is None or "extra" not in str(requirement.marker):
                requires.append(locks.normalize(requirement.name))
    return version, requires


def missing_from_lock(pins: list[locks.Pin], requires: list[str]) -> list[str]:
    """golden's runtime requirements the lock does not pin (an install with
    --require-hashes would refuse them)."""
    pinned = {pin.name for pin in pins}
    return sorted(name for name in requires if name not in pinned)


def build(out: str = "build/wheelhouse", *, force: bool = False, pip_args=(),
          lock: Path | None = None) -> dict:  # fmt: skip
    """Make ``out`` hold the wheels of the lock for this machine (rebuilt only when the
    lock, the Python or the CPU changed, or ``force``) and the golden wheel of this
    checkout, with the requirement files and manifest described above. ``pip_args`` adds
    pip options (tests: a local --find-links index with --no-index). Returns
    {"path", "built", "wheels", "lock_digest", "golden_wheel"}; raises ConfigError for a
    broken lock, OperationFailed when pip fails (nothing is swapped in then)."""
    lock = Path(lock or LOCK)
    out_dir = Path(out)
    lock_text = lock.read_text(encoding="utf-8")
    pins = locks.parse(lock_text, str(lock))
    python, machine = host_target()
    wanted = inputs_hash(lock_text, python, machine)
    stamp = out_dir / STAMP
    built_now = force or not (stamp.exists() and stamp.read_text().strip() == wanted)
    started = time.monotonic()
    if built_now:
        _build_wheels(out_dir, pins, python, machine, wanted, pip_args)
    else:
        eprint(f"wheelhouse {out_dir} is up to date ({wanted})")
    manifest = add_golden_wheel(out_dir, lock=lock)
    wheels = len(list(out_dir.glob("*.whl")))
    if built_now:
        eprint(f"wheelhouse: {wheels} wheels in {time.monotonic() - started:.0f}s")
    return {
        "path": str(out_dir),
        "built": built_now,
        "wheels": wheels,
        "lock_digest": manifest["lock_digest"],
        "golden_wheel": manifest["golden_wheel"],
    }


def _build_wheels(out_dir: Path, pins: list[locks.Pin], python: str, machine: str,
                  wanted: str, pip_args) -> None:  # fmt: skip
    tmp = out_dir.with_name(out_dir.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    target = locks.for_target(pins, python, machine)
    # Markers are judged above for the image (its Python's full version may differ from
    # the host's): the build fetches every pin the image may need, each hash-checked.
    unmarked = tmp / "lock-for-target.txt"
    unmarked.write_text(locks.render([locks.Pin(p.name, p.version, None, p.hashes)
                                      for p in target]))  # fmt: skip
    eprint(f"building wheelhouse for Python {python} {machine} from {LOCK.name}")
    stream(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--require-hashes",
         "-w", str(tmp), "-r", str(unmarked), *pip_args],
        on_line=_progress,
        what="pip wheel",
    )  # fmt: skip
    unmarked.unlink()
    (tmp / STAMP).write_text(wanted + "\n")
    # Swap in whole so an interrupted build never leaves a partial wheelhouse in place.
    shutil.rmtree(out_dir, ignore_errors=True)
    tmp.rename(out_dir)


def _sha256(path: Path) -> str:
    return locks.file_digest(path).split(":", 1)[1]


def add_golden_wheel(out_dir: Path, *, lock: Path | None = None) -> dict:
    """The golden package of this checkout, rebuilt every time (it changes with the code;
    the locked dependencies do not), then the requirement files and wheelhouse.json.
    Returns the manifest. Raises ConfigError when a wheel is not the lock's, or golden
    needs a package the lock does not pin."""
    golden = build_golden_wheel(out_dir)
    return write_requirement_files(out_dir, Path(lock or LOCK), golden)


def build_golden_wheel(out_dir: Path) -> Path:
    """This checkout's golden wheel in ``out_dir`` (replacing an older one), reproducible
    byte for byte (SOURCE_DATE_EPOCH); its path. No lock is consulted: the stand-ins'
    wheelhouse (moto, chromadb: test infrastructure, not an image input) takes it as is."""
    out_dir = Path(out_dir)
    for old in out_dir.glob("golden-*.whl"):
        old.unlink()
    run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out_dir), str(REPO)],
        env={"SOURCE_DATE_EPOCH": SOURCE_DATE_EPOCH},
        what="pip wheel golden",
    )
    return next(out_dir.glob("golden-*.whl"))


def write_requirement_files(out_dir: Path, lock: Path, golden: Path) -> dict:
    """requirements.txt, golden.txt, onedir.txt, tests.txt and wheelhouse.json for the
    wheels in ``out_dir`` (see the module's docstring); returns the manifest."""
    lock_text = Path(lock).read_text(encoding="utf-8")
    pins = locks.parse(lock_text, str(lock))
    python, machine = host_target()
    target = locks.for_target(pins, python, machine)
    wheels = {w.name: _sha256(w) for w in sorted(out_dir.glob("*.whl")) if w != golden}
    extra, built_here = classify_wheels(target, wheels, str(lock))
    version, requires = golden_requirements(golden)
    missing = missing_from_lock(pins, requires)
    if missing:
        raise ConfigError(
            f"{lock}: golden needs {', '.join(missing)}, which the lock does not pin: add "
            f"it to {lock.with_suffix('.in').name} and run `make lock`"
        )
    golden_sha = _sha256(golden)
    header = f"from {lock.name} ({locks.file_digest(lock)}), for Python {python} {machine}"
    (out_dir / "requirements.txt").write_text(locks.render(target, extra, header))
    (out_dir / "golden.txt").write_text(
        f"# built from this checkout at bake time\ngolden=={version} --hash=sha256:{golden_sha}\n"
    )
    onedir = locks.closure(target, [r for r in requires if r != "salt"], exclude=["salt"])
    (out_dir / "onedir.txt").write_text(locks.render(onedir, extra, header))
    (out_dir / "tests.txt").write_text(locks.render(locks.closure(target, TEST_TOOLS), extra,
                                                    header))  # fmt: skip
    manifest = {
        "lock": str(lock.relative_to(REPO)) if lock.is_relative_to(REPO) else str(lock),
        "lock_digest": locks.file_digest(lock),
        "python": python,
        "machine": machine,
        "wheels": len(wheels) + 1,
        "built_here": built_here,
        "golden_wheel": {"file": golden.name, "version": version, "sha256": golden_sha},
    }
    (out_dir / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return manifest


def read_manifest(out_dir: Path) -> dict | None:
    """wheelhouse.json of ``out_dir``; None when there is none or it is not JSON."""
    try:
        return json.loads((Path(out_dir) / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
