"""`golden bake`: bake a role's image with Packer, the same way for AWS and the local twin.

Flow (`bake`): check the request (request.py) -> preflight: Packer present and recent,
inputs exist, with --from-base the newest tested base image (preflight.py, frombase.py)
-> plan: id, variables, provenance (plan.py) -> stage the template and the inputs
(golden.bake.staging, shared with the twin build) -> `packer validate` -> `packer build
-machine-readable -only=SOURCE` with readable progress -> collect artifacts (stream +
manifest) and the in-bake test summary -> only when the tests passed, mark the image
tested (marking.py: AMI tag golden:tested=true, or a docker label and tag) -> write the
build record under build/bakes/ (record.py). --dry-run stops after `packer validate`.

Callers build a `BakeRequest` (request.py) and call `bake`."""

from __future__ import annotations

import dataclasses
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

from golden.bake import compat as packer_compat
from golden.bake import packer as packer_cli
from golden.bake import preflight, publish, staging
from golden.bake import stream as packer_stream
from golden.bake.marking import mark_ami_tested, mark_image_tested, tests_passed
from golden.bake.plan import Plan, plan_bake
from golden.bake.record import (
    artifacts_from,
    dry_run_record,
    failure_summary,
    finish_record,
    packages_entry,
    record_artifacts,
    running_record,
    validate_text,
    write_record,
)
from golden.bake.request import (
    BUILD_NAME,
    TARGETS,
    BakeRequest,
    Paths,
    check_request,
    packer_var_args,
)
from golden.core import tags
from golden.core.errors import OperationFailed


class Progress:
    """Readable progress on stderr: steps, provisioner output, elapsed time."""

    def __init__(self, started: float, out=None):
        self.started = started
        self.out = out or sys.stderr

    def say(self, text: str) -> None:
        print(f"[{time.monotonic() - self.started:6.0f}s] {text}", file=self.out, flush=True)

    def event(self, event: packer_stream.Event) -> None:
        if isinstance(event, packer_stream.Ui):
            _source, _text, is_step = packer_stream.split_ui(event.text)
            for index, line in enumerate(packer_stream.plain_lines(event.text)):
                if event.kind == "error":
                    self.say(f"ERROR {line}")
                elif is_step and index == 0:
                    self.say(f"==> {line}")
                else:
                    self.say(f"    | {line}")
        elif isinstance(event, packer_stream.Unparsed) and event.text.strip():
            self.say(f"    | {event.text}")


def bake(
    request: BakeRequest,
    *,
    repo: Path,
    progress_out=None,
    now: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
) -> dict:
    """Run one bake; returns the build record (also written to build/bakes/<id>.json).
    Raises OperationFailed (record written, log kept) when the bake or its tests fail."""
    started_at = now()
    progress = Progress(time.monotonic(), progress_out)
    paths = Paths.for_repo(Path(repo).resolve())
    request = check_request(request, paths)
    checked = preflight.run(request, paths, progress.say)  # nothing is written before it passes
    plan = plan_bake(request, paths, checked, started_at)
    if request.dry_run:
        return _dry_run(plan)

    plan.workdir.mkdir(parents=True, exist_ok=True)
    record = running_record(plan)
    try:
        source = TARGETS[request.target]
        progress.say(f"bake {plan.ident}: {source} with packer {plan.packer.version}")
        template_dir, args = _stage(plan, record, progress)
        _validate(plan, template_dir, args, record, progress)
        summary, stream_ids = _packer_build(plan, template_dir, args, record, progress)
        found, custom = _collect_artifacts(plan, stream_ids, record)
        record["packages"] = packages_entry(_read_json(plan.packages_path), plan.packages_path)
        doc = publish.read_sbom(plan.sbom_path)
        record["sbom"] = publish.sbom_entry(doc, plan.sbom_path)
        _check_tests(summary, record)
        record["vulnerability_scan"] = _scan(plan, doc, record, progress, now().date())
        _mark_tested(plan, summary, found, custom, record, progress, now())
        return record
    except KeyboardInterrupt:
        record.update(status="interrupted")
        raise
    except OperationFailed as exc:
        record.setdefault("error", str(exc))
        raise OperationFailed(
            f"{exc}\nfull log: {plan.log_path}\nbuild record: {plan.record_path}",
            exit_code=exc.exit_code,
        ) from None
    finally:
        _write_record(plan, record, now(), progress.started)


def _dry_run(plan: Plan) -> dict:
    """--dry-run: `packer validate` against an empty staging folder in a temporary
    folder; returns the dry-run record (nothing is written under build/). Raises
    OperationFailed when validation fails."""
    with tempfile.TemporaryDirectory(prefix="golden-bake-dry-") as tmp:
        template_dir = _template_dir(plan.paths, Path(tmp) / "template", plan.packer.compat)
        dry_stage = Path(tmp) / "stage"
        dry_stage.mkdir()
        plan.variables["staging_dir"] = str(dry_stage)
        args = [f"-only={plan.only}", *packer_var_args(plan.request.var_files, plan.variables)]
        result = packer_cli.validate(plan.packer.path, template_dir, args, cwd=plan.paths.template)
    if result.returncode != 0:
        raise OperationFailed("packer validate failed:\n" + validate_text(result.output))
    plan.variables["staging_dir"] = str(plan.stage_dir)
    return dry_run_record(plan)


def _stage(plan: Plan, record: dict, progress: Progress) -> tuple[Path, list[str]]:
    """The template Packer reads (the compatibility rendering under the work folder for
    Packer < 1.7) and the staging folder with the inputs and provenance.json; returns the
    template folder and Packer's arguments (-only, var files, -var flags)."""
    template_dir = _template_dir(plan.paths, plan.workdir / "template", plan.packer.compat)
    if plan.packer.compat:
        record["packer"]["dropped"] = sorted(
            packer_compat.DROPPED_BLOCKS + packer_compat.DROPPED_ATTRIBUTES
        )
        progress.say(
            f"packer {plan.packer.version}: building from the compatibility rendering (without "
            "required_plugins, metadata_options, imds_support)"
        )
    progress.say(f"staging inputs in {plan.stage_dir}")
    staging.lay_out(plan.entries, plan.stage_dir, plan.stage_provenance)
    plan.variables["staging_dir"] = str(plan.stage_dir)
    args = [f"-only={plan.only}", *packer_var_args(plan.request.var_files, plan.variables)]
    record["packer"]["args"] = args
    return template_dir, args


def _validate(
    plan: Plan, template_dir: Path, args: list[str], record: dict, progress: Progress
) -> None:
    """`packer validate`; on failure its output goes to the log and OperationFailed
    (record status "invalid") names what Packer said."""
    progress.say("packer validate")
    checked = packer_cli.validate(plan.packer.path, template_dir, args, cwd=plan.paths.template)
    if checked.returncode != 0:
        text = validate_text(checked.output)
        plan.log_path.write_text("\n".join(checked.output) + "\n", encoding="utf-8")
        record.update(status="invalid", error=text)
        raise OperationFailed(f"packer validate failed:\n{text}")


def _packer_build(
    plan: Plan, template_dir: Path, args: list[str], record: dict, progress: Progress
) -> tuple[packer_stream.StreamSummary, list[str]]:
    """`packer build -machine-readable`, every line logged and shown as progress. Ctrl-C
    and SIGTERM are forwarded to Packer (packer.build), which cleans up before it exits;
    the bake then fails with exit code 130 (record status "interrupted"). Returns the
    stream summary and the artifact ids of the target's source; raises OperationFailed
    when Packer failed or built nothing."""
    progress.say(f"packer build -only={plan.only} (log: {plan.log_path})")
    summary = packer_stream.StreamSummary()

    def on_line(line: str) -> None:
        event = packer_stream.parse_line(line)
        summary.feed(event)
        progress.event(event)

    def on_interrupt(_signum: int) -> None:
        progress.say("interrupt: asking Packer to stop and clean up (waiting for it)")

    result = packer_cli.build(
        plan.packer.path,
        template_dir,
        args,
        on_line=on_line,
        log_path=plan.log_path,
        cwd=plan.paths.template,
        on_interrupt=on_interrupt,
    )
    record["tests"] = summary.tests
    if result.interrupted:
        record.update(
            status="interrupted", failing_step=summary.failing_step or summary.last_step()
        )
        raise OperationFailed(
            f"bake interrupted; Packer cleaned up and exited {result.returncode}\n"
            + failure_summary(summary),
            exit_code=130,
        )
    source = TARGETS[plan.request.target]
    stream_ids = summary.artifact_ids(f"{BUILD_NAME}.{source}") or summary.artifact_ids(source)
    if result.returncode != 0 or not stream_ids:
        why = "" if result.returncode else " (exit 0 but no artifact: nothing was built)"
        record.update(
            status="failed",
            failing_step=summary.failing_step or summary.last_step(),
            error=next(iter(summary.build_errors.values()), None),
            failed_states=[dataclasses.asdict(state) for state in summary.failed_states()],
        )
        raise OperationFailed(f"packer build failed{why}\n" + failure_summary(summary))
    return summary, stream_ids


def _collect_artifacts(plan: Plan, stream_ids: list[str], record: dict) -> tuple[dict, dict]:
    """Where the image ended up, from the stream and the manifest Packer wrote (they must
    agree), into the record; returns the artifacts ({"amis": {region: ami}} or
    {"image_id": id}) and the manifest's custom_data."""
    manifest = _read_json(plan.manifest_path)
    found = artifacts_from(plan.request.target, stream_ids, manifest)
    custom = found.pop("custom_data")
    record_artifacts(record, found, custom)
    return found, custom


def _check_tests(summary: packer_stream.StreamSummary, record: dict) -> None:
    """The in-bake tests passed; otherwise OperationFailed, the image stays unmarked
    (record status "untested")."""
    if not tests_passed(summary.tests):
        record.update(status="untested")
        raise OperationFailed(
            "image built but the in-bake tests did not pass "
            f"(summary: {summary.tests or 'no golden-provision test summary line'}); "
            "it is NOT marked tested"
        )


def _scan(plan: Plan, doc: dict | None, record: dict, progress: Progress, today) -> dict:
    """The vulnerability gate before the image is marked tested (publish.gate); a local
    bake, or --skip-scan, says plainly that no scan ran. A failing gate leaves the image
    unmarked (record status "vulnerable", or "scan-failed" when the scan did not run)."""
    request = plan.request
    if request.skip_scan:
        reason = ("a local image: Amazon Inspector's ScanSbom is reached only on an AWS bake"
                  if request.target == "local" else "--skip-scan")  # fmt: skip
        return publish.not_scanned(reason, progress.say)
    try:
        return publish.gate(
            doc, policy=plan.checked.policy, threshold=request.fail_on,
            region=plan.checked.region, endpoint=plan.packer.endpoint,
            report_path=plan.scan_path, today=today, say=progress.say,
        )  # fmt: skip
    except OperationFailed as exc:
        scan = getattr(exc, "scan", None)
        record.update(status="vulnerable" if scan else "scan-failed",
                      vulnerability_scan=scan or {"ran": False, "reason": str(exc)})  # fmt: skip
        raise


def _mark_tested(
    plan: Plan,
    summary: packer_stream.StreamSummary,
    found: dict,
    custom: dict,
    record: dict,
    progress: Progress,
    now: datetime,
) -> None:
    """Mark the image tested (its tests passed and the gate let it through): every
    regional AMI gets golden:tested=true, golden:sbom (the SBOM uploaded to the artifacts
    bucket) and its deprecation time; a local image its tested commit and tags."""
    request = plan.request
    if request.target == "aws":
        name = custom.get("ami_name") or plan.ident
        sbom_url = publish.upload_sbom(
            plan.sbom_path, bucket=request.artifacts_bucket, role=request.role, name=name,
            region=plan.checked.region, endpoint=plan.packer.endpoint, say=progress.say,
        ) if record.get("sbom") else None  # fmt: skip
        record["sbom_url"] = sbom_url
        days = plan.checked.policy.deprecate_after_days
        record["deprecate_at"] = (now + timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:00Z")
        marked, unfinished = mark_ami_tested(
            found["amis"], plan.packer.endpoint,
            extra_tags={tags.SBOM: sbom_url} if sbom_url else None,
            deprecate_at=now + timedelta(days=days),
        )  # fmt: skip
        record["tested_marks"] = marked
        if unfinished:
            record.update(status="partially-marked", unmarked=unfinished)
            raise OperationFailed(
                "tests passed, but not every AMI could be marked tested (a release refuses "
                "an unmarked AMI):\n  - "
                + "\n  - ".join(unfinished)
                + ("\nmarked: " + ", ".join(marked) if marked else "")
            )
    else:
        record["tested_marks"] = mark_image_tested(
            found["image_id"],
            request.local_repository.format(role=request.role),
            custom.get("version") or "unknown",
        )
    record["tested"] = True
    record["status"] = "succeeded"
    progress.say(
        f"tests passed={summary.tests['passed']} failed=0 "
        f"skipped={summary.tests['skipped']}; marked tested: " + ", ".join(record["tested_marks"])
    )


def _write_record(plan: Plan, record: dict, finished_at: datetime, started: float) -> None:
    """Whatever ended the bake: finish the record, remove the staging folder (the log,
    manifest and template rendering stay) and write the record."""
    finish_record(record, finished_at, time.monotonic() - started)
    shutil.rmtree(plan.stage_dir, ignore_errors=True)
    write_record(record, plan.record_path)


def _template_dir(paths: Paths, dest: Path, compat: bool) -> Path:
    if not compat:
        return paths.template
    packer_compat.render_dir(paths.template, dest)
    return dest


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
