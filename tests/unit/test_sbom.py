"""The SBOM of an image (golden.core.sbom, golden instance sbom): CycloneDX 1.5 JSON,
valid against the schema cyclonedx-python-lib ships, with the OS packages, the Python
packages and the container images by digest. Made here from this machine's own dpkg
database and Python environment, the analogue of what the bake does inside the image
(the in-image SBOM of a baked twin is checked by tests/bake/test_bake_twin.py, Docker)."""

from __future__ import annotations

import json
import subprocess
from datetime import datetime, timezone
from pathlib import Path

from click.testing import CliRunner
from golden.cli import main
from golden.core import sbom
from golden.instance import sbom as instance_sbom

WHEN = datetime(2026, 11, 30, 12, 0, tzinfo=timezone.utc)
SUBJECT = sbom.Subject("golden-app", "1.2.3", "ubuntu", "22.04", "jammy")
DIGEST = "sha256:" + "b" * 64

DPKG_STATUS = """\
Package: openssl
Status: install ok installed
Architecture: amd64
Source: openssl (3.0.2-0ubuntu1.18)
Version: 3.0.2-0ubuntu1.18

Package: removed-but-configured
Status: deinstall ok config-files
Architecture: amd64
Version: 1.0

Package: libc6
Status: install ok installed
Architecture: amd64
Version: 2.35-0ubuntu3.8
Description: GNU C Library
 a continuation line: with a colon
"""


def _doc() -> dict:
    return sbom.document(
        SUBJECT,
        sbom.parse_dpkg_status(DPKG_STATUS),
        [sbom.PythonPackage("salt", "3008.4"), sbom.PythonPackage("PyYAML", "6.0.4")],
        [sbom.ContainerImage("backend", DIGEST, "golden-sample/backend",
                             (sbom.PythonPackage("fastapi", "0.165.0"),))],
        WHEN,
    )  # fmt: skip


def test_the_document_is_valid_cyclonedx_1_5_and_names_every_kind_of_component():
    doc = _doc()
    assert sbom.validation_errors(doc) is None
    assert doc["bomFormat"] == "CycloneDX" and doc["specVersion"] == "1.5"
    purls = {c["purl"] for c in doc["components"]}
    assert "pkg:deb/ubuntu/openssl@3.0.2-0ubuntu1.18?arch=amd64&distro=jammy" in purls
    assert "pkg:deb/ubuntu/libc6@2.35-0ubuntu3.8?arch=amd64&distro=jammy" in purls
    assert "pkg:pypi/salt@3008.4" in purls and "pkg:pypi/pyyaml@6.0.4" in purls
    assert f"pkg:oci/backend@{DIGEST}?repository_url=golden-sample/backend" in purls
    inner = next(c for c in doc["components"] if c["name"] == "fastapi")
    assert {"name": sbom.FOUND_IN, "value": f"backend@{DIGEST}"} in inner["properties"]
    assert not any("removed-but-configured" in p for p in purls), "only installed packages"
    assert sbom.counts(doc) == {"deb": 2, "pypi": 2, "container": 1, "container_pypi": 1,
                                "total": 6}  # fmt: skip
    assert doc["metadata"]["component"]["name"] == "golden-app"


def test_the_same_inputs_give_the_same_document():
    assert json.dumps(_doc(), sort_keys=True) == json.dumps(_doc(), sort_keys=True)


def test_the_schema_check_catches_a_broken_document():
    doc = _doc()
    doc["components"][0]["type"] = "not-a-component-type"
    assert sbom.validation_errors(doc) is not None


def test_container_images_come_from_the_archives_and_the_pinned_references(tmp_path):
    (tmp_path / "sample-app.json").write_text(json.dumps({"images": {
        "backend": {"ref": "golden-sample/backend:dev", "id": DIGEST,
                    "python_packages": [{"name": "fastapi", "version": "0.165.0"}]},
    }}))  # fmt: skip
    image_json = {"app_images": {"backend": f"registry.example/agent/backend@{DIGEST}",
                                 "worker": "registry.example/agent/worker@sha256:" + "c" * 64,
                                 "frontend": "archive"}}  # fmt: skip
    found = instance_sbom.container_images(image_json, [tmp_path / "sample-app.json"])
    assert [(i.name, i.digest) for i in found] == [("backend", DIGEST),
                                                   ("worker", "sha256:" + "c" * 64)]  # fmt: skip
    assert found[0].python == (sbom.PythonPackage("fastapi", "0.165.0"),)


def test_this_machine_as_the_image_analogue_gives_a_valid_sbom_of_its_packages(tmp_path):
    """The bake's step on this host: its dpkg database and this Python environment."""
    installed = subprocess.run(
        ["dpkg-query", "-W", "-f", "${db:Status-Abbrev} ${binary:Package}\\n"],
        capture_output=True, text=True, check=True,
    ).stdout.splitlines()  # fmt: skip
    expected = sum(1 for line in installed if line.startswith(("ii", "hi")))
    (tmp_path / "image.json").write_text(json.dumps({"role": "app", "version": "9.9.9"}))
    doc = instance_sbom.collect(image_json=tmp_path / "image.json", now=WHEN)
    counts = sbom.counts(doc)
    assert counts["deb"] == expected
    assert counts["pypi"] == len(sbom.python_packages()) > 50
    assert sbom.validation_errors(doc) is None
    assert doc["metadata"]["component"] == {**doc["metadata"]["component"],
                                            "name": "golden-app", "version": "9.9.9"}  # fmt: skip
    assert counts["total"] <= sbom.INSPECTOR_MAX_COMPONENTS, "ScanSbom takes at most 2000"


def test_golden_instance_sbom_writes_the_document(tmp_path):
    out = tmp_path / "sbom.cdx.json"
    result = CliRunner().invoke(main, ["instance", "sbom", "--output", str(out), "--json"])
    assert result.exit_code == 0, result.output
    written = json.loads(out.read_text())
    assert sbom.validation_errors(written) is None
    reported = json.loads(result.stdout)
    assert reported["bytes"] == len(out.read_bytes()) and reported["total"] > 0


def test_the_bake_runs_the_sbom_step_after_the_highstate():
    script = (Path(__file__).resolve().parents[2] / "scripts" / "provision.sh").read_text()
    order = [line.strip() for line in script.splitlines() if line.strip() in
             ("highstate", "record_packages", "record_sbom", "cleanup")]  # fmt: skip
    assert order == ["highstate", "record_packages", "record_sbom", "cleanup"]
    assert "golden\" instance sbom --output /etc/golden/sbom.cdx.json" in script
