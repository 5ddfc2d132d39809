"""Pure decisions of the Chroma image builder (golden.chromaimage)."""

from __future__ import annotations

import json

import pytest
from golden.core.errors import ConfigError
from golden.twin import chromaimage


def test_lock_pins_one_chromadb_1x_release():
    assert chromaimage.chromadb_version(chromaimage.LOCK.read_text()).startswith("1.5.")


HASH = " \\\n    --hash=sha256:" + "0" * 64 + "\n"


@pytest.mark.parametrize(
    "lock,message",
    [
        ("numpy==2.0" + HASH, "no `chromadb==VERSION` pin"),
        ("chromadb==0.6.3" + HASH, "expected a 1.x pin"),
        # Every entry of the lock is pinned with hashes (it is installed --require-hashes).
        ("chromadb==1.5.9\n", "chromadb==1.5.9 has no --hash"),
    ],
)
def test_bad_lock_is_refused(lock, message):
    with pytest.raises(ConfigError, match=message):
        chromaimage.chromadb_version(lock)


def test_inputs_change_with_lock_and_base_only():
    lock = chromaimage.LOCK.read_text()
    same = chromaimage.inputs_hash("sha256:base", lock)
    assert same == chromaimage.inputs_hash("sha256:base", lock)
    assert same != chromaimage.inputs_hash("sha256:other", lock)
    assert same != chromaimage.inputs_hash("sha256:base", lock + "extra==1.0\n")


def test_reuse_only_when_labels_match_and_not_forced():
    assert chromaimage.decide("h1", "h1", force=False) == "reuse"
    assert chromaimage.decide("h1", "h0", force=False) == "build"
    assert chromaimage.decide("h1", None, force=False) == "build"
    assert chromaimage.decide("h1", "h1", force=True) == "build"


def test_image_runs_unprivileged_on_loopback_with_a_port_driven_probe():
    changes = chromaimage.commit_changes("abc", "1.5.9")
    assert f"USER {chromaimage.CHROMA_UID}:{chromaimage.CHROMA_UID}" in changes
    assert "ENV GOLDEN_CHROMA_HOST=127.0.0.1" in changes
    assert "LABEL io.golden.chroma.inputs=abc" in changes
    cmd = json.loads(next(c for c in changes if c.startswith("CMD "))[4:])
    assert "--port $GOLDEN_CHROMA_PORT" in cmd[-1] and "--path $GOLDEN_CHROMA_PATH" in cmd[-1]
    probe = next(c for c in changes if c.startswith("HEALTHCHECK"))
    assert "GOLDEN_CHROMA_PORT" in probe and "/api/v2/heartbeat" in probe
