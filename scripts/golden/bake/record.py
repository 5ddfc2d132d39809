"""The build record of a bake (build/bakes/<id>.json) and what a user reads of it.

The record is plain data: `running_record` when the bake starts, `dry_run_record` for
--dry-run, the artifacts and the test summary as the bake learns them, `finish_record`
at the end whatever happened; `write_record` is the one effect. `artifacts_from`,
`failure_summary`, `validate_text` and `human_result` turn Packer's output and the
record into what the record and the messages say."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from golden.bake import stream as packer_stream
from golden.bake.plan import Plan
from golden.bake.request import TARGETS
from golden.core import tags
from golden.core.errors import OperationFailed

# Tag keys are shared with the release engine (one spelling for both sides).
# golden:tested is only ever set by the bake (marking.py), after the in-bake tests passed;
# the template sets the provenance tags.
TAG_ROLE = tags.ROLE
TAG_TESTED = tags.TESTED
TAG_VERSION = tags.VERSION
TAG_GIT_REVISION = tags.GIT_REVISION
TAG_STATE_TREE_REVISION = tags.STATE_TREE_REVISION
TAG_BUILD_TIME = tags.BUILD_TIME
TAG_PACKER_VERSION = tags.PACKER_VERSION
TAG_APP_IMAGES = tags.APP_IMAGES
PROVENANCE_TAG_KEYS = tuple(key for key in tags.PROVENANCE if key != tags.TESTED)


def dry_run_record(plan: Plan) -> dict:
    """What --dry-run returns (and does not write): the variables, var files and staging
    entries a bake would use, and the Packer commands it would run."""
    request = plan.request
    return {
        "id": plan.ident,
        "status": "dry-run",
        "role": request.role,
        "target": request.target,
        "source": TARGETS[request.target],
        "packer": _packer_entry(plan),
        "variables": plan.variables,
        "var_files": [str(f) for f in request.var_files],
        "staging": {k: str(v) for k, v in plan.entries.items()},
        "base": plan.base,
        "would_run": [
            f"packer validate -only={plan.only} ...",
            f"packer build -machine-readable -only={plan.only} ...",
        ],
        "record": str(plan.record_path),
    }


def running_record(plan: Plan) -> dict:
    """The record of a bake that has started: status "running", not tested, the
    provenance known before Packer runs."""
    request = plan.request
    return {
        "id": plan.ident,
        "role": request.role,
        "target": request.target,
        "source": TARGETS[request.target],
        "status": "running",
        "started_at": plan.started_at.isoformat(),
        "packer": _packer_entry(plan),
        "provenance": {
            TAG_ROLE: request.role,
            TAG_GIT_REVISION: plan.repo_rev,
            TAG_STATE_TREE_REVISION: plan.state_rev,
            TAG_APP_IMAGES: plan.app_images,
            TAG_PACKER_VERSION: plan.packer.version,
            "app_image_refs": sorted(set(plan.refs)),
            "base": plan.base,
        },
        # What the image was built from: the lock files' digests and the wheelhouse
        # (its lock digest, the wheels built here, the golden wheel's sha256).
        "inputs": plan.inputs,
        "log": str(plan.log_path),
        "manifest": str(plan.manifest_path),
        "record_path": str(plan.record_path),
        "tests": None,
        "tested": False,
    }


def _packer_entry(plan: Plan) -> dict:
    return {"path": plan.packer.path, "version": plan.packer.version,
            "compat_rendering": plan.packer.compat}  # fmt: skip


def record_artifacts(record: dict, found: dict, custom: dict) -> None:
    """Where the image ended up (artifacts_from without its custom_data) and the
    provenance only Packer knew (``custom``: the template's manifest custom_data)."""
    record["artifacts"] = found
    record["provenance"].update(
        {
            TAG_VERSION: custom.get("version"),
            TAG_BUILD_TIME: custom.get("build_time"),
            "ami_name": custom.get("ami_name"),
        }
    )


def packages_entry(packages: dict | None, path: Path) -> dict | None:
    """The build record's `packages`: what the image carries, from its package record
    (/etc/golden/packages.json, downloaded to ``path``; None when there is none): count,
    packages per origin, pending updates and the names of pending security updates, the
    full list (name, version, arch, origin) and where the downloaded file is."""
    if not packages:
        return None
    origins: dict[str, int] = {}
    for package in packages.get("packages", []):
        origins[package.get("origin", "?")] = origins.get(package.get("origin", "?"), 0) + 1
    return {
        "file": str(path),
        "os": packages.get("os"),
        "recorded_at": packages.get("recorded_at"),
        "count": len(packages.get("packages", [])),
        "origins": dict(sorted(origins.items())),
        "pending_updates": len(packages.get("pending_updates", [])),
        "pending_security": list(packages.get("pending_security", [])),
        "installed": [
            {k: p.get(k) for k in ("name", "version", "arch", "origin")}
            for p in packages.get("packages", [])
        ],
    }


def finish_record(record: dict, finished_at: datetime, elapsed_seconds: float) -> None:
    """The end of a bake, whatever ended it: a bake still "running" here has failed."""
    record["finished_at"] = finished_at.isoformat()
    record["elapsed_seconds"] = round(elapsed_seconds, 1)
    if record["status"] == "running":
        record["status"] = "failed"


def write_record(record: dict, path: Path) -> None:
    """The record as JSON (sorted keys) at ``path`` (build/bakes/<id>.json)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")


def artifacts_from(
    target: str, stream_ids: Sequence[str], manifest: dict | None, run_uuid: str | None = None
) -> dict:
    """Where the image ended up, from the stream's artifact ids and (when present) the
    manifest's entry of this run. The two must agree when both are there."""
    ids = list(stream_ids)
    builds = (manifest or {}).get("builds", [])
    run = run_uuid or (manifest or {}).get("last_run_uuid")
    from_manifest = [b for b in builds if not run or b.get("packer_run_uuid") == run]
    manifest_ids = [b["artifact_id"] for b in from_manifest if b.get("artifact_id")]
    if not ids:
        ids = manifest_ids
    elif manifest_ids and sorted(set(ids)) != sorted(set(manifest_ids)):
        raise OperationFailed(
            f"artifact ids disagree: stream says {ids}, manifest says {manifest_ids}"
        )
    custom = from_manifest[-1].get("custom_data", {}) if from_manifest else {}
    if target == "aws":
        amis: dict[str, str] = {}
        for value in ids:
            amis.update(packer_stream.parse_amazon_artifact_id(value))
        return {"amis": amis, "custom_data": custom}
    return {"image_id": ids[-1] if ids else None, "custom_data": custom}


def failure_summary(summary: packer_stream.StreamSummary, *, lines: int = 20) -> str:
    """Why a Packer build failed, for the error message: the failing step, the reason, the
    last ``lines`` lines of output and, last (where a truncated log still shows it), each
    Salt state the highstate reported failed with its comment."""
    step = summary.failing_step or summary.last_step() or "(before the first step)"
    reason = next(iter(summary.build_errors.values()), None) or (
        summary.errors[-1] if summary.errors else "see the log"
    )
    tail = "\n".join(f"    {line}" for line in summary.output_tail[-lines:])
    text = f"failing step: {step}\nreason: {reason.strip()}\nlast lines of output:\n{tail}"
    failed = summary.failed_states()
    if failed:
        text += f"\nfailed Salt states ({len(failed)}):" + "".join(
            f"\n    {state.id} ({state.function}): {state.comment or '(no comment)'}"
            for state in failed
        )
    return text


def validate_text(output: Sequence[str]) -> str:
    """The readable text of `packer validate`'s machine-readable output lines."""
    texts = []
    for line in output:
        event = packer_stream.parse_line(line)
        text = event.text if isinstance(event, (packer_stream.Ui, packer_stream.Unparsed)) else ""
        if text.strip():
            texts.append(text.strip())
    return "\n".join(texts) or "(no output)"


def human_result(record: dict) -> str:
    """What `golden bake` prints for a record (without --json)."""
    if record.get("status") == "dry-run":
        lines = [f"dry run {record['id']}: packer validate passed; would run:"]
        lines += [f"  {cmd}" for cmd in record["would_run"]]
        lines += [f"  {k} = {v}" for k, v in sorted(record["variables"].items())]
        return "\n".join(lines)
    found = record.get("artifacts", {})
    where = (
        ", ".join(f"{r}: {a}" for r, a in sorted(found.get("amis", {}).items()))
        if "amis" in found
        else f"{found.get('image_id')} ({', '.join(record.get('tested_marks', []))})"
    )
    tests = record.get("tests") or {}
    base = (record.get("provenance") or {}).get("base")
    if base:
        where += f"\nfrom base: {base.get('image') or base.get('source_ami_filter')}"
    return (
        f"baked {record['role']} for {record['target']}: {where}\n"
        f"tests: passed={tests.get('passed')} failed={tests.get('failed')} "
        f"skipped={tests.get('skipped')}\n"
        + supply_chain_lines(record)
        + f"record: {record.get('record_path', '')}\nlog: {record['log']}"
    )


def supply_chain_lines(record: dict) -> str:
    """What the record says of the SBOM and the vulnerability scan, one line each (a
    bake without a scan says so: it never reads as clean)."""
    lines = []
    sbom = record.get("sbom")
    if sbom:
        where = record.get("sbom_url") or sbom["file"]
        lines.append(f"sbom: {sbom['components']['total']} components, {sbom['bytes']} bytes: "
                     f"{where}")  # fmt: skip
    scan = record.get("vulnerability_scan") or {}
    if scan.get("ran"):
        accepted = len(scan.get("accepted") or [])
        note = f"; {accepted} accepted by exception" if accepted else ""
        lines.append(
            f"vulnerabilities: scanned (ScanSbom), none failing at {scan['threshold']} or "
            f"above{note}"
        )
    elif scan:
        lines.append(f"vulnerabilities: NOT scanned ({scan.get('reason')})")
    return "".join(line + "\n" for line in lines)
