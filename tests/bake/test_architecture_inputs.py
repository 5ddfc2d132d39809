"""An AWS bake for one architecture (`--var arch=arm64` picks a t4g build instance) is
refused in preflight, before anything is written, when a staged input with machine code
is for another one: the image archives (their manifest records the images'
architecture) and the wheelhouse's platform wheels. The Salt states pick their own
packages from the grains (tests/salt/test_architectures.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from golden.bake import preflight, staging
from golden.bake.request import BakeRequest
from golden.core.errors import PreflightError

REPO = Path(__file__).resolve().parents[2]
VARIABLES = (REPO / "packer" / "variables.pkr.hcl").read_text()
HOST_WHEELS = [
    "salt-3008.1-py3-none-any.whl",
    "timelib-0.3.0-cp311-cp311-linux_x86_64.whl",
    "PyYAML-6.0.2-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
]


def inputs(tmp_path: Path, *, archive_arch: str | None, wheels: list[str]) -> dict[str, Path]:
    images, wheelhouse = tmp_path / "images", tmp_path / "wheelhouse"
    images.mkdir()
    wheelhouse.mkdir()
    doc = {"images": {"backend": {"ref": "b:dev", "id": "sha256:1"}}}
    if archive_arch:
        doc["architecture"] = archive_arch
    (images / "sample-app.json").write_text(json.dumps(doc))
    (images / "sample-app.tar").write_bytes(b"")
    for name in wheels:
        (wheelhouse / name).write_bytes(b"")
    return {
        "wheelhouse": wheelhouse,
        "images/sample-app.tar": images / "sample-app.tar",
        "images/sample-app.json": images / "sample-app.json",
    }


def test_inputs_built_on_this_kind_of_machine_pass_for_amd64(tmp_path):
    entries = inputs(tmp_path, archive_arch="amd64", wheels=HOST_WHEELS)
    assert staging.architecture_problems(entries, "amd64") == []


def test_an_arm64_bake_of_amd64_inputs_is_refused_naming_each_input(tmp_path):
    entries = inputs(tmp_path, archive_arch="amd64", wheels=HOST_WHEELS)
    request = BakeRequest(role="app", target="aws", variables={"arch": "arm64"})
    with pytest.raises(PreflightError) as refused:
        preflight.check_architecture(request, entries, VARIABLES)
    text = str(refused.value)
    assert text.startswith("arch=arm64: the bake's inputs are not built for arm64")
    assert "sample-app.json: holds amd64 images, the bake is for arm64" in text
    assert "golden app-images build" in text
    assert "timelib-0.3.0-cp311-cp311-linux_x86_64.whl" in text
    assert "PyYAML-6.0.2" in text and "salt-3008" not in text


def test_the_template_default_arch_applies_when_no_var_is_given(tmp_path):
    entries = inputs(tmp_path, archive_arch="arm64", wheels=[HOST_WHEELS[0]])
    request = BakeRequest(role="app", target="aws", variables={})
    # variables.pkr.hcl: arch defaults to amd64.
    with pytest.raises(PreflightError, match="holds arm64 images, the bake is for amd64"):
        preflight.check_architecture(request, entries, VARIABLES)


def test_arm64_inputs_pass_for_arm64(tmp_path):
    wheels = [HOST_WHEELS[0], "timelib-0.3.0-cp310-cp310-manylinux_2_17_aarch64.whl"]
    entries = inputs(tmp_path, archive_arch="arm64", wheels=wheels)
    request = BakeRequest(role="app", target="aws", variables={"arch": "arm64"})
    preflight.check_architecture(request, entries, VARIABLES)


def test_an_archive_that_does_not_say_its_architecture_is_refused(tmp_path):
    entries = inputs(tmp_path, archive_arch=None, wheels=[])
    problems = staging.architecture_problems(entries, "amd64")
    assert len(problems) == 1 and "does not record its images' architecture" in problems[0]


@pytest.mark.parametrize(("name", "machine"), [
    ("salt-3008.1-py3-none-any.whl", None),
    ("timelib-0.3.0-cp311-cp311-linux_x86_64.whl", "x86_64"),
    ("x-1-cp310-cp310-manylinux_2_17_aarch64.manylinux2014_aarch64.whl", "aarch64"),
    ("y-1-cp311-abi3-musllinux_1_1_x86_64.whl", "x86_64"),
])  # fmt: skip
def test_wheel_machine_comes_from_the_platform_tag(name, machine):
    assert staging.wheel_machine(name) == machine


def test_arch_from_a_var_file_counts_and_a_var_wins_over_it(tmp_path):
    entries = inputs(tmp_path, archive_arch="amd64", wheels=[])
    var_file = tmp_path / "graviton.pkrvars.hcl"
    var_file.write_text('region = "us-east-1"\narch   = "arm64"\n')
    from_file = BakeRequest(role="app", target="aws", var_files=[var_file])
    with pytest.raises(PreflightError, match="arch=arm64"):
        preflight.check_architecture(from_file, entries, VARIABLES)
    overridden = BakeRequest(role="app", target="aws", var_files=[var_file],
                             variables={"arch": "amd64"})  # fmt: skip
    preflight.check_architecture(overridden, entries, VARIABLES)
