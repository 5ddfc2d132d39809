"""AMIs: which one a release may use, which ones prune may remove.

Pure decisions (image_problems, pick_latest, prune_plan) take plain DescribeImages dicts;
the thin adapters below them make the EC2 calls.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from botocore.exceptions import ClientError
from golden.core import tags as T

AMI_ID = re.compile(r"^ami-[0-9a-f]{8,17}$")


def tag_map(resource: dict) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in resource.get("Tags") or []}


def _parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def build_time(image: dict) -> datetime:
    """The bake's build-time tag, else the image's CreationDate; the sort key for 'newest'."""
    when = _parse_time(tag_map(image).get(T.BUILD_TIME)) or _parse_time(image.get("CreationDate"))
    when = when or datetime(1970, 1, 1, tzinfo=timezone.utc)
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def is_deprecated(image: dict, now: datetime) -> bool:
    when = _parse_time(image.get("DeprecationTime"))
    if when is None:
        return False
    when = when if when.tzinfo else when.replace(tzinfo=timezone.utc)
    return when <= now


def image_problems(
    image: dict | None, ami_id: str, role: str, region: str, now: datetime
) -> list[str]:
    """Why ``image`` may not be released as ``role`` (empty list: it may)."""
    if image is None:
        return [
            f"AMI {ami_id} not found in region {region} (AMIs are regional: copy it "
            f"into {region} with CopyImage, or check the id)"
        ]
    problems = []
    if image.get("State") != "available":
        problems.append(f"AMI {ami_id} is in state {image.get('State')!r}, expected 'available'")
    tags = tag_map(image)
    if T.ROLE not in tags:
        problems.append(f"AMI {ami_id} has no {T.ROLE} tag (not made by the golden bake?)")
    elif tags[T.ROLE] != role:
        problems.append(f"AMI {ami_id} is tagged {T.ROLE}={tags[T.ROLE]}, expected {role}")
    if tags.get(T.TESTED) != T.TESTED_VALUE:
        problems.append(
            f"AMI {ami_id} is not tagged {T.TESTED}={T.TESTED_VALUE}: its in-bake "
            f"tests did not pass (tag is {tags.get(T.TESTED)!r})"
        )
    if is_deprecated(image, now):
        problems.append(f"AMI {ami_id} is deprecated since {image.get('DeprecationTime')}")
    return problems


def pick_latest(images: list[dict], role: str, region: str, now: datetime) -> dict | None:
    """The newest image that passes every check for ``role``."""
    good = [i for i in images if not image_problems(i, i["ImageId"], role, region, now)]
    return max(good, key=lambda i: (build_time(i), i["ImageId"]), default=None)


def snapshots_of(image: dict) -> list[str]:
    return [
        m["Ebs"]["SnapshotId"]
        for m in image.get("BlockDeviceMappings") or []
        if m.get("Ebs", {}).get("SnapshotId")
    ]


def prune_plan(images: list[dict], in_use: set[str], keep: int) -> tuple[list[dict], list[dict]]:
    """(kept, removed): keep the newest ``keep`` available images plus every image in use.
    Disabled, failed or pending images never count toward ``keep``: a disabled image among
    the newest would otherwise hold a place and stay disabled for ever."""
    if keep < 0:
        raise ValueError("keep must be >= 0")
    ordered = sorted(images, key=lambda i: (build_time(i), i["ImageId"]), reverse=True)
    available = [i for i in ordered if i.get("State", "available") == "available"]
    newest = {i["ImageId"] for i in available[:keep]}
    kept = [i for i in ordered if i["ImageId"] in newest or i["ImageId"] in in_use]
    removed = [i for i in ordered if i not in kept]
    return kept, removed


PROTECTION_OFF = ("", "disabled")


def is_protected(image: dict) -> bool:
    """Deregistration protection is on (DescribeImages' DeregistrationProtection:
    enabled-without-cooldown or enabled-with-cooldown)."""
    return str(image.get("DeregistrationProtection") or "") not in PROTECTION_OFF


def disabled_at(image: dict) -> datetime | None:
    """When `golden amis prune` disabled the image (its golden:disabled-at tag)."""
    when = _parse_time(tag_map(image).get(T.DISABLED_AT))
    if when is not None and when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when


def stage(image: dict, in_use: set[str], now: datetime) -> str:
    """The image's lifecycle stage: "in use" (a launch-template version or an instance
    uses it), "available", "deprecated" (its DeprecationTime passed: a release refuses
    it), "disabled" (no launches, hidden from DescribeImages; prune deregisters it after
    the grace period), or EC2's own state while it is not available (pending, failed)."""
    state = image.get("State")
    if state == "disabled":
        return "disabled"
    if state != "available":
        return str(state or "unknown")
    if image["ImageId"] in in_use:
        return "in use"
    return "deprecated" if is_deprecated(image, now) else "available"


def lifecycle_steps(
    images: list[dict], in_use: set[str], removed: list[dict], now: datetime, grace: timedelta
) -> list[dict]:
    """What prune does to each image, in order (pure): every image in use gets
    deregistration protection ("protect"; "enable" first if it was disabled: launches
    from it would fail); an image to remove is disabled first ("unprotect" when it is
    protected, then "disable", which starts its grace period), and deregistered with its
    snapshots ("deregister") only once it has been disabled for ``grace`` (at once when
    ``grace`` is 0); until then "wait". A disabled image without golden's disabled-at tag
    (disabled by someone else) gets the tag ("mark"): its grace period starts now.
    Returns [{"image_id", "action", "reason"}]."""
    steps: list[dict] = []

    def add(image: dict, action: str, reason: str) -> None:
        steps.append({"image_id": image["ImageId"], "action": action, "reason": reason})

    for image in images:
        if image["ImageId"] not in in_use:
            continue
        if image.get("State") == "disabled":
            add(image, "enable", "in use: a disabled AMI cannot launch instances")
        if not is_protected(image):
            add(image, "protect", "in use (a launch-template version or an instance)")
    for image in removed:
        since = disabled_at(image)
        if image.get("State") != "disabled":
            if is_protected(image):
                add(image, "unprotect", "no longer in use")
            add(image, "disable", f"beyond the newest kept; deregistered after {grace.days} day(s)")
            since = now
        elif since is None:
            add(image, "mark", "disabled without golden's disabled-at tag: grace starts now")
            since = now
        if since + grace <= now:
            if is_protected(image) and image.get("State") == "disabled":
                add(image, "unprotect", "deregistration follows")
            add(image, "deregister", f"disabled since {since.isoformat()}")
        else:
            add(image, "wait", f"disabled; deregistered after {(since + grace).isoformat()}")
    return steps


def is_golden_snapshot(snapshot: dict, role: str) -> bool:
    """A snapshot the bake made for ``role``: Packer tags every snapshot of a baked AMI
    with the AMI's provenance (snapshot_tags = ami_tags in packer/golden.pkr.hcl), so it
    carries golden:role=ROLE and golden:build-time. A snapshot without them is never ours
    to delete."""
    tags = tag_map(snapshot)
    return tags.get(T.ROLE) == role and bool(tags.get(T.BUILD_TIME))


def orphan_snapshots(snapshots: list[dict], used: set[str], role: str) -> list[dict]:
    """The golden snapshots of ``role`` that no registered AMI and no launch-template
    version uses (``used``: their snapshot ids): left behind when a DeregisterImage
    went through and the DeleteSnapshot after it did not. Oldest first."""
    found = [
        s
        for s in snapshots
        if s["SnapshotId"] not in used and s.get("State") != "error" and is_golden_snapshot(s, role)
    ]
    return sorted(found, key=lambda s: (str(s.get("StartTime") or ""), s["SnapshotId"]))


def snapshot_summary(snapshot: dict) -> dict:
    tags = tag_map(snapshot)
    return {
        "snapshot_id": snapshot["SnapshotId"],
        "state": snapshot.get("State"),
        "version": tags.get(T.VERSION),
        "build_time": tags.get(T.BUILD_TIME),
        "start_time": snapshot.get("StartTime"),
        "description": snapshot.get("Description"),
    }


def summary(image: dict, in_use: set[str] | None = None) -> dict:
    tags = tag_map(image)
    out = {
        "image_id": image["ImageId"],
        "name": image.get("Name"),
        "state": image.get("State"),
        "role": tags.get(T.ROLE),
        "tested": tags.get(T.TESTED) == T.TESTED_VALUE,
        "version": tags.get(T.VERSION),
        "git_revision": tags.get(T.GIT_REVISION),
        "build_time": tags.get(T.BUILD_TIME) or image.get("CreationDate"),
        "deprecation_time": image.get("DeprecationTime"),
        "deregistration_protection": is_protected(image),
        "disabled_at": tags.get(T.DISABLED_AT),
        "sbom": tags.get(T.SBOM),
        "snapshots": snapshots_of(image),
        "provenance": {k: v for k, v in tags.items() if k in T.PROVENANCE},
    }
    if in_use is not None:
        out["in_use"] = image["ImageId"] in in_use
    return out


# -- adapters ---------------------------------------------------------------------------------
def describe_image(ec2, ami_id: str) -> dict | None:
    """The image ``ami_id`` in any state (a disabled one too, so a release can say why it
    refuses it); None when EC2 does not know it."""
    try:
        images = ec2.describe_images(ImageIds=[ami_id], IncludeDisabled=True).get("Images", [])
    except ClientError as exc:
        if exc.response["Error"]["Code"] in (
            "InvalidAMIID.NotFound",
            "InvalidAMIID.Malformed",
            "InvalidAMIID.Unavailable",
        ):
            return None
        raise
    return images[0] if images else None


def role_images(ec2, role: str) -> list[dict]:
    """This account's images tagged golden:role=ROLE, disabled ones included."""
    pages = ec2.get_paginator("describe_images").paginate(
        Owners=["self"], Filters=[{"Name": f"tag:{T.ROLE}", "Values": [role]}],
        IncludeDisabled=True,
    )
    return [i for page in pages for i in page.get("Images", [])]


def template_references(ec2) -> tuple[set[str], set[str]]:
    """(AMI ids, snapshot ids) named by any launch-template version in the region."""
    amis: set[str] = set()
    snapshots: set[str] = set()
    for page in ec2.get_paginator("describe_launch_templates").paginate():
        for template in page.get("LaunchTemplates", []):
            versions = ec2.get_paginator("describe_launch_template_versions").paginate(
                LaunchTemplateId=template["LaunchTemplateId"]
            )
            for vpage in versions:
                for version in vpage.get("LaunchTemplateVersions", []):
                    data = version.get("LaunchTemplateData", {})
                    if data.get("ImageId"):
                        amis.add(data["ImageId"])
                    snapshots.update(snapshots_of(data))
    return amis, snapshots


def images_in_use(ec2) -> set[str]:
    """Every AMI referenced by any launch-template version or any not-terminated instance
    in the region: none of these may be deregistered."""
    used, _ = template_references(ec2)
    states = ["pending", "running", "stopping", "stopped", "shutting-down"]
    for page in ec2.get_paginator("describe_instances").paginate(
        Filters=[{"Name": "instance-state-name", "Values": states}]
    ):
        for reservation in page.get("Reservations", []):
            for instance in reservation.get("Instances", []):
                used.add(instance["ImageId"])
    return used


def account_images(ec2) -> list[dict]:
    """Every AMI this account owns in the region, in any state (disabled ones too)."""
    pages = ec2.get_paginator("describe_images").paginate(Owners=["self"], IncludeDisabled=True)
    return [i for page in pages for i in page.get("Images", [])]


def role_snapshots(ec2, role: str) -> list[dict]:
    """This account's snapshots tagged golden:role=ROLE."""
    pages = ec2.get_paginator("describe_snapshots").paginate(
        OwnerIds=["self"], Filters=[{"Name": f"tag:{T.ROLE}", "Values": [role]}]
    )
    return [s for page in pages for s in page.get("Snapshots", [])]
