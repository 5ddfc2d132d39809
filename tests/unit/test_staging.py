"""What a build uploads (golden.staging): decided per role without touching anything, then
laid out once. Shared by `golden bake` and `golden twin build`."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from golden.bake import staging
from golden.core.errors import ConfigError


@pytest.fixture
def repo(tmp_path) -> Path:
    """The inputs a build stages, each where the repository keeps it."""
    root = tmp_path / "repo"
    for folder in ("salt", "pillar", "schemas", "tests/image", "scripts", "build/wheelhouse",
                   "build/images"):  # fmt: skip
        (root / folder).mkdir(parents=True)
    (root / "salt" / "top.sls").write_text("base: {}\n")
    (root / "pillar" / "top.sls").write_text("base: {}\n")
    (root / "schemas" / "pillar.schema.json").write_text("{}\n")
    (root / "tests" / "image" / "test_x.py").write_text("")
    (root / "scripts" / "provision.sh").write_text("#!/bin/bash\n")
    (root / "build" / "wheelhouse" / "salt-3008.0-py3-none-any.whl").write_bytes(b"w")
    for name in ("sample-app", "chroma"):
        (root / "build" / "images" / f"{name}.tar").write_bytes(b"t")
        (root / "build" / "images" / f"{name}.json").write_text('{"images": {}}')
    return root


def _plan(repo: Path, role: str, **kwargs) -> dict[str, Path]:
    return staging.plan(staging.Inputs(repo=repo, role=role, **kwargs))


def test_each_role_stages_its_own_archive_and_base_stages_none(repo):
    images = repo / "build" / "images"
    app = _plan(repo, "app")
    chroma = _plan(repo, "chroma")
    base = _plan(repo, "base")
    assert {k: v for k, v in app.items() if k.startswith("images/")} == {
        "images/sample-app.tar": images / "sample-app.tar",
        "images/sample-app.json": images / "sample-app.json",
    }
    assert {k: v for k, v in chroma.items() if k.startswith("images/")} == {
        "images/chroma.tar": images / "chroma.tar",
        "images/chroma.json": images / "chroma.json",
    }
    assert not [k for k in base if k.startswith("images/")]
    for plan in (app, chroma, base):
        assert plan["provision.sh"] == repo / "scripts" / "provision.sh"
        assert plan["salt"] == repo / "salt" and plan["pillar"] == repo / "pillar"
        # The pillar guard in salt/ reads its schema from schemas/ beside it (/srv/schemas).
        assert plan["schemas"] == repo / "schemas"
        assert plan["tests/image"] == repo / "tests" / "image"


def test_wheelhouse_is_staged_for_every_role(repo, tmp_path):
    # Also for onedir bakes: onedir brings Salt, not the golden package or pytest, which
    # provision.sh installs from the wheelhouse.
    for role in ("app", "chroma", "base"):
        assert _plan(repo, role)["wheelhouse"] == repo / "build" / "wheelhouse"
    assert _plan(repo, "app", wheelhouse=tmp_path / "wh")["wheelhouse"] == tmp_path / "wh"


def test_ca_bundle_goes_where_the_golden_formula_reads_it(repo, tmp_path):
    bundle = tmp_path / "global-bundle.pem"
    assert _plan(repo, "app", ca_bundle=bundle)[staging.CA_BUNDLE_DEST] == bundle
    assert staging.CA_BUNDLE_DEST == "certs/rds-ca-bundle.pem"
    assert staging.CA_BUNDLE_DEST not in _plan(repo, "app")


def test_unknown_role_is_refused_naming_it(repo):
    with pytest.raises(ConfigError, match="role 'worker': expected one of app, chroma, base"):
        _plan(repo, "worker")


def test_complete_inputs_have_no_problems(repo, tmp_path, certificate):
    bundle = tmp_path / "ca.pem"
    bundle.write_text(certificate)
    for role in ("app", "chroma", "base"):
        assert staging.problems(_plan(repo, role, ca_bundle=bundle)) == []


def test_missing_inputs_are_each_named_with_what_to_do(repo):
    (repo / "build" / "images" / "chroma.tar").unlink()
    (repo / "scripts" / "provision.sh").unlink()
    problems = staging.problems(_plan(repo, "chroma"))
    assert f"{repo / 'build' / 'images' / 'chroma.tar'}: missing" in problems[1]
    assert "golden chroma-image build" in problems[1]
    assert f"{repo / 'scripts' / 'provision.sh'}: missing" in problems[0]
    assert len(problems) == 2
    # The app role does not need the chroma archive.
    assert not [p for p in staging.problems(_plan(repo, "app")) if "chroma" in p]


def test_a_wheelhouse_without_wheels_is_a_problem(repo):
    (repo / "build" / "wheelhouse" / "salt-3008.0-py3-none-any.whl").unlink()
    (problem,) = staging.problems(_plan(repo, "base"))
    assert "holds no *.whl files" in problem


def test_pem_certificates_pass(certificate):
    assert staging.pem_problem(certificate) is None
    assert staging.pem_problem(certificate + "\n" + certificate) is None


@pytest.mark.parametrize(
    "text, reason",
    [
        ("hello\n", "holds no PEM certificate"),
        ("-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n",
         "block 1 is a PRIVATE KEY, expected only CERTIFICATE blocks"),
        ("-----BEGIN CERTIFICATE-----\n!!notbase64!!\n-----END CERTIFICATE-----\n",
         "certificate 1 is not valid base64"),
        ("-----BEGIN CERTIFICATE-----\naGVsbG8=\n-----END CERTIFICATE-----\n",
         "certificate 1 is not DER data"),
    ],
)  # fmt: skip
def test_anything_but_pem_certificates_is_refused_saying_why(text, reason):
    assert reason in staging.pem_problem(text)


def test_a_private_key_next_to_the_certificate_is_refused(certificate):
    key = "-----BEGIN RSA PRIVATE KEY-----\nMIIB\n-----END RSA PRIVATE KEY-----\n"
    assert "RSA PRIVATE KEY" in staging.pem_problem(certificate + key)


def test_unusable_ca_bundle_is_a_problem_naming_the_file(repo, tmp_path):
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(b"\x00\xff binary")
    (problem,) = staging.problems(_plan(repo, "app", ca_bundle=bundle))
    assert problem.startswith(f"{bundle}: not a PEM file")
    missing = tmp_path / "absent.pem"
    (problem,) = staging.problems(_plan(repo, "app", ca_bundle=missing))
    assert problem.startswith(f"{missing}: missing")


def test_lay_out_links_big_archives_copies_the_rest_and_writes_provenance(
    repo, tmp_path, certificate
):
    big = repo / "build" / "images" / "sample-app.tar"
    big.write_bytes(os.urandom(staging.LINK_MIN_BYTES))
    (repo / "salt" / "__pycache__").mkdir()
    (repo / "salt" / "__pycache__" / "x.pyc").write_bytes(b"c")
    bundle = tmp_path / "ca.pem"
    bundle.write_text(certificate)
    dest = tmp_path / "stage"
    (dest / "stale").mkdir(parents=True)
    staging.lay_out(_plan(repo, "app", ca_bundle=bundle), dest, {"role": "app"})

    assert not (dest / "stale").exists()
    assert (dest / "images" / "sample-app.tar").stat().st_ino == big.stat().st_ino
    small = dest / "images" / "sample-app.json"
    assert small.stat().st_ino != (repo / "build" / "images" / "sample-app.json").stat().st_ino
    assert (dest / "certs" / "rds-ca-bundle.pem").read_text() == certificate
    assert (dest / "salt" / "top.sls").is_file()
    assert (dest / "schemas" / "pillar.schema.json").is_file()
    assert not (dest / "salt" / "__pycache__").exists()
    assert (dest / "wheelhouse" / "salt-3008.0-py3-none-any.whl").is_file()
    assert not (dest / "images" / "chroma.tar").exists()
    assert json.loads((dest / "provenance.json").read_text()) == {"role": "app"}


def test_provision_refuses_a_staging_folder_without_the_schemas(tmp_path):
    """The script checks its inputs before it changes anything: salt/, pillar/ and
    schemas/ go to /srv together (the pillar guard reads /srv/schemas)."""
    import subprocess

    script = Path(__file__).resolve().parents[2] / "scripts" / "provision.sh"
    for tree in ("salt", "pillar"):
        (tmp_path / tree).mkdir()
    proc = subprocess.run(
        ["bash", str(script), "--role", "app", "--platform", "aws", "--src", str(tmp_path)],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert proc.returncode == 2
    assert f"{tmp_path}/schemas is missing (upload salt/, pillar/ and schemas/ first)" in (
        proc.stderr
    )


def _role_pillar(repo: Path, text: str) -> None:
    (repo / "pillar" / "roles").mkdir(parents=True, exist_ok=True)
    (repo / "pillar" / "roles" / "app.sls").write_text(text)


def test_the_app_archive_uploaded_is_the_one_its_pillar_loads(repo):
    images = repo / "build" / "images"
    for suffix in (".tar", ".json"):
        (images / f"byo-app{suffix}").write_bytes(b"b")
    _role_pillar(repo, "app:\n  image_archive: /var/tmp/golden/images/byo-app.tar\n"
                       "  image_manifest: /var/tmp/golden/images/byo-app.json\n")  # fmt: skip
    staged = {k: v for k, v in _plan(repo, "app").items() if k.startswith("images/")}
    assert staged == {"images/byo-app.tar": images / "byo-app.tar",
                      "images/byo-app.json": images / "byo-app.json"}  # fmt: skip


def test_another_pillar_folder_decides_what_is_staged_and_which_archive(repo, tmp_path):
    other = tmp_path / "other-pillar"
    (other / "roles").mkdir(parents=True)
    (other / "roles" / "app.sls").write_text(
        "app:\n  image_archive: /var/tmp/golden/images/byo-app.tar\n"
        "  image_manifest: /var/tmp/golden/images/byo-app.json\n")
    plan = _plan(repo, "app", pillar=other)
    assert plan["pillar"] == other and "images/byo-app.tar" in plan
    # The repository's own pillar (no role file here) keeps the sample's archive.
    assert "images/sample-app.tar" in _plan(repo, "app")


@pytest.mark.parametrize(("archive", "manifest", "expected"), [
    ("/opt/images/byo-app.tar", "/var/tmp/golden/images/byo-app.json",
     "app:image_archive '/opt/images/byo-app.tar': expected /var/tmp/golden/images/NAME.tar"),
    ("/var/tmp/golden/images/byo-app.tar", "/var/tmp/golden/images/byo-app.yaml",
     "app:image_manifest '/var/tmp/golden/images/byo-app.yaml': expected "
     "/var/tmp/golden/images/NAME.json"),
    ("/var/tmp/golden/images/byo-app.tar", "/var/tmp/golden/images/sample-app.json",
     "name different archives (byo-app.tar, sample-app.json)"),
])  # fmt: skip
def test_a_pillar_naming_an_archive_no_build_uploads_is_refused(repo, archive, manifest,
                                                                  expected):
    _role_pillar(repo, f"app:\n  image_archive: {archive}\n  image_manifest: {manifest}\n")
    with pytest.raises(ConfigError) as err:
        _plan(repo, "app")
    assert expected in str(err.value) and "roles/app.sls" in str(err.value)
