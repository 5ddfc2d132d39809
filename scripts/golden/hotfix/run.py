"""`golden hotfix` and `golden drift`: the state tree of a git ref applied to running
instances (SSM Run Command, or `docker exec` into the local twin), and the check of
what differs from the tree each instance runs.

Order of a fleet hotfix, every check before the first change: rate flags, settings
(artifacts_bucket), the git ref (a dirty tree is refused unless allowed), the bundle
(built locally, deterministic), the bucket exists, the group's InService instances, a
read-only probe (`golden instance hotfix --status`) that every instance answers; only
then the upload (skipped when the bucket already holds this sha) and the hotfix command
with MaxConcurrency / MaxErrors, followed to the end, a table per instance, tags on the
instances that applied it, and reminders when the next bake would not carry the fix.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from golden.core import containers
from golden.core.errors import ConfigError, OperationFailed, PreflightError
from golden.core.shell import eprint
from golden.hotfix import bundle as hotfix_bundle
from golden.hotfix import git as hotfix_git
from golden.hotfix import plan as hotfix_plan
from golden.hotfix import results as hotfix_result

LOCAL = "local"
INCOMING = "/var/tmp/golden-hotfix/incoming"


@dataclass
class Request:
    env: str
    role: str = "app"
    ref: str | None = None
    test: bool = False
    revert: bool = False
    max_concurrency: str = "1"
    max_errors: str = "0"
    allow_dirty: bool = False
    dry_run: bool = False
    repo: Path = Path(".")
    twin: str = "golden-local-app"
    main_ref: str = "main"
    timeout_minutes: float = 60.0
    poll_seconds: float = 2.0
    execution_timeout: int = 3600
    delivery_timeout: int = 600


# -- the bundle -------------------------------------------------------------------------------
@dataclass
class Built:
    bundle: hotfix_bundle.Bundle
    ref: str
    commit: str
    dirty: bool


def build_bundle(req: Request, out_dir: Path) -> Built:
    repo = req.repo.resolve()
    hotfix_git.ensure_repo(repo)
    ref = req.ref or "HEAD"
    commit = hotfix_git.resolve(repo, ref)
    if commit is None:
        raise ConfigError(
            f"--ref: {ref!r} is not a commit in {repo} (a branch, tag or sha; "
            "fetch it first if it is remote)"
        )
    from_worktree = commit == hotfix_git.resolve(repo, "HEAD")
    dirty = hotfix_git.dirty_paths(repo) if from_worktree else []
    if dirty and not req.allow_dirty:
        shown = ", ".join(dirty[:5]) + (" ..." if len(dirty) > 5 else "")
        raise ConfigError(
            f"the state tree has uncommitted changes ({shown}): commit them, "
            f"or pass --allow-dirty to ship the working tree as it is"
        )
    source = out_dir / "tree"
    if dirty:
        for tree in hotfix_git.STATE_PATHS:
            shutil.copytree(
                repo / tree, source / tree, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
            )
        label = f"{commit}-dirty"
    else:
        hotfix_git.export(repo, commit, source)
        label = commit
    bundle = hotfix_bundle.build(source, out_dir, commit=label)
    shutil.rmtree(source, ignore_errors=True)
    return Built(bundle, ref, commit, bool(dirty))


def reminders(req: Request, built: Built, ami: str | None, bake_revision: str | None) -> list[str]:
    repo = req.repo.resolve()
    in_main = hotfix_git.contains(repo, built.commit, req.main_ref)
    in_bake = None
    if bake_revision and "dirty" not in bake_revision:
        in_bake = hotfix_git.contains(repo, built.commit, bake_revision)
    return hotfix_plan.bake_reminders(
        ref=built.ref,
        commit=built.commit,
        dirty=built.dirty,
        main_ref=req.main_ref,
        in_main=in_main,
        ami=ami,
        bake_revision=bake_revision,
        in_bake=in_bake,
    )


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _on_change(instance_id: str, inv: dict, done: int, total: int) -> None:
    if inv.get("Status") != "Pending":
        eprint(hotfix_plan.progress_line(instance_id, inv, done, total))


# -- the fleet ---------------------------------------------------------------------------------
def _fleet(req: Request):
    from autoscaling import settings
    from autoscaling.aws import Clients
    from golden.hotfix.fleet import Fleet

    env = settings.load(req.env)
    role = env.role(req.role)
    return env, role, Fleet(Clients(env.region, env.endpoint_url))


def fleet_hotfix(req: Request) -> dict:
    concurrency = hotfix_plan.rate(req.max_concurrency, "--max-concurrency")
    errors = hotfix_plan.rate(req.max_errors, "--max-errors", errors=True)
    env, role, fleet = _fleet(req)
    bucket = env.raw.get("artifacts_bucket")
    with tempfile.TemporaryDirectory(prefix="golden-hotfix-") as tmp:
        built = None
        if not req.revert:
            if not bucket:
                raise ConfigError(
                    f"{env.path}: artifacts_bucket: missing (the S3 bucket hotfix "
                    f"bundles go to; instances need s3:GetObject on it)"
                )
            built = build_bundle(req, Path(tmp))
            eprint(
                f"bundle {built.bundle.sha256[:12]} from {built.ref} ({built.commit[:12]}"
                f"{', uncommitted changes' if built.dirty else ''})"
            )
            problem = fleet.bucket_problem(bucket)
            if problem:
                raise ConfigError(
                    f"{env.path}: artifacts_bucket: bucket {bucket!r} {problem}; "
                    "nothing was uploaded or sent"
                )
        group = fleet.group(role.group)
        ids = hotfix_plan.in_service(group)
        hotfix_plan.check_fleet_size(ids, role.group)
        ami, bake_revision = fleet.launched_image(group)
        notes = reminders(req, built, ami, bake_revision) if built else []
        key = hotfix_plan.bundle_key(built.bundle.sha256) if built else None
        url = f"s3://{bucket}/{key}" if built else None
        argv = (
            hotfix_plan.REVERT_ARGV
            if req.revert
            else hotfix_plan.apply_argv(url, built.bundle.sha256, test=req.test)
        )
        base = {
            "environment": env.name,
            "role": req.role,
            "group": role.group,
            "mode": "revert" if req.revert else ("test" if req.test else "apply"),
            "instances": ids,
            "max_concurrency": concurrency,
            "max_errors": errors,
            "bundle": (
                {
                    "sha256": built.bundle.sha256,
                    "commit": built.bundle.commit,
                    "ref": built.ref,
                    "url": url,
                }
                if built
                else None
            ),
            "command": argv,
            "reminders": notes,
        }
        if req.dry_run:
            return {**base, "dry_run": True, "ok": True, "rows": []}

        eprint(
            f"probing {len(ids)} instance(s) of {role.group} (read-only: "
            "golden instance hotfix --status)"
        )
        probe_id = fleet.send(
            ids,
            hotfix_plan.shell_script(hotfix_plan.PROBE_ARGV),
            comment=f"golden hotfix probe {env.name}/{req.role}",
            max_concurrency="100%",
            max_errors="100%",
            execution_timeout=120,
            delivery_timeout=req.delivery_timeout,
        )
        probed, _ = fleet.follow(
            probe_id, ids, poll=req.poll_seconds, timeout=300, on_change=lambda *a: None
        )
        ready, lacking, unreached = hotfix_plan.probe_verdicts(probed)
        if lacking:
            lines = "\n  - ".join(f"{i}: {why}" for i, why in lacking.items())
            raise PreflightError(
                f"instance(s) without a working `golden instance hotfix` (an image older "
                f"than hotfixes?); nothing was uploaded or sent:\n  - {lines}"
            )
        if not ready:
            raise PreflightError(
                f"no instance of {role.group} answered the probe "
                f"({', '.join(f'{i}: {s}' for i, s in unreached.items())})"
            )
        if built:
            if fleet.stored_sha(bucket, key) == built.bundle.sha256:
                eprint(f"s3://{bucket}/{key} already holds this bundle")
            else:
                eprint(f"uploading the bundle to {url}")
                fleet.upload(bucket, key, str(built.bundle.path), built.bundle.sha256)
        what = base["mode"]
        eprint(
            f"{what}: {len(ready)} instance(s), at most {concurrency} at a time, stop after "
            f"{errors} error(s)"
        )
        command_id, results, finished = _fan_out(
            fleet,
            req,
            ready,
            argv,
            comment=f"golden hotfix {what} {env.name}/{req.role} "
            f"{built.bundle.sha256[:12] if built else ''}".strip(),
            concurrency=concurrency,
            errors=errors,
        )
        sent = built.bundle.sha256 if built else None
        rows = [
            hotfix_plan.row(i, results.get(i, {}), sent_sha256=sent, test=req.test)
            for i in ready
        ]
        rows += [
            {
                "instance": i,
                "status": s,
                "changed": "-",
                "failed": "-",
                "duration": "-",
                "tree": "-",
                "result": "unknown",
                "note": "probe not delivered",
            }
            for i, s in unreached.items()
        ]
        if not req.test:
            _tag(fleet, rows, results, built)
        ok = finished and hotfix_plan.verdict(rows) == "ok"
        return {
            **base,
            "command_id": command_id,
            "finished": finished,
            "rows": rows,
            "counts": hotfix_plan.counts(rows),
            "ok": ok,
        }


def _fan_out(
    fleet, req: Request, ids: list[str], argv: list[str], *, comment: str,
    concurrency: str, errors: str,
) -> tuple[str, dict, bool]:  # fmt: skip
    """One Run Command over ``ids`` at the operator's rate, followed to the end (bounded by
    --timeout-minutes): (command id, results per instance, finished)."""
    command_id = fleet.send(
        ids,
        hotfix_plan.shell_script(argv),
        comment=comment,
        max_concurrency=concurrency,
        max_errors=errors,
        execution_timeout=req.execution_timeout,
        delivery_timeout=req.delivery_timeout,
    )
    results, finished = fleet.follow(
        command_id,
        ids,
        poll=req.poll_seconds,
        timeout=req.timeout_minutes * 60,
        on_change=_on_change,
    )
    return command_id, results, finished


def _tag(fleet, rows: list[dict], results: dict, built: Built | None) -> None:
    applied, failed = [], []
    for r in rows:
        (applied if hotfix_plan.succeeded(r) else failed).append(r)
    when = _now()
    by_sha: dict[str, list[str]] = {}
    for r in applied:
        record = hotfix_result.from_stdout(results[r["instance"]].get("StandardOutputContent"))
        tree = (record or {}).get("tree") or {}
        sha = tree.get("bundle_sha256") or tree.get("name") or "unknown"
        by_sha.setdefault(sha, []).append(r["instance"])
    for sha, instance_ids in by_sha.items():
        tags = {hotfix_plan.TAG_SHA: sha, hotfix_plan.TAG_TIME: when}
        if built and sha == built.bundle.sha256:
            tags[hotfix_plan.TAG_COMMIT] = built.bundle.commit[:40]
        fleet.tag(instance_ids, tags)
    ran = [r["instance"] for r in failed if r.get("result") == "failed"]
    if built and ran:
        fleet.tag(ran, {hotfix_plan.TAG_FAILED: built.bundle.sha256, hotfix_plan.TAG_TIME: when})


def fleet_drift(req: Request) -> dict:
    concurrency = hotfix_plan.rate(req.max_concurrency, "--max-concurrency")
    errors = hotfix_plan.rate(req.max_errors, "--max-errors", errors=True)
    env, role, fleet = _fleet(req)
    group = fleet.group(role.group)
    ids = hotfix_plan.in_service(group)
    hotfix_plan.check_fleet_size(ids, role.group)
    base = {
        "environment": env.name,
        "role": req.role,
        "group": role.group,
        "mode": "drift",
        "instances": ids,
        "max_concurrency": concurrency,
        "max_errors": errors,
        "command": hotfix_plan.DRIFT_ARGV,
    }
    if req.dry_run:
        return {**base, "dry_run": True, "ok": True, "rows": []}
    eprint(f"drift check on {len(ids)} instance(s) of {role.group} (highstate test=True)")
    command_id, results, finished = _fan_out(
        fleet,
        req,
        ids,
        hotfix_plan.DRIFT_ARGV,
        comment=f"golden drift {env.name}/{req.role}",
        concurrency=concurrency,
        errors=errors,
    )
    rows = [hotfix_plan.row(i, results.get(i, {}), drift=True) for i in ids]
    outcome = hotfix_plan.verdict(rows, drift=True) if finished else "failed"
    return {
        **base,
        "command_id": command_id,
        "finished": finished,
        "rows": rows,
        "counts": hotfix_plan.counts(rows),
        "outcome": outcome,
        "ok": outcome == "ok",
    }


# -- the local twin -----------------------------------------------------------------------------
def _exec(twin: str, argv: list[str], timeout: float) -> subprocess.CompletedProcess:
    # stderr (the instance side's progress) goes straight to ours.
    try:
        return subprocess.run(
            ["docker", "exec", twin, *argv], stdout=subprocess.PIPE, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        raise OperationFailed(
            f"{twin}: {' '.join(argv[:4])} did not finish in {timeout:.0f}s"
        ) from None


def _twin_ready(twin: str) -> None:
    state = containers.container_state(twin)
    if not state or not state["State"]["Running"]:
        raise ConfigError(
            f"twin container {twin} is not running (start it: `make local`, or "
            f"`golden local up`; another twin: --twin NAME)"
        )
    probe = _exec(twin, hotfix_plan.PROBE_ARGV, 120)
    if probe.returncode != 0 or hotfix_result.from_stdout(probe.stdout) is None:
        raise PreflightError(
            f"twin {twin} has no working `golden instance hotfix` (its image "
            "predates hotfixes: rebuild with `golden twin build --role app` and "
            "boot it again); nothing was copied or run"
        )


def _local_row(
    twin: str, proc: subprocess.CompletedProcess, drift: bool, sent: str | None = None,
    test: bool = False,
) -> dict:  # fmt: skip
    inv = {
        "Status": "Success" if proc.returncode == 0 else "Failed",
        "StatusDetails": "Success" if proc.returncode == 0 else "Failed",
        "ResponseCode": proc.returncode,
        "StandardOutputContent": proc.stdout,
    }
    return hotfix_plan.row(twin, inv, drift=drift, sent_sha256=sent, test=test)


def local_hotfix(req: Request) -> dict:
    with tempfile.TemporaryDirectory(prefix="golden-hotfix-") as tmp:
        built = None if req.revert else build_bundle(req, Path(tmp))
        if built:
            eprint(
                f"bundle {built.bundle.sha256[:12]} from {built.ref} ({built.commit[:12]}"
                f"{', uncommitted changes' if built.dirty else ''})"
            )
        _twin_ready(req.twin)
        if req.revert:
            argv = hotfix_plan.REVERT_ARGV
        else:
            remote = f"{INCOMING}/{built.bundle.sha256}.tar.gz"
            argv = hotfix_plan.apply_argv(remote, built.bundle.sha256, test=req.test)
        base = {
            "environment": LOCAL,
            "twin": req.twin,
            "mode": "revert" if req.revert else ("test" if req.test else "apply"),
            "bundle": (
                {"sha256": built.bundle.sha256, "commit": built.bundle.commit, "ref": built.ref}
                if built
                else None
            ),
            "command": argv,
            "reminders": reminders(req, built, None, None) if built else [],
        }
        if req.dry_run:
            return {**base, "dry_run": True, "ok": True, "rows": []}
        if built:
            _exec(req.twin, ["mkdir", "-p", INCOMING], 60)
            containers.copy_into(req.twin, str(built.bundle.path), remote)
        proc = _exec(req.twin, argv, req.timeout_minutes * 60)
    record = hotfix_result.from_stdout(proc.stdout)
    row = _local_row(req.twin, proc, drift=False,
                     sent=built.bundle.sha256 if built else None, test=req.test)  # fmt: skip
    return {**base, "rows": [row], "record": record, "ok": hotfix_plan.verdict([row]) == "ok"}


def local_drift(req: Request) -> dict:
    _twin_ready(req.twin)
    proc = _exec(req.twin, hotfix_plan.DRIFT_ARGV, req.timeout_minutes * 60)
    row = _local_row(req.twin, proc, drift=True)
    outcome = hotfix_plan.verdict([row], drift=True)
    return {
        "environment": LOCAL,
        "twin": req.twin,
        "mode": "drift",
        "rows": [row],
        "record": hotfix_result.from_stdout(proc.stdout),
        "outcome": outcome,
        "ok": outcome == "ok",
    }


def hotfix(req: Request) -> dict:
    return local_hotfix(req) if req.env == LOCAL else fleet_hotfix(req)


def drift(req: Request) -> dict:
    return local_drift(req) if req.env == LOCAL else fleet_drift(req)
