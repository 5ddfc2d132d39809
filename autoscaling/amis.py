"""`golden amis list|prune --role R`: AMIs with provenance; retention that never removes
an AMI in use (images.prune_plan decides, this module reads and acts)."""

from __future__ import annotations

from golden.core.errors import OperationFailed

from autoscaling import images
from autoscaling.aws import Clients
from autoscaling.progress import Reporter


def list_images(clients: Clients, role: str) -> list[dict]:
    used = images.images_in_use(clients.ec2)
    found = images.role_images(clients.ec2, role)
    ordered = sorted(found, key=lambda i: (images.build_time(i), i["ImageId"]), reverse=True)
    return [images.summary(i, used) for i in ordered]


def prune(
    clients: Clients, role: str, keep: int, *, execute: bool, reporter: Reporter | None = None
) -> dict:
    reporter = reporter or Reporter()
    used = images.images_in_use(clients.ec2)
    kept, removed = images.prune_plan(images.role_images(clients.ec2, role), used, keep)
    result = {
        "role": role,
        "keep": keep,
        "dry_run": not execute,
        "kept": [images.summary(i, used) for i in kept],
        "removed": [images.summary(i, used) for i in removed],
    }
    if not execute:
        reporter.info(f"dry run: would deregister {len(removed)} AMI(s); add --yes to do it")
        return result
    for image in removed:
        if image["ImageId"] in used:  # pragma: no cover - prune_plan never selects these
            raise OperationFailed(f"refusing to deregister {image['ImageId']}: in use")
        snapshots = images.deregister(clients.ec2, image)
        reporter.info(f"deregistered {image['ImageId']} and deleted {len(snapshots)} snapshot(s)")
    return result
