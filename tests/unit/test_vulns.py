"""The vulnerability gate's decisions (golden.bake.vulns) and the reviewed settings file
(autoscaling.supplychain), over small literals."""

from __future__ import annotations

import datetime as dt

import pytest
from golden.bake import vulns
from golden.core.errors import ConfigError

from autoscaling import supplychain

TODAY = dt.date(2026, 11, 30)


def _report(*vulnerabilities) -> dict:
    return {"components": [{"bom-ref": "a", "name": "openssl", "version": "3.0"},
                           {"bom-ref": "b", "name": "zlib", "version": "1.2"}],
            "vulnerabilities": list(vulnerabilities)}  # fmt: skip


def _vuln(vid, *severities, refs=("a",)) -> dict:
    return {"id": vid, "ratings": [{"severity": s} for s in severities],
            "affects": [{"ref": r} for r in refs]}  # fmt: skip


def _exception(vid, expires, component=None):
    return supplychain.AcceptedFinding(vid, component, "accepted for the test", "me", expires)


def test_the_highest_rating_of_any_source_counts():
    (finding,) = vulns.findings(_report(_vuln("CVE-1", "medium", "critical", "low")))
    assert finding.severity == "critical" and finding.component == "openssl"
    assert vulns.findings(_report(_vuln("CVE-2")))[0].severity == "unknown"


def test_one_finding_per_affected_component_most_severe_first():
    found = vulns.findings(_report(_vuln("CVE-1", "low", refs=("a", "b")),
                                   _vuln("CVE-2", "high")))  # fmt: skip
    assert [(f.id, f.component) for f in found] == [("CVE-2", "openssl"), ("CVE-1", "openssl"),
                                                    ("CVE-1", "zlib")]  # fmt: skip


@pytest.mark.parametrize(
    ("threshold", "failing"),
    [("critical", ["CVE-C"]), ("high", ["CVE-C", "CVE-H"]), ("low", ["CVE-C", "CVE-H", "CVE-L"])],
)
def test_findings_at_or_above_the_threshold_fail(threshold, failing):
    found = vulns.findings(_report(_vuln("CVE-C", "critical"), _vuln("CVE-H", "high"),
                                   _vuln("CVE-L", "low"), _vuln("CVE-N", "none")))  # fmt: skip
    verdict = vulns.judge(found, threshold, [], TODAY)
    assert [f.id for f in verdict.failing] == failing
    assert verdict.passed is False


def test_an_exception_applies_to_its_id_and_component_until_its_expiry_date():
    found = vulns.findings(_report(_vuln("CVE-1", "critical", refs=("a", "b"))))
    only_openssl = vulns.judge(found, "critical", [_exception("CVE-1", TODAY + dt.timedelta(1),
                                                              "openssl")], TODAY)  # fmt: skip
    assert [f.component for f in only_openssl.failing] == ["zlib"]
    assert [f.component for f, _ in only_openssl.accepted] == ["openssl"]
    everywhere = vulns.judge(found, "critical", [_exception("CVE-1", TODAY + dt.timedelta(1))],
                             TODAY)  # fmt: skip
    assert everywhere.passed
    expired = vulns.judge(found, "critical", [_exception("CVE-1", TODAY)], TODAY)
    assert len(expired.failing) == 2 and [e.id for e in expired.expired] == ["CVE-1"]
    assert "expired on 2026-11-30 and no longer applies" in vulns.table(expired)


def test_an_unknown_threshold_is_refused():
    with pytest.raises(ConfigError, match="--fail-on 'severe'"):
        vulns.judge([], "severe", [], TODAY)


def test_scan_refuses_what_scansbom_would_refuse_before_calling_aws():
    with pytest.raises(ConfigError, match="CycloneDX 1.5"):
        vulns.scan({"specVersion": "1.6", "components": []}, region="us-east-1", endpoint=None)
    too_many = {"specVersion": "1.5", "components": [{}] * 2001}
    with pytest.raises(ConfigError, match="at most 2000"):
        vulns.scan(too_many, region="us-east-1", endpoint=None)


def _settings(**vulnerabilities) -> dict:
    return {"schema": 1, "vulnerabilities": {"fail_on": "critical", **vulnerabilities},
            "amis": {"deprecate_after_days": 90, "disabled_grace_days": 14}}  # fmt: skip


def test_the_shipped_settings_load():
    loaded = supplychain.load()
    assert loaded.fail_on == "critical" and loaded.deprecate_after_days == 90
    assert loaded.disabled_grace_days == 14 and loaded.exceptions == ()


@pytest.mark.parametrize(
    ("vulnerabilities", "message"),
    [
        ({"fail_on": "severe"},
         "vulnerabilities.fail_on: expected one of critical, high, medium, low, got 'severe'"),
        ({"exceptions": [{"id": "CVE-1", "reason": "because it is fine", "approved_by": "me"}]},
         "vulnerabilities.exceptions[0].expires: missing"),
        ({"exceptions": [{"id": "CVE-1", "reason": "because it is fine", "approved_by": "me",
                          "expires": "2026-02-30"}]},
         "vulnerabilities.exceptions[0].expires: '2026-02-30' is not a date"),
        ({"exceptions": [{"id": "CVE-1", "reason": "ok", "approved_by": "me",
                          "expires": "2027-01-01"}]},
         "vulnerabilities.exceptions[0].reason"),
    ],
)  # fmt: skip
def test_a_bad_settings_file_names_the_key(vulnerabilities, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        supplychain.parse(_settings(**vulnerabilities), "supply-chain.yaml")


def test_a_yaml_date_is_read_as_the_date_it_says():
    entry = {"id": "CVE-1", "reason": "because it is fine", "approved_by": "me",
             "expires": dt.date(2027, 1, 31)}  # fmt: skip
    data = _settings(exceptions=[entry])
    (accepted,) = supplychain.parse(data, "x").exceptions
    assert accepted.expires == dt.date(2027, 1, 31)
