"""Fixtures for the bake tests: the template parsed with python-hcl2, the real Packer
binary when present, and a stand-in `packer` put first on PATH."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
import uuid
from pathlib import Path

import hcl2
import pytest

REPO = Path(__file__).resolve().parents[2]
PACKER_DIR = REPO / "packer"
HERE = Path(__file__).resolve().parent
DIGEST = "a" * 64


def load_hcl(text: str) -> dict:
    """Parse HCL into plain data: strings without their quotes, no block markers."""
    options = getattr(hcl2, "SerializationOptions", None)
    if options is None:  # python-hcl2 < 7 already strips quotes
        return hcl2.loads(text)
    return hcl2.loads(
        text,
        serialization_options=options(
            with_comments=False, explicit_blocks=False, strip_string_quotes=True
        ),
    )


@pytest.fixture(scope="session")
def template() -> dict:
    """All *.pkr.hcl files of packer/, merged the way Packer merges a folder."""
    merged: dict = {}
    for path in sorted(PACKER_DIR.glob("*.pkr.hcl")):
        for key, value in load_hcl(path.read_text()).items():
            merged.setdefault(key, []).extend(value)
    return merged


@pytest.fixture(scope="session")
def real_packer() -> str:
    path = shutil.which("packer")
    if not path:
        pytest.fail("Packer is not installed: apt-get install packer (1.6.6 or newer)")
    return path


@pytest.fixture
def fake_packer_bin(tmp_path, monkeypatch) -> Path:
    """A folder holding the stand-in `packer`, put first on PATH for this test."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "packer"
    script.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{HERE / "fake_packer.py"}" "$@"\n')
    script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.setenv("FAKE_PACKER_CALLS", str(tmp_path / "packer-calls.jsonl"))
    return bin_dir


def docker_available() -> bool:
    if not shutil.which("docker"):
        return False
    return subprocess.run(["docker", "info"], capture_output=True).returncode == 0


@pytest.fixture(scope="session")
def empty_image():
    """A real, empty docker image (imported from an empty tar, no registry) standing in for
    what Packer committed; the wrapper labels and tags it as it would a baked image."""
    if not docker_available():
        pytest.fail("the Docker daemon is not running (start dockerd)")
    ref = f"golden-bake-test/empty:{uuid.uuid4().hex[:8]}"
    tar = subprocess.run(["tar", "-c", "-f", "-", "--files-from", "/dev/null"],
                         capture_output=True, check=True).stdout  # fmt: skip
    proc = subprocess.run(
        ["docker", "import", "-c", 'CMD ["/sbin/init"]', "-", ref],
        input=tar, capture_output=True, check=True,
    )  # fmt: skip
    image_id = proc.stdout.decode().strip()
    yield {"ref": ref, "id": image_id}
    subprocess.run(["docker", "rmi", "-f", ref, image_id], capture_output=True)


def _git(root: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.invalid"}  # fmt: skip
    return subprocess.run(
        ["git", "-C", str(root), *args], check=True, capture_output=True, text=True, env=env
    ).stdout.strip()


SALT_WHEEL = b"salt wheel"


def write_wheelhouse(root: Path, wheelhouse: Path) -> dict:
    """A wheelhouse as golden.twin.wheelhouse leaves it, for ``root``'s lock: one locked
    wheel, a golden wheel, the requirement files and the manifest."""
    salt_sha = hashlib.sha256(SALT_WHEEL).hexdigest()
    lock = root / "scripts" / "wheelhouse-requirements.txt"
    lock.parent.mkdir(parents=True, exist_ok=True)
    lock.write_text(f"salt==3008.0 \\\n    --hash=sha256:{salt_sha}\n")
    (wheelhouse / "salt-3008.0-py3-none-any.whl").write_bytes(SALT_WHEEL)
    (wheelhouse / "golden-0.1.0-py3-none-any.whl").write_bytes(b"golden wheel")
    for name in ("requirements.txt", "golden.txt", "onedir.txt", "tests.txt"):
        (wheelhouse / name).write_text("# for the fixture\n")
    manifest = {
        "lock": "scripts/wheelhouse-requirements.txt",
        "lock_digest": "sha256:" + hashlib.sha256(lock.read_bytes()).hexdigest(),
        "python": "3.11", "machine": "x86_64", "wheels": 2, "built_here": {},
        "golden_wheel": {"file": "golden-0.1.0-py3-none-any.whl", "version": "0.1.0",
                         "sha256": hashlib.sha256(b"golden wheel").hexdigest()},
    }  # fmt: skip
    (wheelhouse / "wheelhouse.json").write_text(json.dumps(manifest))
    return manifest


@pytest.fixture
def repo(tmp_path) -> Path:
    """The smallest checkout a bake needs, committed so revisions are real."""
    root = tmp_path / "repo"
    shutil.copytree(PACKER_DIR, root / "packer")
    (root / "salt").mkdir()
    (root / "salt" / "top.sls").write_text("base: {}\n")
    (root / "schemas").mkdir()
    (root / "schemas" / "pillar.schema.json").write_text("{}\n")
    (root / "pillar" / "roles").mkdir(parents=True)
    (root / "pillar" / "common.sls").write_text("golden: {}\n")
    (root / "pillar" / "roles" / "app.sls").write_text(
        f"app:\n  images:\n    backend: registry.example/agent/backend@sha256:{DIGEST}\n"
    )
    (root / "scripts").mkdir(exist_ok=True)
    (root / "scripts" / "provision.sh").write_text("#!/bin/bash\nexit 0\n")
    (root / "security").mkdir()
    shutil.copy2(REPO / "security" / "supply-chain.yaml", root / "security")
    (root / "tests" / "image").mkdir(parents=True)
    (root / "tests" / "image" / "test_image.py").write_text("")
    wheelhouse = root / "build" / "wheelhouse"
    wheelhouse.mkdir(parents=True)
    write_wheelhouse(root, wheelhouse)
    # Each role's own image archive (the app's here; chroma tests add theirs).
    images = root / "build" / "images"
    images.mkdir()
    (images / "sample-app.tar").write_bytes(b"")
    (images / "sample-app.json").write_text('{"images": {}, "architecture": "amd64"}\n')
    (root / ".gitignore").write_text("build/\n")
    _git(root, "init", "-q")
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", "fixture")
    return root
