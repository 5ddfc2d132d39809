"""Every architecture-specific artifact the state tree installs is chosen from the grains
(`osarch`: Debian's name, amd64 | arm64; `cpuarch`: the kernel's, x86_64 | aarch64):
the CloudWatch agent package, Debian 12's Compose v2 package, and the image archives,
whose manifest says which architecture their images are for. One render per
architecture, with that architecture's grains."""

from __future__ import annotations

import json

import pytest

from .conftest import pillar_root_with, state_args

ARCH_GRAINS = {
    "amd64": {"osarch": "amd64", "cpuarch": "x86_64"},
    "arm64": {"osarch": "arm64", "cpuarch": "aarch64"},
}
# Debian's archive (pool/main/d/docker-compose), docker-compose 2.26.1-4 per architecture.
COMPOSE_SHA256 = {
    "amd64": "47681197cb2b1ab88206b42a1a92fc75f50d9530a6322d03494a473eed0408ea",
    "arm64": "bbafaa666f3e7fa00ad36f2a8bab889f1c791ca8743d674e7267a3d07203869c",
}
IMAGES = {"backend": "sha256:" + "ab" * 32, "frontend": "sha256:" + "cd" * 32}


def package_sources(highstate: dict, sid: str) -> list:
    return state_args(highstate, sid)["sources"]


@pytest.mark.parametrize("arch", sorted(ARCH_GRAINS))
def test_cloudwatch_agent_package_follows_the_architecture(minion_factory, arch):
    highstate = minion_factory("app", "aws", "Ubuntu",
                               extra_grains=ARCH_GRAINS[arch]).show_highstate()  # fmt: skip
    (source,) = package_sources(highstate, "cloudwatch-agent-package-installed")
    assert source == {"amazon-cloudwatch-agent": "https://amazoncloudwatch-agent.s3.amazonaws"
                      f".com/ubuntu/{arch}/latest/amazon-cloudwatch-agent.deb"}  # fmt: skip


@pytest.mark.parametrize("arch", sorted(ARCH_GRAINS))
def test_debian_compose_package_follows_the_architecture(minion_factory, arch):
    highstate = minion_factory("app", "aws", "Debian",
                               extra_grains=ARCH_GRAINS[arch]).show_highstate()  # fmt: skip
    download = state_args(highstate, "docker-compose-v2-package-downloaded")
    assert download["source"].endswith(f"/docker-compose_2.26.1-4_{arch}.deb")
    assert download["source_hash"] == f"sha256={COMPOSE_SHA256[arch]}"
    assert download["name"].endswith(f"_{arch}.deb")


def test_an_architecture_without_packages_fails_the_highstate_naming_it(minion_factory):
    minion = minion_factory("app", "aws", "Debian",
                            extra_grains={"osarch": "armhf", "cpuarch": "armv7l"})  # fmt: skip
    highstate = minion.show_highstate()
    fails = {sid: state_args(highstate, sid).get("name", "") for sid in highstate
             if "fail_without_changes" in json.dumps(highstate[sid])}  # fmt: skip
    text = "\n".join(fails.values())
    assert "armhf" in text and "amd64" in text and "arm64" in text
    assert "docker-compose-v2-package-downloaded" not in highstate


def _archive_pillar(tmp_path, architecture: str | None):
    manifest = tmp_path / "sample-app.json"
    doc = {"images": {k: {"id": v} for k, v in IMAGES.items()}}
    if architecture:
        doc["architecture"] = architecture
    manifest.write_text(json.dumps(doc))
    return pillar_root_with(tmp_path, "roles/app.sls", "app", image_manifest=str(manifest))


@pytest.mark.parametrize("arch", sorted(ARCH_GRAINS))
def test_an_archive_for_this_architecture_is_loaded(minion_factory, tmp_path, arch):
    root = _archive_pillar(tmp_path, arch)
    highstate = minion_factory("app", "aws", "Debian", pillar_root=root,
                               extra_grains=ARCH_GRAINS[arch]).show_highstate()  # fmt: skip
    assert "app-images-loaded-from-archive" in highstate
    assert "app-images-architecture-matches" not in highstate


def test_an_archive_for_another_architecture_is_refused(minion_factory, tmp_path):
    root = _archive_pillar(tmp_path, "amd64")
    highstate = minion_factory("app", "aws", "Debian", pillar_root=root,
                               extra_grains=ARCH_GRAINS["arm64"]).show_highstate()  # fmt: skip
    assert "app-images-loaded-from-archive" not in highstate
    message = state_args(highstate, "app-images-architecture-matches")["name"]
    assert "amd64" in message and "arm64" in message and "sample-app.json" in message


def test_a_chroma_archive_for_another_architecture_is_refused(minion_factory, tmp_path):
    manifest = tmp_path / "chroma.json"
    manifest.write_text(json.dumps({"architecture": "amd64",
                                    "images": {"chroma": {"id": IMAGES["backend"]}}}))  # fmt: skip
    root = pillar_root_with(tmp_path, "roles/chroma.sls", "chroma", image_source="archive",
                            image_manifest=str(manifest))  # fmt: skip
    for arch, refused in (("amd64", False), ("arm64", True)):
        highstate = minion_factory("chroma", "aws", "Debian", pillar_root=root,
                                   extra_grains=ARCH_GRAINS[arch]).show_highstate()  # fmt: skip
        assert ("chroma-image-loaded-from-archive" in highstate) is not refused
        assert ("chroma-image-architecture-matches" in highstate) is refused
