"""Fixtures for hotfix and drift: the instance side against a real `salt-call --local` on
a small state tree in a temporary directory, the fleet side against the AWS emulator over
HTTP, and a scratch git repository to bundle from.

What the emulator does not model for Run Command is listed in
autoscaling/emulator/__init__.py; these tests lean on: nothing runs on an "instance" (each
answers what the test told the emulator, /moto-api/golden/ssm/outcome), and a command
moves one step per status poll, so rate control is checked in steps, not seconds.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from hotfix_support import (
    BUCKET,
    REPO,
    SALT_CALL,
    Fleet,
    SaltWorld,
    commit_all,
    git,
    write_settings,
    write_tree,
)


@pytest.fixture
def state_repo(tmp_path) -> Path:
    """A git repository holding this checkout's state tree, committed on main."""
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    for tree in ("salt", "pillar", "schemas"):
        shutil.copytree(
            REPO / tree, repo / tree, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
        )
    commit_all(repo, "state tree")
    return repo


@pytest.fixture
def salt_world(tmp_path) -> SaltWorld:
    """An "instance" in a directory: /srv with a baked tree, /etc/golden, Salt's config with
    its own root_dir (nothing of this machine's Salt is touched)."""
    from golden.instance.hotfix import Layout

    if not Path(SALT_CALL).exists():
        pytest.fail(f"{SALT_CALL} missing: the dev venv installs salt (pip install -e '.[dev]')")
    root = tmp_path / "host"
    out = root / "out"
    out.mkdir(parents=True)
    srv = root / "srv"
    write_tree(srv, out, "baked")
    etc_salt = root / "etc" / "salt"
    etc_salt.mkdir(parents=True)
    (etc_salt / "minion").write_text(
        yaml.safe_dump(
            {
                "root_dir": str(root / "saltroot"),
                "file_client": "local",
                "file_roots": {"base": [str(srv / "salt")]},
                "pillar_roots": {"base": [str(srv / "pillar")]},
            }
        )
    )
    (root / "etc" / "golden").mkdir()
    (root / "etc" / "golden" / "image.json").write_text(
        json.dumps({"state_tree_revision": "b" * 40})
    )
    layout = Layout(
        srv=srv,
        store=srv / "golden-hotfix",
        etc=root / "etc" / "golden",
        work=root / "var-tmp",
        logs=root / "log",
        lock=root / "run" / "hotfix.lock",
        salt_call=SALT_CALL,
        salt_config_dir=str(etc_salt),
        salt_cachedir=root / "saltroot" / "var" / "cache" / "salt" / "minion",
        nginx_access_log=root / "log" / "nginx-access.log",  # none: no nginx here
    )
    world = SaltWorld(layout, out, tmp_path)
    # The "bake": the baked tree applied once.
    proc = subprocess.run(
        [SALT_CALL, "-c", str(etc_salt), "--local", "--out=json", "state.highstate"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0 and world.demo() == "baked", proc.stderr
    return world


@pytest.fixture(autouse=True)
def _aws_env(aws_env):
    """Every test here talks to the emulator only (tests/conftest.py aws_env)."""


@pytest.fixture(scope="module")
def fleet_world(emulator, tmp_path_factory) -> Fleet:
    """`golden env apply --role app` done once per module: four InService instances, the
    artifacts bucket exists."""
    from autoscaling.aws import Clients
    from autoscaling.emulator import seed as seeding
    from autoscaling.settings import load

    emulator.reset()
    settings = write_settings(tmp_path_factory.mktemp("fleet") / "local.yaml", emulator.url)
    env = load(str(settings))
    clients = Clients.for_env(env)
    seeding.seed_network(env, clients)
    seeding.seed_amis(env, clients, 1)
    world = Fleet(emulator, settings)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GOLDEN_AWS_MAX_ATTEMPTS", "1")
        applied = world.golden("env", "apply", settings, "--yes", "--role", "app")
    assert applied.exit_code == 0, applied.stderr
    world.client("s3").create_bucket(Bucket=BUCKET)
    return world


@pytest.fixture
def fleet(fleet_world, state_repo) -> Fleet:
    return fleet_world.fresh(state_repo)
