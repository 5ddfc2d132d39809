"""`golden audit`'s reading of the tools' output and its table (golden.audit.reports):
realistic outputs of a hardened image and of the image issue 13 started from."""

from __future__ import annotations

import pytest
from audit_support import (
    HEADERS_GOOD,
    LYNIS_BAD,
    packages_json,
    ssh_audit_report,
    stdout,
)
from golden.audit import reports
from golden.core.errors import OperationFailed


def table(**kw) -> tuple[dict[str, dict], dict]:
    gixy = kw.pop("gixy", "[]")
    found = reports.sections(stdout(**kw))
    summary = reports.summarize(found, gixy)
    return {row["check"]: row for row in reports.rows(summary)}, summary


def test_a_hardened_image_meets_every_target():
    rows, summary = table()
    assert [c for c, r in rows.items() if r["status"] == "MISSED"] == []
    assert rows["lynis hardening index"]["result"] == 83
    assert rows["ssh-audit failures"]["result"] == 0
    assert rows["ssh-audit warnings"] == {"check": "ssh-audit warnings", "result": 1,
                                          "target": "(information)", "status": "-"}
    assert rows["security headers missing"]["result"] == "none"
    assert summary["ssh_audit"]["software"] == "OpenSSH_9.2p1"


def test_the_starting_image_misses_what_issue_13_found():
    rows, summary = table(lynis=LYNIS_BAD, ssh=ssh_audit_report(hardened=False),
                          headers=HEADERS_GOOD.replace("Content-Security-Policy", "X-CSP"),
                          packages=packages_json(["openssl", "libexpat1"]))  # fmt: skip
    assert reports.missed(list(rows.values())) == [
        "lynis hardening index", "lynis warnings", "ssh-audit failures",
        "security headers missing", "security updates pending at bake"]  # fmt: skip
    failures = summary["ssh_audit"]["failures"]
    assert any(f.startswith("kex ecdh-sha2-nistp256: using elliptic curves") for f in failures)
    assert "mac hmac-sha1: using broken SHA-1 hash algorithm" in failures
    # A critical recommendation of an algorithm already failing is not counted twice.
    assert len(failures) == 3
    assert "mac umac-64-etm@openssh.com: using small 64-bit tag size" in (
        summary["ssh_audit"]["warnings"])
    assert summary["lynis"]["warnings"] == ["PKGS-7392: Found one or more vulnerable packages."]
    assert rows["security headers missing"]["result"] == "content-security-policy"


def test_gixy_findings_are_read_with_severity_and_place():
    finding = ('[{"plugin": "if_is_evil", "severity": "HIGH", "file": "/etc/nginx/conf.d/x.conf",'
               ' "line": 48, "reason": "Directive \\"add_header\\" is not safe to use in'
               ' \\"if in location\\" context", "summary": "If is Evil"}]')
    rows, summary = table(gixy=finding)
    assert rows["gixy findings"]["status"] == "MISSED"
    assert summary["gixy"]["findings"] == [
        'HIGH if_is_evil: Directive "add_header" is not safe to use in "if in location" '
        "context (/etc/nginx/conf.d/x.conf:48)"]


def test_an_index_below_the_chosen_minimum_misses():
    summary = reports.summarize(reports.sections(stdout()), "[]")
    strict = {r["check"]: r for r in reports.rows(summary, reports.Targets(90))}
    assert strict["lynis hardening index"]["status"] == "MISSED"
    assert strict["lynis hardening index"]["target"] == ">= 90"


def test_no_result_from_a_tool_is_a_miss_not_a_pass():
    rows, _ = table(lynis="lynis_version=3.0.8\n", ssh="[exception] cannot connect")
    assert rows["lynis hardening index"]["result"] == "no result"
    assert rows["lynis hardening index"]["status"] == "MISSED"
    assert rows["lynis warnings"]["status"] == "MISSED"
    assert rows["ssh-audit failures"]["status"] == "MISSED"
    assert "no ssh-audit report" in rows["ssh-audit failures"]["result"]


def test_an_image_without_a_package_record_misses_the_update_check():
    rows, _ = table(packages="")
    assert rows["security updates pending at bake"]["status"] == "MISSED"
    assert "no /etc/golden/packages.json" in rows["security updates pending at bake"]["result"]


def test_headers_are_checked_on_the_app_role_only():
    rows, _ = table(image='{"role": "chroma"}', headers="")
    assert rows["security headers missing"] == {
        "check": "security headers missing", "result": "n/a (role chroma)", "target": "none",
        "status": "-"}  # fmt: skip


def test_cut_output_is_refused():
    with pytest.raises(OperationFailed, match="no end marker"):
        reports.sections(stdout(end=False))


def test_details_list_everything_behind_the_table():
    _, summary = table(lynis=LYNIS_BAD, ssh=ssh_audit_report(hardened=False))
    kinds = {(d["tool"], d["kind"]) for d in reports.details(summary)}
    assert {("lynis", "warning"), ("lynis", "suggestion"), ("ssh-audit", "failure"),
            ("ssh-audit", "warning")} <= kinds
