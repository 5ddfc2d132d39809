"""`golden amis list|prune --role R`: AMIs with provenance and lifecycle stage; retention in
stages that never removes an AMI or a snapshot in use (images.prune_plan,
images.lifecycle_steps and images.orphan_snapshots decide, this module reads and acts).

Prune protects every AMI in use (EnableImageDeregistrationProtection), disables each AMI
it would remove (DisableImage: no more launches, hidden from DescribeImages; tag
golden:disabled-at) and deregisters it only after the grace period
(security/supply-chain.yaml amis.disabled_grace_days, or --grace-days), then deletes its
snapshots, retried with bounded back-off (golden.core.retry) while EC2 still answers
InvalidSnapshot.InUse for the AMI it just deregistered; then the orphaned golden
snapshots (tagged by the bake, used by no registered AMI) that an earlier prune left. It
works through its whole list and reports what it could not finish instead of stopping at
the first error.
"""

from __future__ import annotations

import functools
from datetime import datetime, timedelta, timezone

from botocore.exceptions import ClientError
from golden.core import retry
from golden.core import tags as T

from autoscaling import images
from autoscaling.aws import Clients
from autoscaling.progress import Reporter


def list_images(clients: Clients, role: str, now: datetime | None = None) -> list[dict]:
    """ROLE's AMIs (disabled ones too), newest first: summary, in-use flag and stage."""
    now = now or datetime.now(timezone.utc)
    used = images.images_in_use(clients.ec2)
    found = images.role_images(clients.ec2, role)
    ordered = sorted(found, key=lambda i: (images.build_time(i), i["ImageId"]), reverse=True)
    return [{**images.summary(i, used), "stage": images.stage(i, used, now)} for i in ordered]


def _error(exc: ClientError) -> str:
    err = exc.response.get("Error", {})
    return f"{err.get('Code')}: {err.get('Message')}"


def snapshots_used(all_images: list[dict], template_snapshots: set[str], but: set[str]) -> set[str]:
    """Snapshot ids that a launch-template version or an AMI other than those in BUT
    names (pure): these are never deleted."""
    return set(template_snapshots) | {
        snap
        for image in all_images
        if image["ImageId"] not in but
        for snap in images.snapshots_of(image)
    }


class _Pruner:
    """Deregisters and deletes, collecting what was done and what was not."""

    def __init__(self, ec2, reporter: Reporter, backoff: retry.Backoff | None):
        self.ec2 = ec2
        self.reporter = reporter
        self.backoff = backoff
        self.done: dict[str, list[str]] = {
            "protected": [], "enabled": [], "unprotected": [], "disabled": [],
            "deregistered": [], "deleted_snapshots": [],
        }  # fmt: skip
        self.unfinished: list[dict] = []

    def _fail(self, resource: str, action: str, exc: ClientError, note: str) -> None:
        self.unfinished.append(
            {"resource": resource, "action": action, "error": _error(exc), "note": note}
        )
        self.reporter.info(f"could not {action} {resource}: {_error(exc)} ({note})")

    def step(self, action: str, ami: str, call, done: str, note: str) -> bool:
        """One lifecycle call; a failure is recorded (with ``note``) and False returned."""
        try:
            call()
        except ClientError as exc:
            self._fail(ami, action, exc, note)
            return False
        self.done[done].append(ami)
        return True

    def disable(self, ami: str, now: datetime) -> bool:
        """DisableImage, then the golden:disabled-at tag that starts the grace period."""
        if not self.step("DisableImage", ami, lambda: self.ec2.disable_image(ImageId=ami),
                         "disabled", "it stays available; a later prune tries again"):  # fmt: skip
            return False
        return self.mark(ami, now)

    def mark(self, ami: str, now: datetime) -> bool:
        stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
        try:
            self.ec2.create_tags(Resources=[ami], Tags=[{"Key": T.DISABLED_AT, "Value": stamp}])
        except ClientError as exc:
            self._fail(ami, "CreateTags", exc, f"disabled, but its {T.DISABLED_AT} tag is "
                       "missing: a later prune starts its grace period then")  # fmt: skip
            return False
        return True

    def deregister(self, image: dict, snapshots: list[str]) -> None:
        ami = image["ImageId"]
        try:
            self.ec2.deregister_image(ImageId=ami)
        except ClientError as exc:
            self._fail(ami, "DeregisterImage", exc, "its snapshots were left alone")
            return
        self.done["deregistered"].append(ami)
        deleted = [s for s in snapshots if self.delete_snapshot(s, of=ami)]
        self.reporter.info(f"deregistered {ami} and deleted {len(deleted)} snapshot(s)")

    def delete_snapshot(self, snapshot: str, of: str | None = None) -> bool:
        """Delete, waiting out InvalidSnapshot.InUse (EC2 still sees the AMI just
        deregistered); a snapshot already gone counts as deleted."""
        try:
            retry.call(
                lambda: self.ec2.delete_snapshot(SnapshotId=snapshot),
                retry.SNAPSHOT_STILL_IN_USE,
                self.backoff,
            )
        except ClientError as exc:
            if retry.error_code(exc) == "InvalidSnapshot.NotFound":
                self.done["deleted_snapshots"].append(snapshot)
                return True
            budget = (self.backoff or retry.DEFAULT).budget()
            note = (
                f"snapshot of {of}, gave up after {budget:.0f}s; " if of else "gave up; "
            ) + "a later `golden amis prune` finds it by its golden tags and retries"
            self._fail(snapshot, "DeleteSnapshot", exc, note)
            return False
        self.done["deleted_snapshots"].append(snapshot)
        return True


def prune(
    clients: Clients,
    role: str,
    keep: int,
    *,
    execute: bool,
    grace: timedelta = timedelta(days=14),
    now: datetime | None = None,
    reporter: Reporter | None = None,
    backoff: retry.Backoff | None = None,
) -> dict:
    """Plan (and with EXECUTE do) the lifecycle of ROLE's AMIs: protect every AMI in use,
    disable those beyond the newest KEEP that none uses, deregister (with their
    snapshots) those disabled for at least GRACE, and delete ROLE's orphaned golden
    snapshots. Returns {"role", "keep", "grace_days", "dry_run", "kept", "removed",
    "steps", "orphan_snapshots"} and, when executed, "done" (ids per action: protected,
    enabled, unprotected, disabled, deregistered, deleted_snapshots) and "unfinished" (one
    entry per resource that could not be handled: resource, action, error, note). Raises
    only for the read calls before anything changes."""
    reporter = reporter or Reporter()
    now = now or datetime.now(timezone.utc)
    ec2 = clients.ec2
    used = images.images_in_use(ec2)
    role_images = images.role_images(ec2, role)
    kept, removed = images.prune_plan(role_images, used, keep)
    steps = images.lifecycle_steps(role_images, used, removed, now, grace)
    all_images = images.account_images(ec2)
    _, template_snapshots = images.template_references(ec2)
    used_snapshots = snapshots_used(all_images, template_snapshots, set())
    orphans = images.orphan_snapshots(images.role_snapshots(ec2, role), used_snapshots, role)
    result = {
        "role": role,
        "keep": keep,
        "grace_days": grace.total_seconds() / 86400,
        "dry_run": not execute,
        "kept": [{**images.summary(i, used), "stage": images.stage(i, used, now)} for i in kept],
        "removed": [{**images.summary(i, used), "stage": images.stage(i, used, now)}
                    for i in removed],  # fmt: skip
        "steps": steps,
        "orphan_snapshots": [images.snapshot_summary(s) for s in orphans],
    }
    if not execute:
        counts = {a: sum(1 for s in steps if s["action"] == a) for a in ("disable", "deregister")}
        reporter.info(
            f"dry run: would disable {counts['disable']} AMI(s), deregister "
            f"{counts['deregister']} and delete {len(orphans)} orphaned snapshot(s); add "
            "--yes to do it"
        )
        return result
    pruner = _Pruner(ec2, reporter, backoff)
    by_id = {i["ImageId"]: i for i in role_images}
    keep_snapshots = snapshots_used(all_images, template_snapshots, {i["ImageId"] for i in removed})
    _run_steps(pruner, steps, by_id, keep_snapshots, now)
    for snapshot in orphans:
        if pruner.delete_snapshot(snapshot["SnapshotId"]):
            reporter.info(f"deleted orphaned snapshot {snapshot['SnapshotId']}")
    return {**result, "done": pruner.done, "unfinished": pruner.unfinished}


def _run_steps(pruner: _Pruner, steps: list[dict], by_id: dict, keep_snapshots: set[str],
               now: datetime) -> None:  # fmt: skip
    """Carry out the lifecycle steps in order; an image whose step failed gets no later
    step (a failed unprotect or disable must not lead to a deregistration)."""
    ec2 = pruner.ec2
    failed: set[str] = set()
    for step in steps:
        ami, action = step["image_id"], step["action"]
        if ami in failed or action == "wait":
            continue
        calls = {
            "protect": ("EnableImageDeregistrationProtection", "protected",
                        ec2.enable_image_deregistration_protection),
            "enable": ("EnableImage", "enabled", ec2.enable_image),
            "unprotect": ("DisableImageDeregistrationProtection", "unprotected",
                          ec2.disable_image_deregistration_protection),
        }  # fmt: skip
        if action in calls:
            name, done, method = calls[action]
            ok = pruner.step(name, ami, functools.partial(method, ImageId=ami), done,
                             "a later prune tries again")  # fmt: skip
        elif action == "disable":
            ok = pruner.disable(ami, now)
        elif action == "mark":
            ok = pruner.mark(ami, now)
        else:  # deregister
            own = [s for s in images.snapshots_of(by_id[ami]) if s not in keep_snapshots]
            pruner.deregister(by_id[ami], own)
            continue
        if ok:
            pruner.reporter.info(f"{action} {ami}: {step['reason']}")
        else:
            failed.add(ami)
