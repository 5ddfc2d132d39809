"""The supply chain of an AWS bake, end to end without Docker: the wrapper runs the
stand-in `packer` replaying a transcript derived from the recorded docker success (the
amazon-ebs source's artifact line instead of the docker image's), against the AWS
emulator, which answers ScanSbom from a recorded report (emulator/inspector_scan.py).

What is not modelled: Packer's own work (the AMI is one the test registers in the
emulator; the SBOM is the small document tests/bake/fake_packer.py "downloads"), and
Inspector's vulnerability data (the report is tests/bake/data/scansbom-vulnerabilities.json,
written from AWS's documentation, not captured)."""

from __future__ import annotations

import base64
import io
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from golden.bake import build
from golden.bake.record import human_result
from golden.bake.request import BakeRequest
from golden.cli import main
from golden.core.errors import OperationFailed

from autoscaling.emulator.seed import register_ami

HERE = Path(__file__).resolve().parent
FIXED_NOW = datetime(2026, 11, 30, 12, 0, 0, tzinfo=timezone.utc)
VULNERABILITIES = json.loads((HERE / "data" / "scansbom-vulnerabilities.json").read_text())[
    "vulnerabilities"
]
REGION = "us-east-1"


def _transcript(folder: Path, ami: str) -> None:
    """success.txt/.json as the amazon-ebs source would have printed them for ``ami``."""
    text = (HERE / "transcripts" / "success.txt").read_text()
    meta = json.loads((HERE / "transcripts" / "success.json").read_text())
    recorded = meta["manifest"]["builds"][0]["artifact_id"]
    text = (text.replace("golden.docker.twin", "golden.amazon-ebs.ubuntu")
            .replace("packer.post-processor.docker-import", "mitchellh.amazonebs")
            .replace(recorded, f"{REGION}:{ami}"))  # fmt: skip
    build_meta = meta["manifest"]["builds"][0]
    build_meta.update(name="ubuntu", builder_type="amazon-ebs", artifact_id=f"{REGION}:{ami}")
    (folder / "aws-success.txt").write_text(text)
    (folder / "aws-success.json").write_text(json.dumps(meta))


@pytest.fixture
def aws_bake(fake_packer_bin, monkeypatch, tmp_path, repo, emulator, aws_env):
    """An AWS bake's world: an AMI Packer "made" in the emulator, the derived transcript,
    an RDS CA bundle in place, an artifacts bucket. Returns (run, ec2, ami, bucket)."""
    import boto3
    from botocore.config import Config

    emulator.reset()
    config = Config(retries={"max_attempts": 1})
    ec2 = boto3.client("ec2", region_name=REGION, endpoint_url=emulator.url, config=config)
    s3 = boto3.client("s3", region_name=REGION, endpoint_url=emulator.url, config=config)
    # As Packer leaves it: provenance tags, golden:tested=false until the wrapper marks it.
    ami = register_ami(ec2, "app", "0.1.0", tested=False)
    _transcript(tmp_path, ami)
    monkeypatch.setenv("FAKE_PACKER_TRANSCRIPTS", str(tmp_path))
    monkeypatch.setenv("FAKE_PACKER_TRANSCRIPT", "aws-success")
    certs = repo / "build" / "certs"
    certs.mkdir(parents=True)
    der = base64.b64encode(b"\x30\x03\x02\x01\x01").decode()
    (certs / "rds-ca-bundle.pem").write_text(
        f"-----BEGIN CERTIFICATE-----\n{der}\n-----END CERTIFICATE-----\n"
    )
    s3.create_bucket(Bucket="golden-artifacts")

    def run(**overrides):
        values = dict(role="app", target="aws", variables={"ec2_endpoint": emulator.url},
                      artifacts_bucket="golden-artifacts")  # fmt: skip
        values.update(overrides)
        progress = io.StringIO()
        try:
            return build.bake(BakeRequest(**values), repo=repo, progress_out=progress,
                              now=lambda: FIXED_NOW), progress.getvalue()  # fmt: skip
        except OperationFailed as exc:
            exc.progress = progress.getvalue()
            raise

    return run, ec2, ami, s3


def _tags(ec2, ami: str) -> dict[str, str]:
    (image,) = ec2.describe_images(ImageIds=[ami])["Images"]
    return {t["Key"]: t["Value"] for t in image.get("Tags") or []}


def _record(repo: Path) -> dict:
    (path,) = sorted((repo / "build" / "bakes").glob("*.json"))
    return json.loads(path.read_text())


def test_a_critical_finding_fails_the_bake_with_a_table_and_the_ami_stays_untested(
    aws_bake, emulator, repo
):
    run, ec2, ami, _s3 = aws_bake
    emulator.scan_report(VULNERABILITIES)
    with pytest.raises(OperationFailed) as failed:
        run()
    message = str(failed.value)
    assert failed.value.exit_code == 4
    assert "vulnerability gate: 1 finding(s) at critical or above" in message
    row = next(line for line in message.splitlines() if "CVE-2026-0001" in line)
    assert row.split()[:4] == ["critical", "CVE-2026-0001", "openssl", "3.0.15-1~deb12u1"]
    assert "3.0.15-1~deb12u2" in row and "FAILS" in row
    # The vulnerability of a package the image does not hold is not reported for it.
    assert "CVE-2026-0003" not in message
    assert _tags(ec2, ami)["golden:tested"] == "false"
    record = _record(repo)
    assert record["status"] == "vulnerable" and record["tested"] is False
    assert record["vulnerability_scan"]["ran"] is True
    assert [f["id"] for f in record["vulnerability_scan"]["failing"]] == ["CVE-2026-0001"]
    scans = [r for r in emulator.requests() if r["action"] == "POST /scan/sbom"]
    assert len(scans) == 1 and scans[0]["service"] == "inspector-scan"


def test_findings_below_the_threshold_pass_and_the_ami_is_published_with_its_sbom(
    aws_bake, emulator, repo
):
    run, ec2, ami, s3 = aws_bake
    emulator.scan_report([v for v in VULNERABILITIES if v["id"] == "CVE-2026-0002"])
    record, progress = run()
    assert record["status"] == "succeeded" and record["tested"] is True
    scan = record["vulnerability_scan"]
    assert scan["ran"] is True and scan["passed"] is True and scan["threshold"] == "critical"
    assert scan["counts"] == {"medium": 1}
    tags = _tags(ec2, ami)
    assert tags["golden:tested"] == "true"
    key = "sboms/app/golden-app-0.1.0-20261126062703.cdx.json"
    assert tags["golden:sbom"] == f"s3://golden-artifacts/{key}"
    body = s3.get_object(Bucket="golden-artifacts", Key=key)["Body"].read()
    assert json.loads(body) == json.loads((repo / record["sbom"]["file"]).read_text())
    (image,) = ec2.describe_images(ImageIds=[ami])["Images"]
    deprecated = (FIXED_NOW + timedelta(days=90)).strftime("%Y-%m-%dT")
    assert image["DeprecationTime"].startswith(deprecated)
    assert record["sbom"]["components"] == {"deb": 2, "pypi": 0, "container": 0,
                                            "container_pypi": 0, "total": 2}  # fmt: skip
    assert "vulnerabilities: scanned (ScanSbom), none failing at critical or above" in (
        human_result(record)
    )


def test_fail_on_medium_fails_on_the_medium_finding(aws_bake, emulator):
    run, ec2, ami, _s3 = aws_bake
    emulator.scan_report([v for v in VULNERABILITIES if v["id"] == "CVE-2026-0002"])
    with pytest.raises(OperationFailed, match="at medium or above"):
        run(fail_on="medium")
    assert _tags(ec2, ami)["golden:tested"] == "false"


def test_an_exception_accepts_a_finding_until_it_expires(aws_bake, emulator, repo, tmp_path):
    run, ec2, ami, _s3 = aws_bake
    emulator.scan_report(VULNERABILITIES)
    policy = yaml.safe_load((repo / "security" / "supply-chain.yaml").read_text())
    policy["vulnerabilities"]["exceptions"] = [{
        "id": "CVE-2026-0001", "component": "openssl", "approved_by": "security@example.com",
        "reason": "the image never uses the affected TLS feature", "expires": "2026-12-31",
    }]  # fmt: skip
    accepted = tmp_path / "accepted.yaml"
    accepted.write_text(yaml.safe_dump(policy))
    record, progress = run(supply_chain=accepted)
    assert record["tested"] is True and _tags(ec2, ami)["golden:tested"] == "true"
    assert [a["id"] for a in record["vulnerability_scan"]["accepted"]] == ["CVE-2026-0001"]
    assert "accepted until 2026-12-31" in progress

    policy["vulnerabilities"]["exceptions"][0]["expires"] = "2026-11-30"  # today: expired
    accepted.write_text(yaml.safe_dump(policy))
    with pytest.raises(OperationFailed) as failed:
        run(supply_chain=accepted)
    assert "expired on 2026-11-30 and no longer applies" in str(failed.value)


def test_without_a_recorded_report_the_scan_fails_and_nothing_is_marked(aws_bake, repo):
    run, ec2, ami, _s3 = aws_bake
    with pytest.raises(OperationFailed, match="vulnerability scan failed"):
        run()
    assert _tags(ec2, ami)["golden:tested"] == "false"
    assert _record(repo)["status"] == "scan-failed"


def test_skip_scan_publishes_and_says_plainly_that_no_scan_ran(aws_bake, repo):
    run, ec2, ami, _s3 = aws_bake
    record, progress = run(skip_scan=True)
    assert record["vulnerability_scan"] == {"ran": False, "reason": "--skip-scan"}
    assert "NO vulnerability scan ran (--skip-scan)" in progress
    assert "vulnerabilities: NOT scanned (--skip-scan)" in human_result(record)
    assert _tags(ec2, ami)["golden:tested"] == "true"


def test_golden_sbom_prints_the_sbom_an_ami_names(aws_bake, emulator, repo, tmp_path):
    run, _ec2, ami, _s3 = aws_bake
    emulator.scan_report([])
    record, _ = run()
    settings = tmp_path / "local.yaml"
    env = yaml.safe_load((Path(__file__).resolve().parents[2] / "autoscaling" / "environments"
                          / "local.yaml").read_text())  # fmt: skip
    env["aws"]["endpoint_url"] = emulator.url
    settings.write_text(yaml.safe_dump(env))
    runner = CliRunner()
    shown = runner.invoke(main, ["sbom", ami, "--env", str(settings)])
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.stdout) == json.loads((repo / record["sbom"]["file"]).read_text())
    saved = tmp_path / "sbom.json"
    summary = runner.invoke(main, ["sbom", ami, "--env", str(settings), "--output", str(saved),
                                   "--summary"])  # fmt: skip
    assert summary.exit_code == 0
    assert json.loads(summary.stdout.splitlines()[-1])["total"] == 2 and saved.is_file()


def test_an_ami_without_an_sbom_tag_is_named(emulator, aws_env, tmp_path):
    import boto3

    ec2 = boto3.client("ec2", region_name=REGION, endpoint_url=emulator.url)
    emulator.reset()
    ami = register_ami(ec2, "app", "0.0.1")
    from golden.bake import sboms

    with pytest.raises(OperationFailed, match="has no golden:sbom tag"):
        sboms.from_ami(ami, region=REGION, endpoint=emulator.url)
