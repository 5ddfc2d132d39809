"""What the audit tools said, read into plain data, and the table `golden audit` prints.

Pure functions over the text the target printed: the remote script (remote.py) wraps each
tool's output in a section; `sections` splits them, the `*_summary` functions read one
tool each, `rows` turns the summaries into the table against the targets of issue 13
(lynis hardening index, no lynis warning, no ssh-audit failure, no gixy finding, every
security header, no security update pending at bake)."""

from __future__ import annotations

import base64
import gzip
import json
import re
from dataclasses import dataclass

from golden.core.errors import OperationFailed

MARK = "==golden-audit:"
END = f"{MARK}end=="
# Sent by nginx on every answer of the app role (salt/nginx/files/golden.conf.j2).
REQUIRED_HEADERS = (
    "content-security-policy", "cross-origin-opener-policy", "cross-origin-resource-policy",
    "x-content-type-options", "x-frame-options", "referrer-policy", "permissions-policy",
    "strict-transport-security",
)  # fmt: skip


@dataclass(frozen=True)
class Targets:
    """What passes (issue 13's targets): a lynis hardening index of at least
    ``min_hardening_index`` (0-100) and none of the rest."""

    min_hardening_index: int = 80


def sections(stdout: str) -> dict[str, str]:
    """The sections of the remote script's output, decoded: name -> text. Each section is
    ``==golden-audit:NAME==`` then one line of base64 of gzip. OperationFailed when the
    end marker is missing (the output was cut: SSM keeps 24,000 characters)."""
    if END not in stdout:
        raise OperationFailed(
            "the audit's output has no end marker: it was cut short or the script stopped "
            f"(last lines: {stdout.strip().splitlines()[-3:]!r})"
        )
    found: dict[str, str] = {}
    for match in re.finditer(rf"^{re.escape(MARK)}([a-z-]+)==\n([^\n]*)$", stdout, re.M):
        name, payload = match.group(1), match.group(2).strip()
        if name == "end":
            continue
        try:
            found[name] = gzip.decompress(base64.b64decode(payload)).decode(errors="replace")
        except (ValueError, OSError, EOFError):
            found[name] = ""
    return found


def lynis_summary(report: str) -> dict:
    """lynis's report file (key=value lines): hardening_index (0-100, None when lynis did
    not finish), warnings and suggestions as "ID: text"."""
    index = None
    warnings, suggestions = [], []
    for line in report.splitlines():
        key, _, value = line.partition("=")
        if key == "hardening_index" and value.strip().isdigit():
            index = int(value.strip())
        elif key in ("warning[]", "suggestion[]"):
            parts = value.split("|")
            text = f"{parts[0]}: {parts[1]}" if len(parts) > 1 else value
            (warnings if key == "warning[]" else suggestions).append(text)
    return {"hardening_index": index, "warnings": warnings, "suggestions": suggestions}


def ssh_audit_summary(text: str) -> dict:
    """ssh-audit's JSON (-j): failures (algorithms with a "fail" note, and critical
    recommendations) and warnings, each "KIND ALGORITHM: note". ``error`` when there is
    no report (sshd not reachable, no JSON)."""
    try:
        report = json.loads(text.strip().splitlines()[0]) if text.strip() else None
    except ValueError:
        report = None
    if not isinstance(report, dict) or not report.get("kex"):
        return {"error": f"no ssh-audit report ({text.strip()[:200]!r})", "failures": [],
                "warnings": []}
    failures, warnings = [], []
    for kind in ("kex", "key", "enc", "mac"):
        for entry in report.get(kind, []):
            notes = entry.get("notes") or {}
            failures += [f"{kind} {entry['algorithm']}: {note}" for note in notes.get("fail", [])]
            warnings += [f"{kind} {entry['algorithm']}: {note}" for note in notes.get("warn", [])]
    for action, kinds in (report.get("recommendations") or {}).get("critical", {}).items():
        for kind, names in kinds.items():
            for name in names:
                line = f"{kind} {name['name']}: recommended to {action}"
                if not any(f.startswith(f"{kind} {name['name']}:") for f in failures):
                    failures.append(line)
    return {"failures": failures, "warnings": warnings,
            "software": (report.get("banner") or {}).get("software")}


def gixy_summary(text: str) -> dict:
    """gixy's JSON (-f json): findings as "SEVERITY plugin: reason (file:line)"."""
    try:
        found = json.loads(text) if text.strip() else None
    except ValueError:
        found = None
    if not isinstance(found, list):
        return {"error": f"no gixy report ({text.strip()[:200]!r})", "findings": []}
    return {"findings": [
        f"{f.get('severity')} {f.get('plugin')}: {f.get('reason') or f.get('summary')} "
        f"({f.get('file')}:{f.get('line')})" for f in found]}


def headers_summary(text: str) -> dict:
    """The response headers nginx sent for / (curl -D): which required ones are missing."""
    names = {line.split(":", 1)[0].strip().lower() for line in text.splitlines() if ":" in line}
    return {"status": text.splitlines()[0].strip() if text.strip() else None,
            "missing": [h for h in REQUIRED_HEADERS if h not in names]}


def packages_summary(text: str) -> dict:
    """The image's package record (/etc/golden/packages.json): security updates still
    pending when it was baked. ``error`` when the image has no record."""
    try:
        record = json.loads(text)
    except ValueError:
        return {"error": "no /etc/golden/packages.json (an image baked before it existed?)",
                "pending_security": []}
    return {"pending_security": list(record.get("pending_security", [])),
            "recorded_at": record.get("recorded_at"), "count": record.get("count")}


def summarize(found: dict[str, str], gixy_json: str | None) -> dict:
    """Every tool's summary from the decoded sections and gixy's output (None: no nginx
    on the target)."""
    image = {}
    try:
        image = json.loads(found.get("image") or "{}")
    except ValueError:
        pass
    role = image.get("role")
    return {
        "role": role,
        "image": {k: image.get(k) for k in ("role", "version", "git_revision", "build_time")},
        "lynis": lynis_summary(found.get("lynis", "")),
        "ssh_audit": ssh_audit_summary(found.get("ssh-audit", "")),
        "gixy": gixy_summary(gixy_json) if gixy_json is not None else None,
        "headers": headers_summary(found.get("headers", "")) if role == "app" else None,
        "packages": packages_summary(found.get("packages", "")),
    }


def _row(check: str, result, target: str, ok: bool | None) -> dict:
    status = "-" if ok is None else ("ok" if ok else "MISSED")
    return {"check": check, "result": result, "target": target, "status": status}


def rows(summary: dict, targets: Targets = Targets()) -> list[dict]:
    """The table: one row per check, status "ok", "MISSED" or "-" (informational)."""
    lynis, ssh, gixy = summary["lynis"], summary["ssh_audit"], summary["gixy"]
    index = lynis["hardening_index"]
    table = [
        _row("lynis hardening index", index if index is not None else "no result",
             f">= {targets.min_hardening_index}",
             index is not None and index >= targets.min_hardening_index),
        _row("lynis warnings", len(lynis["warnings"]), "0", index is not None
             and not lynis["warnings"]),
        _row("lynis suggestions", len(lynis["suggestions"]), "(information)", None),
    ]
    if ssh.get("error"):
        table.append(_row("ssh-audit failures", ssh["error"], "0", False))
    else:
        table.append(_row("ssh-audit failures", len(ssh["failures"]), "0", not ssh["failures"]))
        table.append(_row("ssh-audit warnings", len(ssh["warnings"]), "(information)", None))
    if gixy is None:
        table.append(_row("gixy findings", "no nginx", "0", None))
    elif gixy.get("error"):
        table.append(_row("gixy findings", gixy["error"], "0", False))
    else:
        table.append(_row("gixy findings", len(gixy["findings"]), "0", not gixy["findings"]))
    headers = summary["headers"]
    if headers is None:
        table.append(_row("security headers missing", f"n/a (role {summary['role']})", "none",
                          None))
    else:
        table.append(_row("security headers missing", ", ".join(headers["missing"]) or "none",
                          "none", not headers["missing"]))
    packages = summary["packages"]
    if packages.get("error"):
        table.append(_row("security updates pending at bake", packages["error"], "0", False))
    else:
        pending = packages["pending_security"]
        table.append(_row("security updates pending at bake", len(pending), "0", not pending))
    return table


def missed(table: list[dict]) -> list[str]:
    """The checks whose target was missed."""
    return [row["check"] for row in table if row["status"] == "MISSED"]


def details(summary: dict) -> list[dict]:
    """Every warning, failure and finding behind the table, one row each."""
    out = []
    for source, key, items in (
        ("lynis", "warning", summary["lynis"]["warnings"]),
        ("lynis", "suggestion", summary["lynis"]["suggestions"]),
        ("ssh-audit", "failure", summary["ssh_audit"]["failures"]),
        ("ssh-audit", "warning", summary["ssh_audit"]["warnings"]),
        ("gixy", "finding", (summary["gixy"] or {}).get("findings", [])),
        ("packages", "pending security update", summary["packages"]["pending_security"]),
    ):
        out += [{"tool": source, "kind": key, "detail": item} for item in items]
    return out
