"""Every download a highstate makes survives a mirror's passing error: apt's downloads
retry (Acquire::Retries, written before any package state runs), and the states where
Salt fetches a URL itself carry a Salt `retry`. Rendered for every role (aws: the
CloudWatch agent's .deb is fetched there, on Debian the Compose v2 .deb)."""

from __future__ import annotations

import shutil

import pytest
import yaml

from .conftest import REPO

RETRIES_FILE = "base-apt-download-retries-managed"
DEFAULT = yaml.safe_load((REPO / "salt/base/defaults.yaml").read_text())["defaults"]["apt_retries"]


def _fetches_a_url(chunk: dict) -> bool:
    """Whether Salt itself downloads for this state: a file source or a package source
    that is a URL (pkg.installed `sources`, file.managed `source`)."""
    sources = [chunk.get("source")] + [
        url for entry in chunk.get("sources") or [] for url in entry.values()
    ]
    return any(str(s).startswith(("http://", "https://", "s3://", "ftp://"))
               for s in sources if s)  # fmt: skip


@pytest.mark.parametrize("role", ["app", "chroma", "base"])
def test_every_download_of_a_highstate_is_retried(minion_factory, role):
    chunks = minion_factory(role, "aws", "Debian").show_lowstate()
    ids = [chunk["__id__"] for chunk in chunks]
    packages = [chunk["__id__"] for chunk in chunks if chunk["state"] == "pkg"]
    assert packages, "a role without package states: nothing to check"
    assert ids.index(RETRIES_FILE) < min(ids.index(sid) for sid in packages)
    retries = next(chunk for chunk in chunks if chunk["__id__"] == RETRIES_FILE)
    assert retries["name"].startswith("/etc/apt/apt.conf.d/")
    assert retries["contents"].strip() == f'Acquire::Retries "{DEFAULT}";'

    fetched = [chunk for chunk in chunks if _fetches_a_url(chunk)]
    # Debian's Compose v2 .deb and (aws) the CloudWatch agent's.
    assert {"docker-compose-v2-package-downloaded",
            "cloudwatch-agent-package-installed"} <= {c["__id__"] for c in fetched}  # fmt: skip
    for chunk in fetched:
        assert (chunk.get("retry") or {}).get("attempts", 1) > 1, chunk["__id__"]


@pytest.mark.parametrize(("value", "expected"), [("2", 2), ("0", 0)])
def test_apt_retries_follow_the_pillar(minion_factory, tmp_path, value, expected):
    root = tmp_path / "pillar"
    shutil.copytree(REPO / "pillar", root)
    common = root / "common.sls"
    common.write_text(common.read_text().replace("base:\n", f"base:\n  apt_retries: {value}\n", 1))
    chunks = minion_factory("base", "aws", "Debian", pillar_root=root).show_lowstate()
    retries = next(chunk for chunk in chunks if chunk["__id__"] == RETRIES_FILE)
    assert retries["contents"].strip() == f'Acquire::Retries "{expected}";'
