"""Render the state tree on this machine without applying it: salt-call --local with a
private config, cache and the grains of the target (role, platform, OS)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
SALT_CALL = Path(sys.executable).parent / "salt-call"

OS_GRAINS = {
    "Debian": {"os": "Debian", "os_family": "Debian", "osrelease": "12", "oscodename": "bookworm"},
    "Ubuntu": {"os": "Ubuntu", "os_family": "Debian", "osrelease": "22.04",
               "oscodename": "jammy"},
}


class Minion:
    def __init__(self, root: Path, grains: dict, pillar_root: Path):
        self.root = root
        self.conf = root / "conf"
        self.conf.mkdir(parents=True, exist_ok=True)
        (self.conf / "minion").write_text(yaml.safe_dump({
            "file_client": "local",
            "file_roots": {"base": [str(REPO / "salt")]},
            "pillar_roots": {"base": [str(pillar_root)]},
            "cachedir": str(root / "cache"),
            # Salt's default is the machine's /var/cache/salt/minion/extmods whatever the
            # cachedir: every test minion (and every checkout on this machine) would sync
            # its salt/_modules into, and clean them out of, one shared folder.
            "extension_modules": str(root / "extmods"),
            "pki_dir": str(root / "pki"),
            "sock_dir": str(root / "sock"),
            "log_file": str(root / "minion.log"),
            "grains": grains,
            "grains_cache": False,
        }))
        self.call("saltutil.sync_modules", "saltenv=base")

    def call(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        proc = subprocess.run(
            [str(SALT_CALL), "--local", "-c", str(self.conf), "--out=json",
             "--retcode-passthrough", *args],
            capture_output=True, text=True, timeout=120,
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"salt-call {' '.join(args)} failed:\n{proc.stdout}\n"
                                 f"{proc.stderr[-3000:]}")
        return proc

    def show_highstate(self) -> dict:
        return json.loads(self.call("state.show_highstate").stdout)["local"]

    def show_lowstate(self) -> list[dict]:
        """The highstate's chunks in the order Salt runs them (each has `order`)."""
        chunks = json.loads(self.call("state.show_lowstate").stdout)["local"]
        assert isinstance(chunks, list), f"render failed: {chunks}"
        return sorted(chunks, key=lambda chunk: chunk["order"])

    def pillar(self) -> dict:
        return json.loads(self.call("pillar.items", "unmask=True").stdout)["local"]


@pytest.fixture
def minion_factory(tmp_path):
    def make(role="app", platform="aws", os="Debian", pillar_root: Path | None = None,
             extra_grains: dict | None = None):
        grains = {"role": role, "platform": platform, **OS_GRAINS[os], **(extra_grains or {})}
        return Minion(tmp_path / f"{role}-{platform}-{os}", grains, pillar_root or REPO / "pillar")

    return make


@pytest.fixture
def example_pillar_root(tmp_path):
    """pillar.example as the whole pillar of a minion."""
    root = tmp_path / "example-pillar"
    root.mkdir()
    shutil.copy(REPO / "pillar" / "pillar.example", root / "example.sls")
    (root / "top.sls").write_text("base:\n  '*':\n    - example\n")
    return root


def state_args(highstate: dict, sid: str) -> dict:
    """The arguments of one state of show_highstate's output, as one dict."""
    state = highstate[sid]
    fun_args = next(v for k, v in state.items() if not k.startswith("__"))
    merged: dict = {}
    for item in fun_args:
        if isinstance(item, dict):
            merged.update(item)
    return merged


def rendered(highstate: dict, sid: str) -> str:
    """The file a `file.managed ... template: jinja` state would write: its source rendered
    with the context the highstate passes it (the templates use no Salt functions)."""
    import jinja2

    spec = state_args(highstate, sid)
    path = REPO / "salt" / spec["source"].removeprefix("salt://")
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    return env.from_string(path.read_text()).render(**(spec.get("context") or {}))


def pillar_root_with(tmp_path, relpath: str, section: str, **values) -> Path:
    """A copy of the repository's pillar with ``values`` merged into one section of one
    plain-YAML file (``relpath`` under pillar/, e.g. roles/app.sls)."""
    root = tmp_path / "pillar-changed"
    if not root.exists():
        shutil.copytree(REPO / "pillar", root)
    path = root / relpath
    text = path.read_text()
    assert "{{" not in text and "{%" not in text, f"{relpath} is a template: edit another file"
    data = yaml.safe_load(text) or {}
    data.setdefault(section, {}).update(values)
    path.write_text(yaml.safe_dump(data))
    return root
