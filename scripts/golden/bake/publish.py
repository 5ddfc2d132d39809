"""What a bake does with the image's SBOM between the in-bake tests and marking the image
tested: read it (downloaded beside the build record), send it through the vulnerability
gate (AWS: Amazon Inspector ScanSbom, golden.bake.vulns; offline: say plainly that no
scan ran), upload it to the artifacts bucket (its s3:// address becomes the AMI's
golden:sbom tag).

Each function returns the build record's entry for its step; OperationFailed stops the
bake before anything is marked tested."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path

from botocore.exceptions import BotoCoreError, ClientError

from autoscaling.supplychain import SupplyChain
from golden.bake import vulns
from golden.core import locks, sbom
from golden.core.errors import ConfigError, OperationFailed

SBOM_KEY = "sboms/{role}/{name}.cdx.json"


def read_sbom(path: Path) -> dict | None:
    """The SBOM the bake downloaded; None when the image wrote none."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def sbom_entry(doc: dict | None, path: Path) -> dict | None:
    """The build record's `sbom`: file, size, sha256, spec version and the component
    counts by kind (golden.core.sbom.counts); None without a document."""
    if doc is None:
        return None
    return {
        "file": str(path),
        "bytes": Path(path).stat().st_size,
        "sha256": locks.file_digest(path),
        "spec_version": doc.get("specVersion"),
        "components": sbom.counts(doc),
    }


def not_scanned(reason: str, say: Callable[[str], None]) -> dict:
    """The record of a bake whose image was not scanned, said plainly: never "clean"."""
    say(f"NO vulnerability scan ran ({reason}): nothing is known about this image's "
        "vulnerabilities")  # fmt: skip
    return {"ran": False, "reason": reason}


def gate(
    doc: dict | None,
    *,
    policy: SupplyChain,
    threshold: str | None,
    region: str,
    endpoint: str | None,
    report_path: Path,
    today: dt.date,
    say: Callable[[str], None],
) -> dict:
    """Scan ``doc`` with ScanSbom and judge the findings against ``threshold`` (None: the
    policy's fail_on) and the policy's exceptions on ``today``. The report goes to
    ``report_path``. Returns the record's `vulnerability_scan`; raises OperationFailed
    (record entry attached as ``.scan``) when the scan cannot run or a finding fails."""
    threshold = threshold or policy.fail_on
    if doc is None:
        raise OperationFailed(
            "the image's SBOM (/etc/golden/sbom.cdx.json) was not downloaded: it cannot be "
            "scanned, so it is NOT marked tested"
        )
    say(f"vulnerability scan: Amazon Inspector ScanSbom ({len(doc.get('components') or [])} "
        f"components), failing at {threshold} and above")  # fmt: skip
    try:
        report = vulns.scan(doc, region=region, endpoint=endpoint)
    except ConfigError as exc:
        raise OperationFailed(f"vulnerability scan refused: {exc}") from None
    except (ClientError, BotoCoreError) as exc:
        raise OperationFailed(f"vulnerability scan failed (ScanSbom: {exc}); the image is "
                              "NOT marked tested") from None  # fmt: skip
    report_path.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    verdict = vulns.judge(vulns.findings(report), threshold, policy.exceptions, today)
    entry = {"ran": True, "service": "inspector-scan ScanSbom", "report": str(report_path),
             "exceptions_file": policy.source, **verdict.summary()}  # fmt: skip
    shown = vulns.table(verdict) if verdict.failing or verdict.accepted else ""
    if not verdict.passed:
        failed = OperationFailed(
            f"vulnerability gate: {len(verdict.failing)} finding(s) at {threshold} or above "
            f"that no exception in {policy.source} accepts; the image is NOT marked tested\n"
            + shown
        )
        failed.scan = entry
        raise failed
    if shown:
        say(f"vulnerability scan: every finding at {threshold} or above is accepted by an "
            f"exception:\n{shown}")  # fmt: skip
    else:
        say(f"vulnerability scan: no finding at {threshold} or above")
        for note in vulns.expired_notes(verdict):
            say(note)
    return entry


def upload_sbom(
    path: Path, *, bucket: str | None, role: str, name: str, region: str, endpoint: str | None,
    say: Callable[[str], None],
) -> str | None:  # fmt: skip
    """Put the SBOM at s3://BUCKET/sboms/ROLE/NAME.cdx.json; returns that address (the
    AMI's golden:sbom tag), or None without a bucket (said plainly). OperationFailed
    when S3 refuses."""
    from golden.core import awsclient

    if not bucket:
        say("SBOM kept beside the build record only: no artifacts bucket "
            "(--artifacts-bucket or GOLDEN_ARTIFACTS_BUCKET), so the AMI gets no "
            "golden:sbom tag")  # fmt: skip
        return None
    key = SBOM_KEY.format(role=role, name=name)
    client = awsclient.client("s3", region=region, endpoint=endpoint)
    try:
        client.put_object(Bucket=bucket, Key=key, Body=Path(path).read_bytes(),
                          ContentType="application/vnd.cyclonedx+json")  # fmt: skip
    except (ClientError, BotoCoreError) as exc:
        raise OperationFailed(f"SBOM upload to s3://{bucket}/{key} failed: {exc}; the image "
                              "is NOT marked tested") from None  # fmt: skip
    say(f"SBOM uploaded to s3://{bucket}/{key}")
    return f"s3://{bucket}/{key}"
