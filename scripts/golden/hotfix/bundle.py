"""The state-tree bundle a hotfix ships: ``salt/`` + ``pillar/`` + ``schemas/`` +
``manifest.json`` in one gzip'd tarball, named and checked by the sha256 of its bytes.

Deterministic: the same trees give the same bytes (sorted entries, fixed owner, mode and
time, gzip without a timestamp), so the same commit always has the same sha and a second
upload or hotfix of it is a no-op. The manifest records the commit and the sha256 of
every file; unpacking checks the bundle's own sha256, refuses anything but regular files
under the trees (no links, devices, absolute paths or ``..``) and checks every file
against the manifest, so a bundle is either whole and as built, or refused.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import re
import shutil
import tarfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from golden.core import provenance
from golden.core.errors import ConfigError

FORMAT = 1
KIND = "golden-state-tree"
MANIFEST = "manifest.json"
TREES = provenance.STATE_TREE
# Every state tree has these; schemas/ is absent from commits older than it (their
# pillar guard reads no schema file), so a tree without it is bundled without it.
REQUIRED_TREES = ("salt", "pillar")
REQUIRED = ("salt/top.sls", "pillar/top.sls")
# Build time of every entry (1980-01-01, like SOURCE_DATE_EPOCH elsewhere): only the
# content may change the sha. Unpacked files get the time of unpacking instead.
ENTRY_TIME = 315532800
MAX_FILES = 20000
MAX_BYTES = 200 * 1024 * 1024
SHA256 = re.compile(r"^[0-9a-f]{64}$")
_SKIP_DIRS = {"__pycache__", ".pytest_cache"}


@dataclass(frozen=True)
class Bundle:
    path: Path
    sha256: str
    manifest: dict

    @property
    def commit(self) -> str:
        return self.manifest.get("commit", "")


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def tree_files(root: Path) -> list[tuple[str, Path]]:
    """(name in the bundle, path) of every file under the trees of root (salt/, pillar/,
    schemas/ when there is one), sorted."""
    found = []
    for tree in TREES:
        base = root / tree
        if not base.is_dir() and tree not in REQUIRED_TREES:
            continue
        if not base.is_dir():
            raise ConfigError(f"{base}: missing (a bundle needs both salt/ and pillar/)")
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_DIRS)
            for filename in sorted(filenames):
                path = Path(dirpath) / filename
                if filename.endswith((".pyc", ".pyo")):
                    continue
                if path.is_symlink() or not path.is_file():
                    raise ConfigError(
                        f"{path}: only regular files can go into a bundle (found a link or "
                        "special file)"
                    )
                found.append((path.relative_to(root).as_posix(), path))
    found.sort()
    return found


def manifest_for(files: list[tuple[str, Path]], commit: str) -> dict:
    return {
        "format": FORMAT,
        "kind": KIND,
        "commit": commit,
        "files": {name: sha256_of(path) for name, path in files},
    }


def _entry(name: str, size: int, executable: bool) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mode = 0o755 if executable else 0o644
    info.mtime = ENTRY_TIME
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def build(root: Path, out_dir: Path, *, commit: str) -> Bundle:
    """Pack the trees of root (salt/, pillar/, schemas/) into out_dir/<sha256>.tar.gz."""
    files = tree_files(root)
    for name in REQUIRED:
        if name not in {n for n, _ in files}:
            raise ConfigError(f"{root / name}: missing (every state tree needs it)")
    manifest = manifest_for(files, commit)
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = out_dir / ".bundle.tmp"
    with open(tmp, "wb") as raw:
        with gzip.GzipFile(filename="", fileobj=raw, mode="wb", mtime=0, compresslevel=9) as gz:
            with tarfile.open(fileobj=gz, mode="w", format=tarfile.GNU_FORMAT) as tar:
                data = json.dumps(manifest, indent=2, sort_keys=True).encode() + b"\n"
                tar.addfile(_entry(MANIFEST, len(data), False), io.BytesIO(data))
                for name, path in files:
                    executable = bool(path.stat().st_mode & 0o111)
                    with open(path, "rb") as handle:
                        tar.addfile(_entry(name, path.stat().st_size, executable), handle)
    sha = sha256_of(tmp)
    final = out_dir / f"{sha}.tar.gz"
    os.replace(tmp, final)
    return Bundle(final, sha, manifest)


def _safe_name(name: str) -> str | None:
    """The member's normalised name, or None when it may not be unpacked."""
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or not path.parts:
        return None
    clean = path.as_posix()
    if clean == MANIFEST or path.parts[0] in TREES and len(path.parts) > 1:
        return clean
    return None


def _safe_dir(name: str) -> bool:
    path = PurePosixPath(name)
    return (
        not path.is_absolute()
        and ".." not in path.parts
        and bool(path.parts)
        and path.parts[0] in TREES
    )


def _check_manifest(manifest: object, source: str) -> dict:
    if not isinstance(manifest, dict) or manifest.get("kind") != KIND:
        raise ConfigError(f"{source}: {MANIFEST} is not a golden state-tree manifest")
    if manifest.get("format") != FORMAT:
        raise ConfigError(
            f"{source}: manifest format {manifest.get('format')!r} is not supported "
            f"(expected {FORMAT}); is this golden older than the bundle?"
        )
    files = manifest.get("files")
    if not isinstance(files, dict) or not all(
        isinstance(v, str) and SHA256.match(v) for v in files.values()
    ):
        raise ConfigError(f"{source}: manifest 'files' must map names to sha256 digests")
    for name in REQUIRED:
        if name not in files:
            raise ConfigError(f"{source}: the bundle has no {name}")
    return manifest


def unpack(path: Path, expected_sha: str, dest: Path) -> dict:
    """Check the bundle at ``path`` and unpack it into ``dest`` (which must not exist).
    Returns the manifest. On any problem ``dest`` is removed and ConfigError names it."""
    source = str(path)
    if not SHA256.match(expected_sha or ""):
        raise ConfigError(f"--sha256: expected 64 lowercase hex characters, got {expected_sha!r}")
    if not path.is_file():
        raise ConfigError(f"{source}: no such bundle file")
    actual = sha256_of(path)
    if actual != expected_sha:
        raise ConfigError(
            f"{source}: sha256 is {actual}, expected {expected_sha} (corrupt, truncated or a "
            "different bundle); nothing was changed"
        )
    if dest.exists():
        raise ConfigError(f"{dest}: already exists")
    dest.mkdir(parents=True)
    try:
        return _unpack_checked(path, source, dest)
    except (tarfile.TarError, OSError, EOFError, ValueError) as exc:
        shutil.rmtree(dest, ignore_errors=True)
        raise ConfigError(f"{source}: not a readable bundle: {exc}") from None
    except ConfigError:
        shutil.rmtree(dest, ignore_errors=True)
        raise


def _unpack_checked(path: Path, source: str, dest: Path) -> dict:
    manifest = None
    seen: dict[str, str] = {}
    total = 0
    with tarfile.open(path, mode="r:gz") as tar:
        for member in tar:
            if member.isdir() and _safe_dir(member.name):
                continue
            name = _safe_name(member.name)
            if name is None or not member.isreg():
                raise ConfigError(
                    f"{source}: refused entry {member.name!r} (only regular files under "
                    f"{', '.join(t + '/' for t in TREES)} and manifest.json)"
                )
            total += member.size
            if len(seen) > MAX_FILES or total > MAX_BYTES:
                raise ConfigError(f"{source}: larger than a state tree can be")
            handle = tar.extractfile(member)
            assert handle is not None
            data = handle.read()
            if name == MANIFEST:
                if manifest is not None:
                    raise ConfigError(f"{source}: two manifests")
                try:
                    manifest = _check_manifest(json.loads(data), source)
                except ValueError:
                    raise ConfigError(f"{source}: {MANIFEST} is not valid JSON") from None
                continue
            if name in seen:
                raise ConfigError(f"{source}: {name} appears twice")
            seen[name] = hashlib.sha256(data).hexdigest()
            target = dest / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
            os.chmod(target, 0o755 if member.mode & 0o111 else 0o644)
    if manifest is None:
        raise ConfigError(f"{source}: no {MANIFEST} in the bundle")
    listed = manifest["files"]
    missing = sorted(set(listed) - set(seen))
    extra = sorted(set(seen) - set(listed))
    wrong = sorted(n for n in set(listed) & set(seen) if listed[n] != seen[n])
    if missing or extra or wrong:
        raise ConfigError(
            f"{source}: contents differ from its manifest (missing {missing[:5]}, "
            f"unlisted {extra[:5]}, altered {wrong[:5]})"
        )
    (dest / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return manifest
