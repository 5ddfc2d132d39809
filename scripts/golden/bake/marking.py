"""Marking a baked image tested, which the bake does only after its in-bake tests passed:
the AMI tag golden:tested=true in every region it was copied to, or for a local bake a
docker image that adds the label golden:tested=true, tagged VERSION and latest.

`tests_passed` decides; the two markers are the effects (boto3, docker)."""

from __future__ import annotations

import subprocess

from golden.core import tags
from golden.core.errors import OperationFailed


def tests_passed(tests: dict[str, int] | None) -> bool:
    """The in-bake test summary ({"passed", "failed", "skipped"} counts, None when the
    bake printed none) counts as passed: no failure and at least one test passed."""
    return bool(tests) and tests["failed"] == 0 and tests["passed"] > 0


def mark_ami_tested(amis: dict[str, str], endpoint: str | None) -> list[str]:
    """Tag every AMI ({region: ami id}) golden:tested=true through ``endpoint`` (None:
    AWS itself); returns "region:ami" for each, sorted by region."""
    from golden.core import awsclient

    marked = []
    for region, ami in sorted(amis.items()):
        client = awsclient.client("ec2", region=region, endpoint=endpoint)
        client.create_tags(Resources=[ami], Tags=[{"Key": tags.TESTED, "Value": tags.TESTED_VALUE}])
        marked.append(f"{region}:{ami}")
    return marked


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
