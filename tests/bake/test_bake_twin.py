"""Real Packer 1.6.6 and a real Docker build of the docker.twin source through
`golden bake`. Needs the Docker daemon and the twin base image (`golden base-image`)."""

from __future__ import annotations

import json
import subprocess
import uuid

import pytest
from golden import bake

from .conftest import REPO, _git
from .test_bake_wrapper import DOCKER

pytestmark = pytest.mark.twin

BASE = "golden/base:bookworm"

PROVISION = r"""#!/bin/bash
# Stand-in for the lead's provision.sh: checks what the template promises to hand over.
set -euo pipefail
[ "$1 $3 $5" = "--role --platform --src" ] || { echo "bad argv: $*" >&2; exit 2; }
[ "$4" = twin ] || { echo "platform $4, expected twin" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "not root" >&2; exit 2; }
test -f "$6/provenance.json" && test -d "$6/salt" && test -d "$6/wheelhouse"
[ "$(cat /proc/1/comm)" = systemd ] || { echo "PID 1 is not systemd" >&2; exit 2; }
echo "golden-provision: tests passed=4 failed=0 skipped=0"
"""


@pytest.fixture(scope="module")
def base_image(twin_inputs):
    assert twin_inputs == BASE
    return BASE


def _tags_of(repository: str) -> list[str]:
    fmt = "{{.Repository}}:{{.Tag}}"
    out = subprocess.run([DOCKER, "image", "ls", "--format", fmt, repository],
                         capture_output=True, text=True)  # fmt: skip
    return out.stdout.split()


def _inspect(ref: str) -> dict:
    out = subprocess.run([DOCKER, "image", "inspect", ref], capture_output=True, text=True)
    return json.loads(out.stdout)[0]


def test_real_packer_bakes_the_twin_source_and_the_wrapper_marks_it_tested(
    repo,
    base_image,  # noqa: F811
):
    (repo / "scripts" / "provision.sh").write_text(PROVISION)
    _git(repo, "commit", "-qam", "provision stand-in")
    repository = f"golden-bake-test/twin-{uuid.uuid4().hex[:8]}"
    request = bake.BakeRequest(role="app", target="local", local_repository=repository,
                               variables={"twin_base_image": base_image})  # fmt: skip
    record: dict = {}
    try:
        record = bake.bake(request, repo=repo)
        assert record["status"] == "succeeded", record
        assert record["tests"] == {"passed": 4, "failed": 0, "skipped": 0}
        tested = _inspect(f"{repository}:0.1.0")
        labels = tested["Config"]["Labels"]
        assert labels["golden:tested"] == "true"
        assert labels["golden:role"] == "app"
        assert labels["golden:git-revision"] == _git(repo, "rev-parse", "HEAD")
        assert labels["golden:source-image"] == base_image
        assert tested["Config"]["Cmd"] == ["/sbin/init"]
        assert "container=docker" in tested["Config"]["Env"]
        assert tested["Config"].get("StopSignal") == "SIGRTMIN+3"
        baked = _inspect(record["artifacts"]["image_id"])
        assert "golden:tested" not in (baked["Config"]["Labels"] or {})
    finally:
        ids = [record["artifacts"]["image_id"]] if record.get("artifacts") else []
        subprocess.run([DOCKER, "rmi", "-f", *_tags_of(repository), *ids], capture_output=True)


def test_real_app_bake_of_this_repository_passes_its_in_image_tests(base_image):
    """The full thing: this checkout's provision.sh, Salt states and image tests."""
    repository = f"golden-bake-test/app-{uuid.uuid4().hex[:8]}"
    request = bake.BakeRequest(role="app", target="local", local_repository=repository)
    try:
        record = bake.bake(request, repo=REPO)
        assert record["status"] == "succeeded"
        assert record["tests"]["failed"] == 0 and record["tests"]["passed"] > 0
    finally:
        subprocess.run([DOCKER, "rmi", "-f", *_tags_of(repository)], capture_output=True)
