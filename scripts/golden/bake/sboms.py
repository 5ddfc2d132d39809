"""`golden sbom AMI|IMAGE`: the SBOM a bake made for an image, fetched from where the bake
left it: for an AMI, the S3 object its golden:sbom tag names (s3://BUCKET/KEY in the
artifacts bucket); for a local image, /etc/golden/sbom.cdx.json inside it (copied out of
a container that is created, never started, and removed).

`parse_s3_url` decides; `from_ami` and `from_image` are the adapters."""

from __future__ import annotations

import io
import json
import re
import subprocess
import tarfile

from botocore.exceptions import BotoCoreError, ClientError

from golden.core import tags
from golden.core.errors import ConfigError, OperationFailed

AMI_ID = re.compile(r"^ami-[0-9a-f]{8,17}$")
IMAGE_PATH = "/etc/golden/sbom.cdx.json"


def is_ami(target: str) -> bool:
    return bool(AMI_ID.match(target))


def parse_s3_url(url: str) -> tuple[str, str]:
    """(bucket, key) of s3://BUCKET/KEY; ConfigError otherwise."""
    match = re.fullmatch(r"s3://([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])/(.+)", url or "")
    if not match:
        raise ConfigError(f"{tags.SBOM} tag {url!r}: expected s3://BUCKET/KEY")
    return match.group(1), match.group(2)


def _document(data: bytes, where: str) -> dict:
    try:
        doc = json.loads(data)
    except ValueError:
        raise OperationFailed(f"{where}: not JSON") from None
    if doc.get("bomFormat") != "CycloneDX":
        raise OperationFailed(f"{where}: not a CycloneDX document")
    return doc


def from_ami(ami: str, *, region: str, endpoint: str | None = None) -> tuple[dict, str]:
    """(document, its s3:// address) of the AMI's SBOM. OperationFailed names what is
    missing: the AMI, its golden:sbom tag (a bake without an artifacts bucket), the object."""
    from golden.core import awsclient

    ec2 = awsclient.client("ec2", region=region, endpoint=endpoint)
    try:
        found = ec2.describe_images(ImageIds=[ami], IncludeDisabled=True).get("Images") or []
    except ClientError as exc:
        raise OperationFailed(f"AMI {ami} in {region}: {exc}") from None
    if not found:
        raise OperationFailed(f"AMI {ami} not found in {region}")
    url = {t["Key"]: t["Value"] for t in found[0].get("Tags") or []}.get(tags.SBOM)
    if not url:
        raise OperationFailed(
            f"AMI {ami} has no {tags.SBOM} tag: its bake uploaded no SBOM (no artifacts "
            "bucket); the bake's build record keeps it beside itself"
        )
    bucket, key = parse_s3_url(url)
    s3 = awsclient.client("s3", region=region, endpoint=endpoint)
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except (ClientError, BotoCoreError) as exc:
        raise OperationFailed(f"{url}: {exc}") from None
    return _document(body, url), url


def from_image(ref: str) -> tuple[dict, str]:
    """(document, where) of a local image's SBOM: ``ref``'s /etc/golden/sbom.cdx.json."""
    created = subprocess.run(["docker", "create", ref], capture_output=True, text=True,
                             timeout=120)  # fmt: skip
    if created.returncode != 0:
        raise OperationFailed(f"docker create {ref}: {created.stderr.strip()}")
    container = created.stdout.strip()
    try:
        copied = subprocess.run(["docker", "cp", f"{container}:{IMAGE_PATH}", "-"],
                                capture_output=True, timeout=120)  # fmt: skip
    finally:
        subprocess.run(["docker", "rm", "-f", container], capture_output=True, timeout=120)
    if copied.returncode != 0:
        raise OperationFailed(f"{ref}:{IMAGE_PATH}: {copied.stderr.decode().strip()} (an image "
                              "baked before golden made SBOMs?)")  # fmt: skip
    with tarfile.open(fileobj=io.BytesIO(copied.stdout)) as archive:
        member = next(m for m in archive.getmembers() if m.isfile())
        data = archive.extractfile(member).read()
    return _document(data, f"{ref}:{IMAGE_PATH}"), f"{ref}:{IMAGE_PATH}"
