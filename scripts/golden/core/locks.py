"""Lock files: the exact, hash-pinned package sets that enter an image and the dev
environment (`make lock` writes them with `uv pip compile --generate-hashes --universal`).

A lock is a pip requirements file in which every entry is `name==version`, optionally
`; marker`, followed by one or more `--hash=sha256:HEX` options, and uv's `# via PARENT`
comments. The pure functions here read one (`parse`), choose what a target machine needs
(`for_target`: environment markers judged for the image's Python and CPU), compute the
packages one of them needs (`closure`, from the `# via` graph) and write the
requirements a build installs with `pip install --require-hashes` (`render`).

Lock files (input -> lock), all updated by `make lock`:

    scripts/wheelhouse-requirements.in        -> scripts/wheelhouse-requirements.txt
    scripts/chroma-requirements.in            -> scripts/chroma-requirements.txt
    tests/sample_app/backend/requirements.in  -> tests/sample_app/backend/requirements.txt
    tests/sample_app/frontend/requirements.in -> tests/sample_app/frontend/requirements.txt
    pyproject.toml [project.optional-dependencies] dev -> scripts/dev-requirements.txt
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from golden.core.errors import ConfigError

# The image locks, relative to the repository: what a bake's wheelhouse and image archives
# are built from (golden.twin.wheelhouse, appimages, chromaimage).
IMAGE_LOCKS = {
    "wheelhouse": Path("scripts/wheelhouse-requirements.txt"),
    "chroma": Path("scripts/chroma-requirements.txt"),
    "sample-backend": Path("tests/sample_app/backend/requirements.txt"),
    "sample-frontend": Path("tests/sample_app/frontend/requirements.txt"),
}
DEV_LOCK = Path("scripts/dev-requirements.txt")
# What a wheelhouse built from the lock holds besides its wheels (golden.twin.wheelhouse):
# the requirement files the image installs with --require-hashes, and its manifest.
WHEELHOUSE_MANIFEST = "wheelhouse.json"
WHEELHOUSE_REQUIREMENTS = ("requirements.txt", "golden.txt", "onedir.txt", "tests.txt")

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_HASH = re.compile(r"^--hash=sha256:([0-9a-f]{64})$")


def normalize(name: str) -> str:
    """PEP 503 name normalization: lower case, runs of -_. become one dash."""
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass(frozen=True)
class Pin:
    """One locked requirement: normalized name, exact version, the environment marker (or
    None), the sha256 hex digests of the distributions PyPI has for it, and the names of
    the packages (normalized) or input files that need it (uv's `# via`)."""

    name: str
    version: str
    marker: str | None
    hashes: tuple[str, ...]
    via: tuple[str, ...] = field(default=())

    def line(self, extra_hashes: Iterable[str] = ()) -> str:
        """The requirement as one line of a pip requirements file."""
        marker = f" ; {self.marker}" if self.marker else ""
        hashes = list(self.hashes) + [h for h in extra_hashes if h not in self.hashes]
        return f"{self.name}=={self.version}{marker} " + " ".join(
            f"--hash=sha256:{h}" for h in hashes
        )


def _logical_lines(text: str) -> list[tuple[int, str, list[str]]]:
    """(first line number, the requirement with its options, the comments after it)."""
    entries: list[tuple[int, str, list[str]]] = []
    current: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), 1):
        stripped = raw.strip()
        if stripped.startswith("#"):
            if entries and not current:
                entries[-1][2].append(stripped.lstrip("#").strip())
            continue
        if not stripped:
            continue
        if not current:
            start = number
        current.append(stripped.removesuffix("\\").strip())
        if not stripped.endswith("\\"):
            entries.append((start, " ".join(current), []))
            current = []
    if current:
        entries.append((start, " ".join(current), []))
    return entries


def _via(comments: list[str]) -> tuple[str, ...]:
    found: list[str] = []
    collecting = False
    for comment in comments:
        if comment.startswith("via"):
            rest = comment[3:].strip()
            collecting = not rest
            if rest:
                found.append(rest)
        elif collecting and comment:
            found.append(comment)
        else:
            collecting = False
    return tuple(normalize(v) if _NAME.match(v) else v for v in found)


def parse(text: str, source: str = "lock") -> list[Pin]:
    """The pins of a lock file's ``text`` (``source`` names it in errors). Raises
    ConfigError naming the file and line for an entry that is not `name==version` with at
    least one sha256 hash, or an option a lock must not carry (an index or find-links line
    would send the install elsewhere)."""
    pins: list[Pin] = []
    for number, entry, comments in _logical_lines(text):
        where = f"{source}:{number}"
        words = entry.split()
        if words[0].startswith("-"):
            raise ConfigError(f"{where}: {words[0]}: a lock holds only pinned requirements "
                              "with hashes (regenerate it with `make lock`)")  # fmt: skip
        requirement = " ".join(w for w in words if not w.startswith("--hash="))
        spec, _, marker = requirement.partition(";")
        name, sep, version = spec.strip().partition("==")
        name = name.split("[", 1)[0].strip()
        if not sep or not _NAME.match(name) or not version.strip() or "," in version:
            raise ConfigError(f"{where}: {spec.strip()!r}: expected NAME==VERSION (an exact pin)")
        hashes = []
        for word in words:
            if word.startswith("--hash="):
                match = _HASH.match(word)
                if not match:
                    raise ConfigError(f"{where}: {word}: expected --hash=sha256:<64 hex digits>")
                hashes.append(match.group(1))
        if not hashes:
            raise ConfigError(f"{where}: {name}=={version.strip()} has no --hash: a lock pins "
                              "every distribution by its sha256 (`make lock`)")  # fmt: skip
        pins.append(Pin(normalize(name), version.strip(), marker.strip() or None,
                        tuple(hashes), _via(comments)))  # fmt: skip
    return pins


def read(path: Path) -> list[Pin]:
    """``parse`` of the file at ``path``; ConfigError when it cannot be read."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the lock file ({exc.strerror or exc}); "
                          "`make lock` writes it") from None  # fmt: skip
    return parse(text, str(path))


def file_digest(path: Path) -> str:
    """``sha256:HEX`` of a file's bytes (a lock, a wheel)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return "sha256:" + digest.hexdigest()


def target_environments(python: str, machine: str) -> list[dict[str, str]]:
    """PEP 508 marker environments of a Linux CPython ``python`` (major.minor) on
    ``machine`` (x86_64, aarch64). Only the minor version of the image's Python is known
    here, so its first and a late patch release are both given: a pin any of them needs
    goes into the wheelhouse, and pip judges the marker again inside the image."""
    base = {
        "implementation_name": "cpython",
        "platform_python_implementation": "CPython",
        "os_name": "posix",
        "sys_platform": "linux",
        "platform_system": "Linux",
        "platform_machine": machine,
        "python_version": python,
        "platform_release": "",
        "platform_version": "",
        "extra": "",
    }
    return [
        {**base, "python_full_version": f"{python}.{patch}", "implementation_version":
         f"{python}.{patch}"}  # fmt: skip
        for patch in (0, 99)
    ]


def for_target(pins: Iterable[Pin], python: str, machine: str) -> list[Pin]:
    """The pins a Linux ``machine`` with CPython ``python`` may need (markers judged by
    ``target_environments``; a pin without marker always)."""
    from packaging.markers import Marker

    envs = target_environments(python, machine)
    chosen = []
    for pin in pins:
        if pin.marker is None or any(Marker(pin.marker).evaluate(env) for env in envs):
            chosen.append(pin)
    return chosen


def closure(pins: Iterable[Pin], roots: Iterable[str], exclude: Iterable[str] = ()) -> list[Pin]:
    """The pins needed by the packages ``roots`` (names), through uv's `# via` graph,
    without ``exclude`` and what only they need. Lock order is kept."""
    pins = list(pins)
    needs: dict[str, set[str]] = {}
    for pin in pins:
        for parent in pin.via:
            needs.setdefault(parent, set()).add(pin.name)
    skip = {normalize(n) for n in exclude}
    # Each name is queued once (a package reached through several parents too), so the
    # walk ends after at most as many steps as there are names.
    wanted = {normalize(r) for r in roots} - skip
    todo = sorted(wanted)
    while todo:
        for child in sorted(needs.get(todo.pop(), ())):
            if child not in skip and child not in wanted:
                wanted.add(child)
                todo.append(child)
    return [pin for pin in pins if pin.name in wanted]


def render(pins: Iterable[Pin], extra_hashes: dict[str, list[str]] | None = None,
           header: str = "") -> str:  # fmt: skip
    """A requirements file for `pip install --require-hashes`: one line per pin, with the
    lock's hashes plus ``extra_hashes[name]`` (wheels built here from a locked sdist)."""
    extra = extra_hashes or {}
    lines = [f"# {line}" for line in header.splitlines()]
    lines += [pin.line(extra.get(pin.name, ())) for pin in pins]
    return "\n".join(lines) + "\n"


def wheel_name_version(filename: str) -> tuple[str, str] | None:
    """(normalized name, version) of a wheel file name; None for anything else."""
    if not filename.endswith(".whl"):
        return None
    parts = filename[: -len(".whl")].split("-")
    if len(parts) < 5:
        return None
    return normalize(parts[0]), parts[1]
