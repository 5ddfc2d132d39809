"""`golden bake` against a stand-in `packer` replaying transcripts recorded from real
Packer 1.6.6: success, validation error, provisioner failure, interrupt, Packer missing.

What the stand-in does not model: Packer's own work (no container or instance is made;
the "baked" image is an empty image the test imports, put in place of the recorded id)."""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import subprocess
import threading
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner
from golden.bake import build
from golden.bake.request import BakeRequest, parse_var_overrides
from golden.core.errors import ConfigError, OperationFailed, PreflightError

from .conftest import DIGEST, _git

# Resolved once: some tests empty PATH, and fixtures clean up after them.
DOCKER = shutil.which("docker") or "docker"
FIXED_NOW = datetime(2026, 1, 31, 12, 0, 0, tzinfo=timezone.utc)


@pytest.fixture
def local_repository():
    name = f"golden-bake-test/baked-{uuid.uuid4().hex[:8]}"
    yield name
    refs = subprocess.run(
        [DOCKER, "image", "ls", "--format", "{{.Repository}}:{{.Tag}}", name],
        capture_output=True, text=True,
    ).stdout.split()  # fmt: skip
    if refs:
        subprocess.run([DOCKER, "rmi", "-f", *refs], capture_output=True)


def _request(empty_image, local_repository, **overrides) -> BakeRequest:
    values = dict(
        role="app",
        target="local",
        variables={"twin_base_image": empty_image["ref"]},
        local_repository=local_repository,
    )
    values.update(overrides)
    return BakeRequest(**values)


def _calls(tmp_path) -> list[list[str]]:
    path = tmp_path / "packer-calls.jsonl"
    if not path.exists():
        return []
    return [json.loads(line)["argv"] for line in path.read_text().splitlines()]


def _run(repo, request, progress=None):
    return build.bake(request, repo=repo, progress_out=progress or io.StringIO(),
                      now=lambda: FIXED_NOW)  # fmt: skip


def _label(ref: str, key: str) -> str | None:
    proc = subprocess.run(
        [DOCKER, "image", "inspect", "--format", "{{json .Config.Labels}}", ref],
        capture_output=True, text=True,
    )  # fmt: skip
    if proc.returncode != 0:
        return None
    return (json.loads(proc.stdout) or {}).get(key)


def test_successful_bake_records_provenance_and_marks_the_image_tested(
    fake_packer_bin, monkeypatch, tmp_path, repo, empty_image, local_repository
):
    monkeypatch.setenv("FAKE_PACKER_TRANSCRIPT", "success")
    monkeypatch.setenv("FAKE_PACKER_ARTIFACT_ID", empty_image["id"])
    progress = io.StringIO()
    record = _run(repo, _request(empty_image, local_repository), progress)

    head = _git(repo, "rev-parse", "HEAD")
    assert record["status"] == "succeeded" and record["tested"] is True
    assert record["artifacts"]["image_id"] == empty_image["id"]
    assert record["tests"] == {"passed": 12, "failed": 0, "skipped": 1}
    assert record["provenance"]["golden:git-revision"] == head
    assert record["provenance"]["golden:state-tree-revision"] == head
    assert record["provenance"]["golden:app-images"] == f"backend@sha256:{DIGEST}"
    assert record["provenance"]["golden:version"] == "0.1.0"
    assert record["provenance"]["golden:build-time"] == "2026-01-31T12:00:00Z"
    # The image's package set, downloaded from /etc/golden/packages.json.
    assert record["packages"]["count"] == 2
    assert record["packages"]["origins"] == {"Debian/bookworm-security": 1, "local": 1}
    assert record["packages"]["pending_security"] == []
    assert {"name": "openssl", "version": "3.0.15-1~deb12u1", "arch": "amd64",
            "origin": "Debian/bookworm-security"} in record["packages"]["installed"]
    saved = json.loads((repo / "build" / "bakes" / "app-20260131T120000Z.json").read_text())
    assert saved == record
    assert _label(f"{local_repository}:0.1.0", "golden:tested") == "true"
    assert _label(f"{local_repository}:latest", "golden:tested") == "true"
    assert _label(empty_image["ref"], "golden:tested") is None

    version, validate, build = _calls(tmp_path)
    assert version == ["version"]
    assert validate[0] == "validate" and build[0] == "build"
    assert "-only=golden.docker.twin" in validate and "-only=golden.docker.twin" in build
    assert "-machine-readable" in build
    assert f"git_revision={head}" in build
    template_dir = Path(build[-1])
    assert "metadata_options" not in (template_dir / "golden.pkr.hcl").read_text()
    assert "metadata_options" in (repo / "packer" / "golden.pkr.hcl").read_text()

    shown = progress.getvalue()
    assert "==> Committing the container" in shown
    assert "| golden-provision: tests passed=12 failed=0 skipped=1" in shown
    assert "s] " in shown  # elapsed seconds prefix
    assert "Starting docker container" in Path(record["log"]).read_text()
    assert not (repo / "build" / "bakes" / record["id"] / "stage").exists()


def test_validation_error_stops_before_build_and_names_the_variable(
    fake_packer_bin, monkeypatch, tmp_path, repo, empty_image, local_repository
):
    monkeypatch.setenv("FAKE_PACKER_VALIDATE", "validation-error")
    monkeypatch.setenv("FAKE_PACKER_TRANSCRIPT", "success")
    with pytest.raises(OperationFailed) as failed:
        _run(repo, _request(empty_image, local_repository))
    assert failed.value.exit_code == 4
    assert "The role variable must be one of: app, chroma, base." in str(failed.value)
    assert [call[0] for call in _calls(tmp_path)] == ["version", "validate"]
    record = json.loads((repo / "build" / "bakes" / "app-20260131T120000Z.json").read_text())
    assert record["status"] == "invalid" and record["tested"] is False


def test_provisioner_failure_shows_the_failing_step_and_last_lines_and_keeps_the_log(
    fake_packer_bin, monkeypatch, repo, empty_image, local_repository
):
    monkeypatch.setenv("FAKE_PACKER_TRANSCRIPT", "provisioner-failure")
    with pytest.raises(OperationFailed) as failed:
        _run(repo, _request(empty_image, local_repository))
    message = str(failed.value)
    assert "failing step: Provisioning with shell script" in message
    assert "Script exited with non-zero exit status: 2" in message
    assert "highstate failed (2 states), see above" in message
    # The failed state ends the message, where a truncated CI log still shows it.
    assert message.split("\nfull log:")[0].endswith(
        "failed Salt states (1):\n    nginx-service-running (service.running): Job for "
        "nginx.service failed because the control process exited with error code."
    )
    log = repo / "build" / "bakes" / "app-20260131T120000Z" / "packer.log"
    assert f"full log: {log}" in message
    assert "Killing the container" in log.read_text()
    record = json.loads((repo / "build" / "bakes" / "app-20260131T120000Z.json").read_text())
    assert record["status"] == "failed" and record["tested"] is False
    assert record["failing_step"].startswith("Provisioning with shell script")
    assert [state["id"] for state in record["failed_states"]] == ["nginx-service-running"]
    assert _label(f"{local_repository}:0.1.0", "golden:tested") is None


def test_ctrl_c_reaches_packer_which_cleans_up_before_the_bake_ends(
    fake_packer_bin, monkeypatch, repo, empty_image, local_repository
):
    monkeypatch.setenv("FAKE_PACKER_TRANSCRIPT", "interrupt")
    # What the wrapper must restore: Python's handler, or SIG_IGN when the suite itself was
    # started in the background by a shell without job control.
    before = signal.getsignal(signal.SIGINT)
    log = repo / "build" / "bakes" / "app-20260131T120000Z" / "packer.log"

    def press_ctrl_c():
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if log.exists() and "applying highstate" in log.read_text():
                os.kill(os.getpid(), signal.SIGINT)
                return
            time.sleep(0.05)

    presser = threading.Thread(target=press_ctrl_c, daemon=True)
    presser.start()
    with pytest.raises(OperationFailed) as failed:
        _run(repo, _request(empty_image, local_repository))
    presser.join(timeout=5)
    assert failed.value.exit_code == 130
    assert "interrupted" in str(failed.value)
    text = log.read_text()
    # The stand-in only prints Packer's clean-up lines once the SIGINT has reached it.
    assert "Cancelling build after receiving interrupt" in text
    assert "Killing the container" in text and "Cleanly cancelled builds" in text
    assert "no SIGINT arrived" not in text
    record = json.loads((repo / "build" / "bakes" / "app-20260131T120000Z.json").read_text())
    assert record["status"] == "interrupted" and record["tested"] is False
    assert signal.getsignal(signal.SIGINT) is before


def test_missing_packer_is_a_preflight_error_with_an_install_hint(
    tmp_path, monkeypatch, repo, empty_image, local_repository
):
    empty_bin = tmp_path / "empty-bin"
    empty_bin.mkdir()
    monkeypatch.setenv("PATH", str(empty_bin))
    with pytest.raises(PreflightError) as failed:
        _run(repo, _request(empty_image, local_repository))
    assert failed.value.exit_code == 3
    assert "packer not found on PATH" in str(failed.value)
    assert "apt-get install packer" in str(failed.value)
    assert not (repo / "build" / "bakes").exists()


def test_packer_older_than_1_6_6_is_refused(
    fake_packer_bin, monkeypatch, repo, empty_image, local_repository
):
    monkeypatch.setenv("FAKE_PACKER_VERSION", "1.5.6")
    with pytest.raises(PreflightError, match=r"packer 1\.5\.6 .* too old \(need >= 1\.6\.6\)"):
        _run(repo, _request(empty_image, local_repository))
    assert not (repo / "build" / "bakes").exists()


def test_real_aws_bake_with_packer_1_6_is_refused_without_imdsv2_enforcement(
    fake_packer_bin, monkeypatch, tmp_path, repo, empty_image, local_repository
):
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL_EC2", raising=False)
    request = _request(empty_image, local_repository, target="aws", variables={})
    with pytest.raises(PreflightError, match="cannot enforce IMDSv2"):
        _run(repo, request)
    assert _calls(tmp_path) == [["version"]]
    assert not (repo / "build" / "bakes").exists()


def test_missing_inputs_are_named_before_anything_runs(
    fake_packer_bin, tmp_path, repo, empty_image, local_repository
):
    (repo / "scripts" / "provision.sh").unlink()
    shutil.rmtree(repo / "build" / "wheelhouse")
    with pytest.raises(PreflightError) as failed:
        _run(repo, _request(empty_image, local_repository))
    assert "scripts/provision.sh: missing" in str(failed.value)
    assert "wheelhouse: missing" in str(failed.value)
    assert [call[0] for call in _calls(tmp_path)] == ["version"]
    assert not (repo / "build" / "bakes").exists()


def test_twin_base_image_must_exist_locally_so_packer_never_pulls(
    fake_packer_bin, tmp_path, repo, empty_image, local_repository
):
    request = _request(empty_image, local_repository,
                       variables={"twin_base_image": "golden-bake-test/absent:nope"})  # fmt: skip
    with pytest.raises(PreflightError, match="golden base-image"):
        _run(repo, request)
    assert [call[0] for call in _calls(tmp_path)] == ["version"]


def test_dry_run_validates_and_builds_nothing(
    fake_packer_bin, tmp_path, repo, empty_image, local_repository
):
    record = _run(repo, _request(empty_image, local_repository, dry_run=True))
    assert record["status"] == "dry-run"
    assert [call[0] for call in _calls(tmp_path)] == ["version", "validate"]
    assert record["variables"]["role"] == "app"
    assert not (repo / "build" / "bakes").exists()


def test_vars_the_wrapper_owns_cannot_be_overridden():
    with pytest.raises(ConfigError, match="--var git_revision: set by golden bake"):
        parse_var_overrides(["git_revision=abc"])
    with pytest.raises(ConfigError, match="expected NAME=VALUE"):
        parse_var_overrides(["no-equals-sign"])
    assert parse_var_overrides(["version=1.2.3", "ami_regions=[]"]) == {
        "version": "1.2.3",
        "ami_regions": "[]",
    }


def test_cli_prints_the_record_as_json_and_maps_failures_to_exit_codes(
    fake_packer_bin, monkeypatch, repo, empty_image, local_repository
):
    from golden.cli import main

    monkeypatch.setenv("GOLDEN_REPO_ROOT", str(repo))
    monkeypatch.setenv("FAKE_PACKER_TRANSCRIPT", "success")
    monkeypatch.setenv("FAKE_PACKER_ARTIFACT_ID", empty_image["id"])
    args = ["bake", "--role", "app", "--target", "local", "--json",
            "--local-repository", local_repository,
            "--var", f"twin_base_image={empty_image['ref']}"]  # fmt: skip
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["status"] == "succeeded" and record["tested"] is True
    assert record["tested_marks"] == [f"{local_repository}:0.1.0", f"{local_repository}:latest"]

    monkeypatch.setenv("FAKE_PACKER_TRANSCRIPT", "provisioner-failure")
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 4
    assert "failing step" in result.stderr and result.stdout == ""
