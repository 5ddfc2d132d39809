"""Revisions an image records (golden.provenance), for both builders: the commit, a -dirty
suffix for uncommitted changes, and for a dirty state tree a hash of its content."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
from golden.core import provenance


def _git(root: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.invalid"}  # fmt: skip
    return subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True,
                          text=True, env=env).stdout.strip()  # fmt: skip


@pytest.fixture
def repo(tmp_path) -> Path:
    root = tmp_path / "repo"
    (root / "salt").mkdir(parents=True)
    (root / "pillar").mkdir()
    (root / "salt" / "top.sls").write_text("base: {}\n")
    (root / "pillar" / "top.sls").write_text("base: {}\n")
    (root / "schemas").mkdir()
    (root / "schemas" / "pillar.schema.json").write_text("{}\n")
    (root / "README.md").write_text("x\n")
    _git(root, "init", "-q")
    _git(root, "add", "-A")
    _git(root, "commit", "-qm", "first")
    return root


def test_clean_checkout_records_the_commits(repo):
    head = _git(repo, "rev-parse", "HEAD")
    assert provenance.revisions(repo) == (head, head)


def test_state_tree_revision_is_its_own_last_commit(repo):
    state_commit = _git(repo, "rev-parse", "HEAD")
    (repo / "README.md").write_text("y\n")
    _git(repo, "commit", "-qam", "docs only")
    head = _git(repo, "rev-parse", "HEAD")
    assert provenance.revisions(repo) == (head, state_commit)


def test_changes_outside_the_state_tree_mark_only_the_repository_dirty(repo):
    head = _git(repo, "rev-parse", "HEAD")
    (repo / "README.md").write_text("changed\n")
    assert provenance.revisions(repo) == (f"{head}-dirty", head)


def test_dirty_state_trees_carry_a_hash_of_their_content(repo):
    head = _git(repo, "rev-parse", "HEAD")
    (repo / "salt" / "top.sls").write_text("base: {'*': [a]}\n")
    repo_rev, first = provenance.revisions(repo)
    assert repo_rev == f"{head}-dirty"
    assert re.fullmatch(rf"{head}-dirty-[0-9a-f]{{12}}", first)
    (repo / "salt" / "top.sls").write_text("base: {'*': [b]}\n")
    second = provenance.revisions(repo)[1]
    assert second != first and second.startswith(f"{head}-dirty-")
    (repo / "salt" / "top.sls").write_text("base: {'*': [a]}\n")
    assert provenance.revisions(repo)[1] == first


def test_the_pillar_schema_is_part_of_the_state_tree(repo):
    head = _git(repo, "rev-parse", "HEAD")
    (repo / "schemas" / "pillar.schema.json").write_text('{"type": "object"}\n')
    assert re.fullmatch(rf"{head}-dirty-[0-9a-f]{{12}}", provenance.revisions(repo)[1])
    _git(repo, "commit", "-qam", "schema only")
    schema_commit = _git(repo, "rev-parse", "HEAD")
    assert provenance.revisions(repo) == (schema_commit, schema_commit)


def test_outside_git_the_revisions_say_so(tmp_path):
    (tmp_path / "salt").mkdir()
    (tmp_path / "salt" / "top.sls").write_text("base: {}\n")
    repo_rev, state_rev = provenance.revisions(tmp_path)
    assert repo_rev == "nocommit"
    assert re.fullmatch(r"nocommit-dirty-[0-9a-f]{12}", state_rev)


def test_collect_is_what_the_twin_uploads(repo):
    record = provenance.collect("chroma", repo)
    head = _git(repo, "rev-parse", "HEAD")
    assert record["role"] == "chroma"
    assert record["git_revision"] == head and record["state_tree_revision"] == head
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", record["build_time"])
