"""The tool bundle `golden audit` sends to the audited host: lynis (from this machine's
Debian package: its script, include/, db/, plugins/ and default profile, laid out to run
from its own folder with --usecwd) and ssh-audit (the pure-Python package this
environment installed from PyPI), as one gzip'd tar with a sha256.

Everything in it belongs to root and nothing is writable by group or others: lynis
refuses to load include files that are. Same inputs, same bytes (sorted entries, fixed
times), so the sha256 names the bundle."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import tarfile
from dataclasses import dataclass
from pathlib import Path

from golden.core.errors import ConfigError

# Where Debian's lynis package puts its parts.
LYNIS_SCRIPT = Path("/usr/sbin/lynis")
LYNIS_SHARE = Path("/usr/share/lynis")
LYNIS_ETC = Path("/etc/lynis")
FIXED_MTIME = 315532800  # 1980-01-01, as the wheelhouse's reproducible wheels


@dataclass(frozen=True)
class Bundle:
    path: Path
    sha256: str
    size: int


def lynis_parts(script: Path = LYNIS_SCRIPT, share: Path = LYNIS_SHARE,
                etc: Path = LYNIS_ETC) -> list[tuple[Path, str]]:
    """(source, name in the bundle) of lynis's files. ConfigError naming what is missing
    and how to get it."""
    needed = [script, share / "include", share / "db", etc / "default.prf"]
    missing = [str(p) for p in needed if not p.exists()]
    if missing:
        raise ConfigError(f"lynis not found ({', '.join(missing)} missing): "
                          "apt-get install lynis")
    parts = [(script, "lynis/lynis"), (etc / "default.prf", "lynis/default.prf")]
    for folder, name in ((share / "include", "include"), (share / "db", "db"),
                         (etc / "plugins", "plugins")):
        parts += [(p, f"lynis/{name}/{p.relative_to(folder)}") for p in _files(folder)]
    return parts


def ssh_audit_parts() -> list[tuple[Path, str]]:
    """(source, name in the bundle) of the ssh_audit package's Python files."""
    try:
        import ssh_audit
    except ImportError:
        raise ConfigError("ssh-audit is not installed here: pip install ssh-audit "
                          "(it is in golden's dev dependencies: make setup)") from None
    root = Path(ssh_audit.__file__).parent
    return [(p, f"python/ssh_audit/{p.relative_to(root)}") for p in _files(root)
            if p.suffix in (".py", ".json", ".txt")]


def _files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts)


def build(out_dir: Path, parts: list[tuple[Path, str]] | None = None) -> Bundle:
    """Write OUT_DIR/golden-audit-tools.tar.gz from ``parts`` (default: lynis and
    ssh-audit); returns its path, sha256 and size in bytes."""
    parts = parts if parts is not None else lynis_parts() + ssh_audit_parts()
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for folder in sorted({str(Path(name).parent) for _, name in parts} - {"."}):
            for depth in range(1, len(Path(folder).parts) + 1):
                name = str(Path(*Path(folder).parts[:depth]))
                if name not in tar.getnames():
                    tar.addfile(_info(name, tarfile.DIRTYPE, 0o750))
        for source, name in sorted(parts, key=lambda item: item[1]):
            data = source.read_bytes()
            mode = 0o750 if os.access(source, os.X_OK) and name == "lynis/lynis" else 0o640
            info = _info(name, tarfile.REGTYPE, mode)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "golden-audit-tools.tar.gz"
    compressed = gzip.compress(raw.getvalue(), compresslevel=9, mtime=0)
    path.write_bytes(compressed)
    return Bundle(path, hashlib.sha256(compressed).hexdigest(), len(compressed))


def _info(name: str, kind: bytes, mode: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.mtime = kind, mode, FIXED_MTIME
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    return info
