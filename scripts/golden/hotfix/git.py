"""Git adapter for hotfix bundles: resolve a ref, find uncommitted changes to the state
tree, export the state tree (salt/ + pillar/ + schemas/) of a commit, and answer "is this
commit part of that one". Plain data in and out; every call is read-only."""

from __future__ import annotations

import io
import subprocess
import tarfile
from pathlib import Path

from golden.core import provenance
from golden.core.errors import ConfigError, OperationFailed
from golden.hotfix import bundle

STATE_PATHS = provenance.STATE_TREE


def _git(repo: Path, *args: str, check: bool = True, binary: bool = False):
    try:
        proc = subprocess.run(
            ["git", "-C", str(repo), *args], capture_output=True, text=not binary, timeout=120
        )
    except FileNotFoundError:
        raise ConfigError(
            "git not found on PATH: install git (hotfix bundles come from a git ref)"
        ) from None
    if check and proc.returncode != 0:
        err = proc.stderr if not binary else proc.stderr.decode(errors="replace")
        raise OperationFailed(f"git {' '.join(args[:3])} failed in {repo}: {err.strip()[-400:]}")
    return proc


def ensure_repo(repo: Path) -> None:
    if not repo.is_dir():
        raise ConfigError(f"--repo: {repo}: no such directory")
    proc = _git(repo, "rev-parse", "--is-inside-work-tree", check=False)
    if proc.returncode != 0 or proc.stdout.strip() != "true":
        raise ConfigError(f"--repo: {repo} is not a git work tree (bundles come from git refs)")


def resolve(repo: Path, ref: str) -> str | None:
    """The commit a ref names, or None when it names none."""
    proc = _git(repo, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", check=False)
    commit = proc.stdout.strip()
    return commit if proc.returncode == 0 and commit else None


def dirty_paths(repo: Path, paths: tuple[str, ...] = STATE_PATHS) -> list[str]:
    """Uncommitted changes (modified, staged or untracked) under ``paths``."""
    out = _git(repo, "status", "--porcelain", "--untracked-files=all", "--", *paths).stdout
    return [line[3:] for line in out.splitlines() if line.strip()]


def export(repo: Path, commit: str, dest: Path, paths: tuple[str, ...] = STATE_PATHS) -> None:
    """Write the committed files under ``paths`` at ``commit`` into ``dest``. A commit
    without schemas/ (older than it) is exported without it."""
    present = []
    for path in paths:
        if _git(repo, "cat-file", "-e", f"{commit}:{path}", check=False).returncode == 0:
            present.append(path)
        elif path in bundle.REQUIRED_TREES:
            raise ConfigError(
                f"--ref: commit {commit[:12]} has no {path}/ (not a golden checkout?)"
            )
    proc = _git(repo, "archive", "--format=tar", commit, *present, binary=True)
    with tarfile.open(fileobj=io.BytesIO(proc.stdout), mode="r:") as tar:
        for member in tar:
            if member.issym() or member.islnk():
                raise ConfigError(f"{member.name}: links cannot go into a hotfix bundle")
            if member.isfile():
                target = dest / member.name
                target.parent.mkdir(parents=True, exist_ok=True)
                handle = tar.extractfile(member)
                assert handle is not None
                target.write_bytes(handle.read())
                target.chmod(0o755 if member.mode & 0o111 else 0o644)


def is_ancestor(repo: Path, commit: str, of: str) -> bool | None:
    """True when ``commit`` is ``of`` or one of its ancestors; None when git cannot tell
    (``of`` unknown here)."""
    target = resolve(repo, of)
    if target is None:
        return None
    proc = _git(repo, "merge-base", "--is-ancestor", commit, target, check=False)
    if proc.returncode in (0, 1):
        return proc.returncode == 0
    return None


def same_state_tree(repo: Path, commit: str, other: str) -> bool | None:
    """True when both commits hold identical state trees (a tree absent from both, such as
    schemas/ before it existed, counts as identical)."""
    target = resolve(repo, other)
    if target is None:
        return None
    for path in STATE_PATHS:
        a, b = _tree_id(repo, commit, path), _tree_id(repo, target, path)
        if a != b or (not a and path in bundle.REQUIRED_TREES):
            return False
    return True


def _tree_id(repo: Path, commit: str, path: str) -> str:
    """The object id of ``path`` at ``commit``; "" when the commit has no such path."""
    proc = _git(repo, "rev-parse", "--verify", "--quiet", f"{commit}:{path}", check=False)
    return proc.stdout.strip() if proc.returncode == 0 else ""


def contains(repo: Path, commit: str, of: str) -> bool | None:
    """Is this commit's state tree part of ``of`` (an ancestor, or the same trees)?"""
    ancestor = is_ancestor(repo, commit, of)
    if ancestor:
        return True
    same = same_state_tree(repo, commit, of)
    if same:
        return True
    return None if ancestor is None else False
