"""The vulnerability gate of an AWS bake: the image's SBOM goes to Amazon Inspector's
ScanSbom (boto3 `inspector-scan`, outputFormat CYCLONE_DX_1_5) before the AMI is marked
tested; findings at or above the failing severity that no unexpired exception accepts
fail the bake, with a table.

ScanSbom (Inspector API reference): "Scans a provided CycloneDX 1.5 SBOM and reports on
any vulnerabilities discovered in that SBOM"; the SBOM is limited to 2000 components
(ValidationException beyond). The report is a CycloneDX document whose `vulnerabilities`
each carry `id`, `ratings` (one per source: NVD, the vendor, ...; each with a `severity`)
and `affects` (the `bom-ref`s of the components). Inspector reports NVD and CVSS scores
side by side and leaves the choice to the reader: golden takes the HIGHEST severity any
rating gives (the conservative reading).

Pure: `findings`, `judge`, `table`. Effect: `scan` (one boto3 call)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field

from autoscaling.supplychain import SEVERITIES, AcceptedFinding
from golden.core import sbom
from golden.core.errors import ConfigError

# CycloneDX 1.5 severities, lowest first; none/info/unknown never fail a bake.
RANK = {"none": 0, "info": 0, "unknown": 0, "low": 1, "medium": 2, "high": 3, "critical": 4}
FIXED_VERSION = "amazon:inspector:sbom_scanner:fixed_version:"


@dataclass(frozen=True)
class Finding:
    """One vulnerability in one component: its id, severity (highest of its ratings), the
    component's name and version, and the fixed version when the scanner knows it."""

    id: str
    severity: str
    component: str
    version: str
    fixed: str | None = None


@dataclass
class Verdict:
    """What the gate decided: findings that fail the bake, those an exception accepts,
    those below the threshold, and the exceptions that have expired (no longer apply)."""

    threshold: str
    failing: list[Finding] = field(default_factory=list)
    accepted: list[tuple[Finding, AcceptedFinding]] = field(default_factory=list)
    below: list[Finding] = field(default_factory=list)
    expired: list[AcceptedFinding] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failing

    def summary(self) -> dict:
        """The build record's `vulnerability_scan` (without `ran`/`reason`)."""
        counts: dict[str, int] = {}
        for finding in self.failing + self.below + [f for f, _ in self.accepted]:
            counts[finding.severity] = counts.get(finding.severity, 0) + 1
        return {
            "threshold": self.threshold,
            "passed": self.passed,
            "counts": dict(sorted(counts.items(), key=lambda kv: -RANK.get(kv[0], 0))),
            "failing": [f.__dict__ for f in self.failing],
            "accepted": [{**f.__dict__, "exception_expires": e.expires.isoformat(),
                          "approved_by": e.approved_by} for f, e in self.accepted],  # fmt: skip
            "expired_exceptions": [
                {"id": e.id, "component": e.component, "expired": e.expires.isoformat()}
                for e in self.expired
            ],
        }


def severity_of(vulnerability: dict) -> str:
    """The highest severity among a vulnerability's ratings ("unknown" without any)."""
    ratings = vulnerability.get("ratings") or []
    severities = [str(r.get("severity", "unknown")).lower() for r in ratings]
    return max(severities, key=lambda s: RANK.get(s, 0), default="unknown")


def findings(report: dict) -> list[Finding]:
    """One Finding per (vulnerability, affected component) of a CycloneDX report, most
    severe first. An affected ref that names no component of the report is kept with
    the ref as the component's name."""
    components = {c.get("bom-ref"): c for c in report.get("components") or []}
    found = []
    for vulnerability in report.get("vulnerabilities") or []:
        severity = severity_of(vulnerability)
        fixes = {p["name"][len(FIXED_VERSION):]: p.get("value")
                 for p in vulnerability.get("properties") or []
                 if str(p.get("name", "")).startswith(FIXED_VERSION)}  # fmt: skip
        for affected in vulnerability.get("affects") or []:
            ref = affected.get("ref", "")
            component = components.get(ref, {})
            found.append(Finding(
                id=str(vulnerability.get("id", "?")), severity=severity,
                component=component.get("name", ref), version=component.get("version", ""),
                fixed=fixes.get(ref),
            ))  # fmt: skip
    return sorted(found, key=lambda f: (-RANK.get(f.severity, 0), f.id, f.component))


def judge(
    found: Iterable[Finding],
    threshold: str,
    exceptions: Iterable[AcceptedFinding],
    today: dt.date,
) -> Verdict:
    """Sort the findings: at or above ``threshold`` (low|medium|high|critical) they fail
    unless an exception with the same id (and, when it names one, the same component)
    applies on ``today`` (its expiry date is after today). Raises ConfigError for an
    unknown threshold."""
    if threshold not in SEVERITIES:
        raise ConfigError(f"--fail-on {threshold!r}: expected one of {', '.join(SEVERITIES)}")
    exceptions = list(exceptions)
    valid = [e for e in exceptions if e.expires > today]
    verdict = Verdict(threshold=threshold, expired=[e for e in exceptions if e.expires <= today])
    for finding in found:
        if RANK.get(finding.severity, 0) < RANK[threshold]:
            verdict.below.append(finding)
            continue
        match = next((e for e in valid if e.id == finding.id
                      and e.component in (None, finding.component)), None)  # fmt: skip
        if match:
            verdict.accepted.append((finding, match))
        else:
            verdict.failing.append(finding)
    return verdict


def table(verdict: Verdict) -> str:
    """The findings that fail the bake (and the accepted ones), one row each."""
    rows = [("severity", "id", "package", "version", "fixed in", "status")]
    rows += [(f.severity, f.id, f.component, f.version, f.fixed or "-", "FAILS")
             for f in verdict.failing]  # fmt: skip
    rows += [(f.severity, f.id, f.component, f.version, f.fixed or "-",
              f"accepted until {e.expires}") for f, e in verdict.accepted]  # fmt: skip
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=True)).rstrip()
             for row in rows]  # fmt: skip
    return "\n".join(lines + expired_notes(verdict))


def expired_notes(verdict: Verdict) -> list[str]:
    """One line per exception that has expired (it no longer applies)."""
    return [f"note: the exception for {e.id} ({e.component or 'any package'}) expired on "
            f"{e.expires} and no longer applies" for e in verdict.expired]  # fmt: skip


def scan(doc: dict, *, region: str, endpoint: str | None) -> dict:
    """ScanSbom of the CycloneDX 1.5 document ``doc`` (region, endpoint: None for AWS
    itself); returns the report (the response's `sbom`). Refuses a document that is not
    CycloneDX 1.5 or has more components than ScanSbom takes, before calling AWS."""
    from golden.core import awsclient

    if doc.get("specVersion") != sbom.SPEC_VERSION:
        raise ConfigError(f"SBOM: specVersion {doc.get('specVersion')!r}: ScanSbom takes "
                          f"CycloneDX {sbom.SPEC_VERSION}")  # fmt: skip
    count = len(doc.get("components") or [])
    if count > sbom.INSPECTOR_MAX_COMPONENTS:
        raise ConfigError(f"SBOM: {count} components; ScanSbom takes at most "
                          f"{sbom.INSPECTOR_MAX_COMPONENTS}")  # fmt: skip
    client = awsclient.client("inspector-scan", region=region, endpoint=endpoint)
    return client.scan_sbom(sbom=doc, outputFormat="CYCLONE_DX_1_5")["sbom"]
