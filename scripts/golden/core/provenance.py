"""What an image is made of: git revisions of the repository and of the state tree.

One place for both builders (`golden bake` and `golden twin build`): the revision of the
checkout (with a -dirty suffix when the work tree has changes) and the revision of the
state tree (salt/, pillar/ and schemas/), which for uncommitted changes also carries a
content hash so two dirty builds of different trees never share a revision."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import subprocess
from collections.abc import Sequence
from pathlib import Path

from golden import __version__

REPO = Path(__file__).resolve().parents[3]
# The state tree: what an image's highstate reads and what a hotfix replaces, as one.
# schemas/ holds the pillar schema that salt/'s pillar guard checks pillar/ against.
STATE_TREE = ("salt", "pillar", "schemas")
# Without git (an exported tree) the revisions say so instead of failing the build.
NO_COMMIT = "nocommit"


def _git(repo: Path, *args: str) -> str | None:
    try:
        proc = subprocess.run(
            ["git", "-C", str(repo), *args], capture_output=True, text=True, timeout=60
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return proc.stdout.strip() if proc.returncode == 0 else None


def tree_hash(paths: Sequence[Path]) -> str:
    """Content hash of the files under ``paths`` (names and bytes), order independent."""
    digest = hashlib.sha256()
    for root in paths:
        if not root.exists():
            continue
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        for path in files:
            if "__pycache__" in path.parts:
                continue
            digest.update(str(path.relative_to(root.parent)).encode() + b"\0")
            digest.update(path.read_bytes())
    return digest.hexdigest()


def revisions(repo: Path = REPO) -> tuple[str, str]:
    """(repository revision, state tree revision)."""
    head = _git(repo, "rev-parse", "HEAD") or NO_COMMIT
    dirty = _git(repo, "status", "--porcelain")
    repo_rev = head + ("-dirty" if dirty else "")
    state_commit = _git(repo, "log", "-1", "--format=%H", "--", *STATE_TREE) or NO_COMMIT
    state_dirty = _git(repo, "status", "--porcelain", "--", *STATE_TREE)
    state_rev = state_commit
    if state_dirty or state_dirty is None or state_commit == NO_COMMIT:
        state_rev += "-dirty-" + tree_hash([repo / p for p in STATE_TREE])[:12]
    return repo_rev, state_rev


def build_time(now: dt.datetime | None = None) -> str:
    return (now or dt.datetime.now(dt.timezone.utc)).strftime("%Y-%m-%dT%H:%M:%SZ")


def collect(role: str, repo: Path = REPO, *, now: dt.datetime | None = None) -> dict:
    """The provenance.json a build uploads (the golden formula copies it to image.json)."""
    repo_rev, state_rev = revisions(repo)
    return {
        "role": role,
        "version": __version__,
        "git_revision": repo_rev,
        "state_tree_revision": state_rev,
        "build_time": build_time(now),
    }


def repo_root() -> Path:
    """The checkout golden runs from: $GOLDEN_REPO_ROOT, else the nearest parent holding
    packer/golden.pkr.hcl and pyproject.toml, else the working directory."""
    if os.environ.get("GOLDEN_REPO_ROOT"):
        return Path(os.environ["GOLDEN_REPO_ROOT"])
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "packer" / "golden.pkr.hcl").is_file() and (
            parent / "pyproject.toml"
        ).exists():
            return parent
    return Path.cwd()
