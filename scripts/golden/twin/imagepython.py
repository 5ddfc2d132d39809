"""The Python side of an application image: what its venv installs from its lock, and
what it ends up holding.

- In: `wheelhouse_requirements` (the pins the host fetches, hash-checked, for the image's
  Python and CPU) and `install_requirements` (what the build container installs with
  --require-hashes, with the hashes of wheels built here from locked sdists).
- Out: the build script prints the venv's packages on one line (`LIST_PACKAGES`);
  `packages_listed` finds it, `packages_label` keeps it on the image, `parse_packages`
  reads it back for the archive's manifest and so for the image's SBOM.

Pure functions over text; golden.twin.appimages and chromaimage run the builds."""

from __future__ import annotations

import json

from golden.core import locks
from golden.twin.wheelhouse import classify_wheels

# What the image's venv holds, printed on one line by the build script and kept as a label,
# so the image's SBOM (golden instance sbom, from the archive's manifest) names its
# Python packages without starting it.
PACKAGES_LABEL = "io.golden.python-packages"
PACKAGES_PREFIX = "golden-python-packages: "
LIST_PACKAGES = (
    "{venv}/bin/python -c 'import importlib.metadata as m; print(\"" + PACKAGES_PREFIX
    + "\" + \" \".join(sorted(d.metadata[\"Name\"] + \"==\" + d.version "
    "for d in m.distributions())))'"
)


def wheelhouse_requirements(lock: str, python: str, machine: str, source: str = "lock") -> str:
    """The lock's pins a CPython ``python`` on ``machine`` may need, each with its hashes
    and without its marker: the wheelhouse holds every pin such a target may install,
    since markers such as python_full_version must be judged by the image's Python, not
    the host's (golden.core.locks.for_target). Raises ConfigError for a lock entry that
    is not an exact pin with hashes."""
    pins = locks.for_target(locks.parse(lock, source), python, machine)
    return locks.render([locks.Pin(p.name, p.version, None, p.hashes) for p in pins])


def install_requirements(lock: str, python: str, machine: str, wheels: dict[str, str],
                         source: str = "lock") -> str:  # fmt: skip
    """What the build container installs with --require-hashes: the target's pins with
    their markers and the lock's hashes, plus the sha256 of each wheel pip built on the
    host from a locked sdist (``wheels``: {file name: sha256 hex} of the wheelhouse)."""
    pins = locks.for_target(locks.parse(lock, source), python, machine)
    extra, _built = classify_wheels(pins, wheels, source)
    return locks.render(pins, extra, f"from {source}, for Python {python} {machine}")


def packages_listed(lines: list[str]) -> str:
    """The package list the build script printed ("name==version ..."); "" without one."""
    for line in reversed(lines):
        if line.startswith(PACKAGES_PREFIX):
            return line[len(PACKAGES_PREFIX):].strip()
    return ""


def parse_packages(text: str | None) -> list[dict[str, str]]:
    """[{"name", "version"}] of a "name==version ..." list (the label's value)."""
    found = []
    for item in (text or "").split():
        name, sep, version = item.partition("==")
        if sep and name and version:
            found.append({"name": name, "version": version})
    return found


def packages_label(listing: str) -> str:
    """The `docker commit -c` change that keeps the package list on the image."""
    return f"LABEL {PACKAGES_LABEL}={json.dumps(listing)}"
