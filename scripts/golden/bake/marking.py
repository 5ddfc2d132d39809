"""Marking a baked image tested, which the bake does only after its in-bake tests passed:
the tag golden:tested=true on the AMI and its snapshots in every region it was copied
to, or for a local bake a docker image that adds the label golden:tested=true, tagged
VERSION and latest.

`tests_passed` decides; the two markers are the effects (boto3, docker)."""

from __future__ import annotations

import subprocess
from datetime import datetime

from botocore.exceptions import ClientError

from golden.core import retry, tags
from golden.core.errors import OperationFailed


def tests_passed(tests: dict[str, int] | None) -> bool:
    """The in-bake test summary ({"passed", "failed", "skipped"} counts, None when the
    bake printed none) counts as passed: no failure and at least one test passed."""
    return bool(tests) and tests["failed"] == 0 and tests["passed"] > 0


def mark_ami_tested(
    amis: dict[str, str],
    endpoint: str | None,
    backoff: retry.Backoff | None = None,
    *,
    extra_tags: dict[str, str] | None = None,
    deprecate_at: datetime | None = None,
) -> tuple[list[str], list[str]]:
    """Tag every AMI ({region: ami id}) and its snapshots golden:tested=true (and
    ``extra_tags``, e.g. golden:sbom) through ``endpoint`` (None: AWS itself), then give
    it its deprecation time (EnableImageDeprecation at ``deprecate_at``, UTC). Returns
    (marked, unfinished): "region:ami" for each AMI marked, sorted by region, and one
    line per region that could not be marked (what failed and the command that finishes
    it by hand). Never stops at the first region.

    The AMIs were created or copied moments ago and EC2 is eventually consistent: the
    image is looked up, and tagged, with bounded back-off while EC2 answers
    InvalidAMIID.NotFound / InvalidSnapshot.NotFound (golden.core.retry)."""
    from golden.core import awsclient

    marked, unfinished = [], []
    for region, ami in sorted(amis.items()):
        client = awsclient.client("ec2", region=region, endpoint=endpoint)
        extra = " ".join(f"Key={k},Value={v}" for k, v in sorted((extra_tags or {}).items()))
        try:
            _mark_one(client, ami, backoff, extra_tags or {})
        except (ClientError, OperationFailed) as exc:
            unfinished.append(
                f"{region}:{ami}: {_reason(exc)} (to finish by hand: aws ec2 create-tags "
                f"--region {region} --resources {ami} <its snapshots> --tags "
                f"Key={tags.TESTED},Value={tags.TESTED_VALUE} {extra})".replace(" )", ")")
            )
            continue
        if deprecate_at is not None:
            when = deprecate_at.strftime("%Y-%m-%dT%H:%M:00Z")
            try:
                client.enable_image_deprecation(ImageId=ami, DeprecateAt=deprecate_at)
            except ClientError as exc:
                unfinished.append(
                    f"{region}:{ami}: marked tested, but no deprecation time: {_reason(exc)} "
                    f"(to finish by hand: aws ec2 enable-image-deprecation --region {region} "
                    f"--image-id {ami} --deprecate-at {when})"
                )
                continue
        marked.append(f"{region}:{ami}")
    return marked, unfinished


def _reason(exc: Exception) -> str:
    code = retry.error_code(exc)
    return f"{code}: {exc}" if code else str(exc)


def _mark_one(client, ami: str, backoff: retry.Backoff | None, extra: dict[str, str]) -> None:
    gone = retry.AMI_NOT_VISIBLE + retry.SNAPSHOT_NOT_VISIBLE
    image = retry.describe(
        lambda: next(iter(client.describe_images(ImageIds=[ami]).get("Images", [])), None),
        gone,
        backoff,
    )
    if image is None:
        raise OperationFailed(f"AMI {ami} did not become visible within the back-off")
    snapshots = [
        m["Ebs"]["SnapshotId"]
        for m in image.get("BlockDeviceMappings") or []
        if (m.get("Ebs") or {}).get("SnapshotId")
    ]
    retry.call(
        lambda: client.create_tags(
            Resources=[ami, *snapshots],
            Tags=[{"Key": tags.TESTED, "Value": tags.TESTED_VALUE}]
            + [{"Key": k, "Value": v} for k, v in sorted(extra.items())],
        ),
        gone,
        backoff,
    )


def mark_image_tested(image_id: str, repository: str, version: str) -> list[str]:
    """Docker labels are fixed at commit time, so the tested image is a commit of the
    baked one that only adds the label; it gets the role's repository tags.
    Returns the two refs (REPOSITORY:VERSION, REPOSITORY:latest); raises OperationFailed
    when docker cannot make them."""
    refs = [f"{repository}:{version}", f"{repository}:latest"]
    created = subprocess.run(
        ["docker", "create", image_id], capture_output=True, text=True, timeout=120
    )
    if created.returncode != 0:
        raise OperationFailed(f"docker create {image_id}: {created.stderr.strip()}")
    container = created.stdout.strip()
    try:
        label = f'LABEL "{tags.TESTED}"="{tags.TESTED_VALUE}"'
        committed = subprocess.run(
            ["docker", "commit", "--change", label, container, refs[0]],
            capture_output=True,
            text=True,
            timeout=300,
        )
        if committed.returncode != 0:
            raise OperationFailed(f"docker commit (tested label): {committed.stderr.strip()}")
        subprocess.run(["docker", "tag", refs[0], refs[1]], check=True, timeout=60)
    finally:
        subprocess.run(["docker", "rm", "-f", container], capture_output=True, timeout=120)
    return refs
