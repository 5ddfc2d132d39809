"""Amazon Inspector Scan's ScanSbom, which moto does not have, as a test control that
answers a recorded report (Inspector API reference, ScanSbom; REST-JSON,
POST /scan/sbom, body {"sbom": <CycloneDX 1.5 JSON>, "outputFormat": ...}, answer
{"sbom": <the vulnerability report>}).

Checked as AWS documents it (ValidationException, HTTP 400): `sbom` is required; it "must
be in CycloneDX 1.5 format" (specVersion "1.5"); "This format limits you to passing 2000
components"; outputFormat is CYCLONE_DX_1_5 or INSPECTOR.

The report: a CycloneDX 1.5 document with the request's components, the recorded
vulnerabilities whose `affects` refs name one of those components (a finding for a
component the SBOM does not hold is not "discovered in that SBOM"), and the
amazon:inspector:sbom_scanner:{critical,high,medium,low}_vulnerabilities counts
(Inspector's CycloneDX namespace) as metadata properties, counted by each
vulnerability's highest rating.

    POST /moto-api/golden/inspector-scan {"vulnerabilities": [...CycloneDX entries...]}

records the vulnerabilities (GET shows them, POST .../inspector-scan/clear and
/moto-api/reset forget them). Not modelled: vulnerability data itself (nothing is looked
up: without a recorded report, ScanSbom answers InternalServerException naming this
control), the INSPECTOR output format (ValidationException here), throttling, IAM.
"""

from __future__ import annotations

import copy
import json
import threading

MAX_COMPONENTS = 2000
FORMATS = ("CYCLONE_DX_1_5", "INSPECTOR")
_COUNT = "amazon:inspector:sbom_scanner:{}_vulnerabilities"
_RANK = {"low": 1, "medium": 2, "high": 3, "critical": 4}
_lock = threading.Lock()
_recorded: list[dict] | None = None


class ScanError(Exception):
    """An error ScanSbom answers: HTTP status, AWS error code, message."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def record(payload: dict) -> dict:
    """The control: the vulnerabilities the next ScanSbom calls report."""
    vulnerabilities = payload.get("vulnerabilities")
    if not isinstance(vulnerabilities, list):
        raise ValueError('give {"vulnerabilities": [CycloneDX vulnerability, ...]}')
    global _recorded
    with _lock:
        _recorded = copy.deepcopy(vulnerabilities)
    return {"vulnerabilities": len(vulnerabilities)}


def recorded() -> dict:
    with _lock:
        return {"vulnerabilities": copy.deepcopy(_recorded)}


def clear() -> None:
    global _recorded
    with _lock:
        _recorded = None


def _severity(vulnerability: dict) -> str | None:
    ratings = [str(r.get("severity", "")).lower() for r in vulnerability.get("ratings") or []]
    known = [s for s in ratings if s in _RANK]
    return max(known, key=_RANK.get, default=None)


def scan(body: bytes) -> dict:
    """The answer to one ScanSbom request body; raises ScanError as AWS would."""
    try:
        request = json.loads(body or b"{}")
    except ValueError:
        raise ScanError(400, "ValidationException", "The request body is not JSON") from None
    sbom = request.get("sbom")
    if not isinstance(sbom, dict):
        raise ScanError(400, "ValidationException", "sbom is required")
    output = request.get("outputFormat") or "CYCLONE_DX_1_5"
    if output not in FORMATS:
        raise ScanError(400, "ValidationException", f"outputFormat must be one of {FORMATS}")
    if output != "CYCLONE_DX_1_5":
        raise ScanError(400, "ValidationException",
                        "the emulator models only the CYCLONE_DX_1_5 output format")  # fmt: skip
    if sbom.get("bomFormat") != "CycloneDX" or sbom.get("specVersion") != "1.5":
        raise ScanError(400, "ValidationException", "The SBOM must be in CycloneDX 1.5 format")
    components = sbom.get("components") or []
    if len(components) > MAX_COMPONENTS:
        raise ScanError(400, "ValidationException",
                        f"{len(components)} components: at most {MAX_COMPONENTS}")  # fmt: skip
    with _lock:
        vulnerabilities = copy.deepcopy(_recorded)
    if vulnerabilities is None:
        raise ScanError(500, "InternalServerException", "the emulator has no recorded ScanSbom "
                        "report: POST /moto-api/golden/inspector-scan records one")  # fmt: skip
    refs = {c.get("bom-ref") for c in components}
    found = [v for v in vulnerabilities
             if any(a.get("ref") in refs for a in v.get("affects") or [])]  # fmt: skip
    counts = {level: 0 for level in _RANK}
    for vulnerability in found:
        level = _severity(vulnerability)
        if level:
            counts[level] += 1
    report = {
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "version": 1,
        "metadata": {"properties": [{"name": _COUNT.format(level), "value": str(n)}
                                    for level, n in sorted(counts.items())]},  # fmt: skip
        "components": components,
        "vulnerabilities": found,
    }
    return {"sbom": report}


def respond(body: bytes) -> tuple[str, list[tuple[str, str]], bytes]:
    """(HTTP status line, headers, body) of a REST-JSON answer to ``body``."""
    try:
        status, data, headers = "200 OK", scan(body), []
    except ScanError as exc:
        reason = {400: "Bad Request", 500: "Internal Server Error"}.get(exc.status, "Error")
        status, data = f"{exc.status} {reason}", {"message": exc.message}
        headers = [("x-amzn-ErrorType", exc.code)]
    payload = json.dumps(data).encode()
    headers += [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))]
    return status, headers, payload
