"""`golden app-images build`: its decisions, as pure functions (no Docker needed)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from golden.cli import main
from golden.core.errors import ConfigError
from golden.twin import appimages, imagepython

BACKEND = appimages.COMPONENTS[0]


def test_source_files_leave_out_caches(tmp_path):
    (tmp_path / "pkg" / "__pycache__").mkdir(parents=True)
    (tmp_path / "pkg" / "__pycache__" / "m.cpython-311.pyc").write_bytes(b"x")
    (tmp_path / "pkg" / "m.py").write_text("x = 1\n")
    (tmp_path / "stray.pyc").write_bytes(b"x")
    (tmp_path / "requirements.txt").write_text("fastapi==1\n")
    assert [str(p) for p in appimages.source_files(tmp_path)] == ["pkg/m.py", "requirements.txt"]


def test_inputs_hash_changes_with_code_requirements_or_base_and_only_then():
    files = {"sample_backend/main.py": b"print(1)\n", "requirements.txt": b"fastapi==1\n"}
    same = appimages.inputs_hash(BACKEND, "sha256:base1", dict(files))
    assert appimages.inputs_hash(BACKEND, "sha256:base1", dict(files)) == same
    assert appimages.inputs_hash(BACKEND, "sha256:base2", files) != same
    assert (
        appimages.inputs_hash(
            BACKEND, "sha256:base1", {**files, "requirements.txt": b"fastapi==2\n"}
        )
        != same
    )
    assert (
        appimages.inputs_hash(BACKEND, "sha256:base1", {**files, "sample_backend/new.py": b""})
        != same
    )
    assert appimages.inputs_hash(appimages.COMPONENTS[1], "sha256:base1", files) != same


def test_plan_reuses_only_an_image_whose_label_matches():
    wanted = {"backend": "aaa", "frontend": "bbb"}
    labels = {"backend": "aaa", "frontend": "old"}
    assert appimages.plan(appimages.COMPONENTS, wanted, labels, force=False) == {
        "backend": "reuse",
        "frontend": "build",
    }
    assert appimages.plan(appimages.COMPONENTS, wanted, labels, force=True) == {
        "backend": "build",
        "frontend": "build",
    }
    assert appimages.plan(appimages.COMPONENTS, wanted, {}, force=False)["backend"] == "build"


def test_commit_changes_make_a_non_root_image_with_a_healthcheck_on_its_port():
    changes = appimages.commit_changes(BACKEND, "abc123")
    assert f"USER {appimages.APP_UID}:{appimages.APP_UID}" in changes
    assert "EXPOSE 8000/tcp" in changes
    assert 'CMD ["gunicorn", "-c", "/app/gunicorn.conf.py"]' in changes
    assert "WORKDIR /app" in changes
    assert f"LABEL {appimages.INPUTS_LABEL}=abc123" in changes
    healthcheck = next(c for c in changes if c.startswith("HEALTHCHECK"))
    assert "http://127.0.0.1:8000/health" in healthcheck
    assert not any(c.startswith("ENTRYPOINT") for c in changes)


H = "0" * 64


def test_wheelhouse_requirements_drop_markers_so_the_target_python_decides():
    lock = (
        "# a comment\n"
        f"anyio==4.16.0 \\\n    --hash=sha256:{H}\n"
        f'async-timeout==5.0.1 ; python_full_version < "3.11.3" \\\n    --hash=sha256:{H}\n'
        f"colorama==0.4.6 ; sys_platform == 'win32' \\\n    --hash=sha256:{H}\n"
        f"psycopg-binary==3.3.9 \\\n    --hash=sha256:{H}\n    # via psycopg\n"
    )
    assert imagepython.wheelhouse_requirements(lock, "3.11", "x86_64") == (
        f"anyio==4.16.0 --hash=sha256:{H}\nasync-timeout==5.0.1 --hash=sha256:{H}\n"
        f"psycopg-binary==3.3.9 --hash=sha256:{H}\n"
    )


def test_the_image_installs_what_the_lock_pins_with_the_hashes_of_wheels_built_here():
    marker = 'python_full_version < "3.11.3"'
    lock = (f"anyio==4.16.0 \\\n    --hash=sha256:{H}\n"
            f"async-timeout==5.0.1 ; {marker} \\\n    --hash=sha256:{H}\n")  # fmt: skip
    wheels = {"anyio-4.16.0-py3-none-any.whl": H,
              "async_timeout-5.0.1-py3-none-any.whl": "1" * 64}  # fmt: skip
    text = imagepython.install_requirements(lock, "3.11", "x86_64", wheels, "backend lock")
    lines = [line for line in text.splitlines() if not line.startswith("#")]
    assert lines == [
        f"anyio==4.16.0 --hash=sha256:{H}",
        f"async-timeout==5.0.1 ; python_full_version < \"3.11.3\" --hash=sha256:{H} "
        f"--hash=sha256:{'1' * 64}",
    ]


def test_the_package_list_the_build_prints_becomes_a_label_and_the_manifest_keeps_it():
    lines = ["venv: 40 MB", "golden-python-packages: fastapi==0.165.0 uvicorn==0.54.0"]
    listing = imagepython.packages_listed(lines)
    assert imagepython.packages_label(listing) == (
        f'LABEL {imagepython.PACKAGES_LABEL}="fastapi==0.165.0 uvicorn==0.54.0"'
    )
    packages = imagepython.parse_packages(listing)
    assert packages == [{"name": "fastapi", "version": "0.165.0"},
                        {"name": "uvicorn", "version": "0.54.0"}]  # fmt: skip
    doc = appimages.manifest({"backend": {"ref": "r", "id": "sha256:1",
                                          "python_packages": packages}})  # fmt: skip
    assert doc["images"]["backend"]["python_packages"] == packages
    assert "{list_packages}" in appimages.BUILD_SCRIPT


def test_wheels_are_built_for_a_matching_python_and_downloaded_for_another(tmp_path):
    req, out = tmp_path / "r.txt", tmp_path / "w"
    same = appimages.wheel_command("py", req, out, "3.11", "3.11", "x86_64")
    assert same[:4] == ["py", "-m", "pip", "wheel"]
    other = appimages.wheel_command("py", req, out, "3.11", "3.10", "x86_64")
    assert other[:4] == ["py", "-m", "pip", "download"]
    assert "--only-binary=:all:" in other
    assert other[other.index("--python-version") + 1] == "3.10"
    assert "manylinux2014_x86_64" in other
    assert "cp310" in other


def test_archive_is_current_only_with_the_same_ids_and_the_tar_present(tmp_path):
    images = {
        "backend": {"ref": "golden-sample/backend:dev", "id": "sha256:1"},
        "frontend": {"ref": "golden-sample/frontend:dev", "id": "sha256:2"},
    }
    tar = tmp_path / "sample-app.tar"
    doc = appimages.manifest(images, {"path": "sample-app.tar", "bytes": 5})
    assert not appimages.archive_is_current(doc, images, tar)
    tar.write_bytes(b"12345")
    assert appimages.archive_is_current(doc, images, tar)
    changed = {**images, "backend": {**images["backend"], "id": "sha256:9"}}
    assert not appimages.archive_is_current(doc, changed, tar)
    tar.write_bytes(b"123")
    assert not appimages.archive_is_current(doc, images, tar)


def test_manifest_lists_ref_and_id_per_image():
    doc = appimages.manifest(
        {
            "backend": {"ref": "b:dev", "id": "sha256:1", "bytes": 9},
            "frontend": {"ref": "f:dev", "id": "sha256:2"},
        }
    )
    assert doc == {
        "images": {
            "backend": {"ref": "b:dev", "id": "sha256:1"},
            "frontend": {"ref": "f:dev", "id": "sha256:2"},
        }
    }


def test_manifest_records_the_images_architecture_and_refuses_a_mix():
    images = {
        "backend": {"ref": "b:dev", "id": "sha256:1", "architecture": "arm64"},
        "frontend": {"ref": "f:dev", "id": "sha256:2", "architecture": "arm64"},
    }
    assert appimages.manifest(images)["architecture"] == "arm64"
    mixed = {**images, "frontend": {**images["frontend"], "architecture": "amd64"}}
    with pytest.raises(ConfigError, match="backend arm64, frontend amd64"):
        appimages.manifest(mixed)


def test_cli_refuses_a_missing_base_image_naming_it_and_changes_nothing(tmp_path):
    out = tmp_path / "images"
    result = CliRunner().invoke(
        main,
        [
            "app-images",
            "build",
            "--base",
            "golden-sampletest/no-such-base:none",
            "--out",
            str(out),
            "--wheelhouse",
            str(tmp_path / "wh"),
        ],
    )
    assert result.exit_code == 3, result.output
    assert "golden-sampletest/no-such-base:none" in result.output
    assert "golden base-image" in result.output
    assert not out.exists() and not (tmp_path / "wh").exists()


def test_cli_refuses_a_source_folder_without_the_lock(tmp_path):
    result = CliRunner().invoke(
        main, ["app-images", "build", "--source", str(tmp_path), "--dry-run", "--json"]
    )
    assert result.exit_code == 2, result.output
    assert "requirements.txt" in result.output
