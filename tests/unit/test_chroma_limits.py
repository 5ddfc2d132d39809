"""golden-chroma-limits (salt/chroma/files/golden-chroma-limits.py): the Chroma
container's memory and process limits from the instance's size."""

from __future__ import annotations

import importlib.machinery
import importlib.util
from pathlib import Path

import pytest

SCRIPT = (Path(__file__).resolve().parents[2] / "salt" / "chroma" / "files"
          / "golden-chroma-limits.py")


@pytest.fixture(scope="module")
def chroma_limits():
    loader = importlib.machinery.SourceFileLoader("golden_chroma_limits", str(SCRIPT))
    spec = importlib.util.spec_from_loader("golden_chroma_limits", loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


@pytest.mark.parametrize("instance, mem_mb, memory", [
    ("t3.small", 1952, "1184m"),      # the system keeps 768 MiB
    ("r6i.large", 15880, "12704m"),   # a fifth stays with the system
    ("tiny", 700, "512m"),            # never below what Chroma needs to start
])  # fmt: skip
def test_memory_follows_the_instance_size(chroma_limits, instance, mem_mb, memory):
    assert chroma_limits.limits(mem_mb) == {"CHROMA_MEMORY": memory, "CHROMA_PIDS": "2048"}


def test_main_writes_the_environment_file(chroma_limits, tmp_path, monkeypatch):
    monkeypatch.setattr(chroma_limits, "OUT", tmp_path / "run" / "limits.env")
    assert chroma_limits.main() == 0
    lines = (tmp_path / "run" / "limits.env").read_text().splitlines()
    assert lines[0].startswith("CHROMA_MEMORY=") and lines[1] == "CHROMA_PIDS=2048"
