"""The Packer 1.6.6 rendering drops exactly required_plugins, metadata_options and
imds_support, and the real Packer validates it for every source with the example vars."""

from __future__ import annotations

import copy
import os
import subprocess

import pytest
from golden.bake import compat as packer_compat

from .conftest import PACKER_DIR, load_hcl

DROPPED = {"required_plugins", "metadata_options", "imds_support"}


def _without(data, names: set[str]):
    """``data`` with every key in ``names`` removed at any depth."""
    if isinstance(data, dict):
        return {k: _without(v, names) for k, v in data.items() if k not in names}
    if isinstance(data, list):
        return [_without(item, names) for item in data]
    return data


def _keys(data) -> set[str]:
    if isinstance(data, dict):
        return set(data) | {k for v in data.values() for k in _keys(v)}
    if isinstance(data, list):
        return {k for item in data for k in _keys(item)}
    return set()


@pytest.mark.parametrize("path", sorted(PACKER_DIR.glob("*.pkr.hcl")), ids=lambda p: p.name)
def test_rendering_differs_from_the_template_only_by_the_three_constructs(path):
    original = load_hcl(path.read_text())
    rendered_text, dropped = packer_compat.render(path.read_text())
    rendered = load_hcl(rendered_text)
    assert rendered == _without(copy.deepcopy(original), DROPPED)
    assert not DROPPED & _keys(rendered)
    assert {d.name for d in dropped} == DROPPED & _keys(original)


def test_template_carries_all_three_constructs_the_rendering_drops():
    text = (PACKER_DIR / "golden.pkr.hcl").read_text()
    _, dropped = packer_compat.render(text)
    assert sorted(d.name for d in dropped) == sorted(DROPPED)


def test_rendering_keeps_everything_outside_the_constructs_byte_for_byte():
    text = (PACKER_DIR / "golden.pkr.hcl").read_text()
    rendered, dropped = packer_compat.render(text)
    lines = text.splitlines(keepends=True)
    removed = {n for d in dropped for n in range(d.first_line - 1, d.last_line)}
    assert rendered == "".join(line for n, line in enumerate(lines) if n not in removed)


def test_braces_inside_strings_comments_and_heredocs_do_not_end_a_construct_early():
    text = (
        'source "amazon-ebs" "x" {\n'
        "  metadata_options {\n"
        '    http_tokens = "required}" # a } in a comment\n'
        "    note = <<EOT\n"
        "}\n"
        "EOT\n"
        "  }\n"
        '  imds_support = "v2.0"\n'
        '  keep = "{metadata_options}"\n'
        "}\n"
    )
    rendered, dropped = packer_compat.render(text)
    assert rendered == 'source "amazon-ebs" "x" {\n  keep = "{metadata_options}"\n}\n'
    assert [(d.name, d.first_line, d.last_line) for d in dropped] == [
        ("metadata_options", 2, 7),
        ("imds_support", 8, 8),
    ]


def test_an_unclosed_construct_is_an_error_not_a_silent_truncation():
    with pytest.raises(ValueError, match="line 2"):
        packer_compat.render("packer {\n  required_plugins {\n    amazon = {\n}\n")


def test_compat_is_needed_only_before_packer_1_7():
    assert packer_compat.needs_compat((1, 6, 6))
    assert not packer_compat.needs_compat((1, 7, 0))
    assert not packer_compat.needs_compat((1, 11, 2))


# -------------------------------------------------------------- real Packer validate


@pytest.fixture(scope="module")
def compat_dir(tmp_path_factory):
    dest = tmp_path_factory.mktemp("compat")
    packer_compat.render_dir(PACKER_DIR, dest)
    return dest


def _validate(packer: str, template, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [packer, "validate", *args, str(template)],
        capture_output=True, text=True, cwd=PACKER_DIR,
        env={**os.environ, "CHECKPOINT_DISABLE": "1"}, timeout=120,
    )  # fmt: skip


@pytest.mark.parametrize(
    "source, var_file",
    [
        ("docker.twin", "examples/local.pkrvars.hcl"),
        ("amazon-ebs.ubuntu", "examples/aws.pkrvars.hcl"),
        ("docker.twin", "examples/aws.pkrvars.hcl"),
        ("amazon-ebs.ubuntu", "examples/local.pkrvars.hcl"),
    ],
)
def test_packer_validate_passes_for_every_source_with_the_example_vars(
    real_packer, compat_dir, source, var_file
):
    proc = _validate(real_packer, compat_dir, f"-only=golden.{source}", f"-var-file={var_file}")
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize(
    "source, breakage, message",
    [
        ("docker.twin", "twin_base_image=", "image"),
        ("amazon-ebs.ubuntu", "ssh_username=", "ssh_username"),
    ],
)
def test_validate_only_filter_really_selects_the_source(
    real_packer, compat_dir, source, breakage, message
):
    """Packer ignores an -only that matches nothing; prove the names select each source
    by breaking a setting only that source reads."""
    args = ["-var-file=examples/local.pkrvars.hcl", f"-var={breakage}"]
    selected = _validate(real_packer, compat_dir, f"-only=golden.{source}", *args)
    assert selected.returncode != 0 and message in (selected.stdout + selected.stderr).lower()
    other = "amazon-ebs.ubuntu" if source == "docker.twin" else "docker.twin"
    unaffected = _validate(real_packer, compat_dir, f"-only=golden.{other}", *args)
    assert unaffected.returncode == 0, unaffected.stdout + unaffected.stderr


@pytest.mark.parametrize("value, accepted", [("twin", True), ("aws", True), ("cloud", False)])
def test_provision_platform_accepts_only_twin_or_aws(real_packer, compat_dir, value, accepted):
    proc = _validate(
        real_packer, compat_dir, "-only=golden.amazon-ebs.ubuntu",
        "-var-file=examples/aws.pkrvars.hcl", f"-var=provision_platform={value}",
    )  # fmt: skip
    output = proc.stdout + proc.stderr
    assert (proc.returncode == 0) is accepted, output
    if not accepted:
        assert "provision_platform" in output


def test_packer_1_6_6_rejects_the_original_template_for_exactly_these_reasons(real_packer):
    proc = _validate(real_packer, PACKER_DIR, "-var-file=examples/aws.pkrvars.hcl")
    if proc.returncode == 0:
        pytest.skip("this Packer accepts the original template (1.7+ with plugins)")
    output = proc.stdout + proc.stderr
    assert "metadata_options" in output or "required_plugins" in output
