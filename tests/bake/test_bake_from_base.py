"""The two-stage bake for real (Packer 1.6.6, Docker): `golden bake --role base`, then
`golden bake --role chroma --from-base` on top of it, then the chroma image booted like an
instance and tested from outside with the image suite (tests/image, docker backend).

The base bake here is the newest tested base on the machine when the chroma bake starts
(the tests run one after the other), so --from-base must pick exactly it."""

from __future__ import annotations

import json
import subprocess
import uuid

import pytest
from golden.bake import build
from golden.bake.request import BakeRequest
from golden.twin import chromaimage

from . import boot_support
from .conftest import REPO
from .test_bake_twin import IMAGE_JSON, _inspect, _read_file, _tags_of
from .test_bake_wrapper import DOCKER

pytestmark = pytest.mark.twin


def _bake(role: str, **kwargs) -> tuple[dict, str]:
    repository = f"golden-bake-test/{role}-{uuid.uuid4().hex[:8]}"
    request = BakeRequest(
        role=role, target="local", local_repository=repository,
        variables={"twin_run_extra_args": boot_support.packer_container_args(f"bake-{role}")},
        **kwargs,
    )  # fmt: skip
    return build.bake(request, repo=REPO), repository


def _remove(record: dict, repository: str) -> None:
    ids = [record["artifacts"]["image_id"]] if record.get("artifacts") else []
    subprocess.run([DOCKER, "rmi", "-f", *_tags_of(repository), *ids], capture_output=True)


@pytest.fixture(scope="module")
def base_bake(twin_inputs):
    record, repository = {}, ""
    try:
        record, repository = _bake("base")
        yield record
    finally:
        if repository:
            _remove(record, repository)


@pytest.fixture(scope="module")
def chroma_bake(twin_inputs, base_bake):
    # twin_inputs makes the app's archive; the chroma role needs its own.
    chromaimage.build(base=twin_inputs, out=str(REPO / "build" / "images"),
                      wheelhouse=str(REPO / "build" / "wheelhouse-chroma"))  # fmt: skip
    record, repository = {}, ""
    try:
        record, repository = _bake("chroma", from_base=True)
        yield record
    finally:
        if repository:
            _remove(record, repository)


def test_base_bake_passes_its_tests_and_only_then_says_so(base_bake):
    assert base_bake["status"] == "succeeded"
    assert base_bake["tests"]["failed"] == 0 and base_bake["tests"]["passed"] > 20
    assert base_bake["provenance"]["golden:app-images"] == "none"
    tested = _inspect(base_bake["tested_marks"][0])["Config"]["Labels"]
    assert tested["golden:role"] == "base" and tested["golden:tested"] == "true"
    baked = _inspect(base_bake["artifacts"]["image_id"])["Config"]["Labels"]
    assert baked["golden:tested"] == "false"


def test_chroma_from_base_starts_from_that_base_and_records_it(base_bake, chroma_bake):
    base_id = _inspect(base_bake["tested_marks"][0])["Id"]
    assert chroma_bake["status"] == "succeeded"
    assert chroma_bake["tests"]["failed"] == 0 and chroma_bake["tests"]["passed"] > 30
    assert chroma_bake["provenance"]["base"]["image"] == base_id
    tested = _inspect(chroma_bake["tested_marks"][0])
    assert tested["Config"]["Labels"]["golden:source-image"] == base_id
    assert tested["Config"]["Labels"]["golden:role"] == "chroma"
    record = json.loads(_read_file(chroma_bake["tested_marks"][0], IMAGE_JSON))
    assert record["role"] == "chroma"
    assert record["base"]["image"] == base_id
    assert record["base"]["version"] == base_bake["provenance"]["golden:version"]
    # Only the chroma role's own archive was uploaded.
    assert [ref.split("@")[0] for ref in chroma_bake["provenance"]["app_image_refs"]] == ["chroma"]


def test_booted_chroma_from_base_passes_the_image_suite(chroma_bake, tmp_path):
    boot_support.assert_booted_image_passes_suite(
        chroma_bake["tested_marks"][0], "chroma", boot_support.CHROMA_PORT, tmp_path
    )
