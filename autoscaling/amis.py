"""`golden amis list|prune --role R`: AMIs with provenance; retention that never removes
an AMI or a snapshot in use (images.prune_plan and images.orphan_snapshots decide, this
module reads and acts).

Prune works through its whole list and reports what it could not finish instead of
stopping at the first error: DeregisterImage, then DeleteSnapshot for each of that AMI's
snapshots, retried with bounded back-off (golden.core.retry) while EC2 still answers
InvalidSnapshot.InUse for the AMI it just deregistered; then the orphaned golden
snapshots (tagged by the bake, used by no registered AMI) that an earlier prune left.
"""

from __future__ import annotations

from botocore.exceptions import ClientError
from golden.core import retry

from autoscaling import images
from autoscaling.aws import Clients
from autoscaling.progress import Reporter


def list_images(clients: Clients, role: str) -> list[dict]:
    used = images.images_in_use(clients.ec2)
    found = images.role_images(clients.ec2, role)
    ordered = sorted(found, key=lambda i: (images.build_time(i), i["ImageId"]), reverse=True)
    return [images.summary(i, used) for i in ordered]


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
        self.done: dict[str, list[str]] = {"deregistered": [], "deleted_snapshots": []}
        self.unfinished: list[dict] = []

    def _fail(self, resource: str, action: str, exc: ClientError, note: str) -> None:
        self.unfinished.append(
            {"resource": resource, "action": action, "error": _error(exc), "note": note}
        )
        self.reporter.info(f"could not {action} {resource}: {_error(exc)} ({note})")

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
    reporter: Reporter | None = None,
    backoff: retry.Backoff | None = None,
) -> dict:
    """Plan (and with EXECUTE do) the removal of ROLE's AMIs beyond the newest KEEP, none
    in use, with their snapshots, and of ROLE's orphaned golden snapshots. Returns
    {"role", "keep", "dry_run", "kept", "removed", "orphan_snapshots"} and, when
    executed, "done" ({"deregistered", "deleted_snapshots"}) and "unfinished" (one entry
    per resource that could not be removed: resource, action, error, note). Raises only
    for the read calls before anything changes."""
    reporter = reporter or Reporter()
    ec2 = clients.ec2
    used = images.images_in_use(ec2)
    kept, removed = images.prune_plan(images.role_images(ec2, role), used, keep)
    all_images = images.account_images(ec2)
    _, template_snapshots = images.template_references(ec2)
    used_snapshots = snapshots_used(all_images, template_snapshots, set())
    orphans = images.orphan_snapshots(images.role_snapshots(ec2, role), used_snapshots, role)
    result = {
        "role": role,
        "keep": keep,
        "dry_run": not execute,
        "kept": [images.summary(i, used) for i in kept],
        "removed": [images.summary(i, used) for i in removed],
        "orphan_snapshots": [images.snapshot_summary(s) for s in orphans],
    }
    if not execute:
        reporter.info(
            f"dry run: would deregister {len(removed)} AMI(s) and delete {len(orphans)} "
            f"orphaned snapshot(s); add --yes to do it"
        )
        return result
    pruner = _Pruner(ec2, reporter, backoff)
    keep_snapshots = snapshots_used(all_images, template_snapshots, {i["ImageId"] for i in removed})
    for image in removed:
        own = [s for s in images.snapshots_of(image) if s not in keep_snapshots]
        pruner.deregister(image, own)
    for snapshot in orphans:
        if pruner.delete_snapshot(snapshot["SnapshotId"]):
            reporter.info(f"deleted orphaned snapshot {snapshot['SnapshotId']}")
    return {**result, "done": pruner.done, "unfinished": pruner.unfinished}
