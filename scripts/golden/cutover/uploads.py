"""Uploads folder to S3: keys, what to skip, the managed transfer, and verification.

Key: the app's upload prefix (``uploads/``, the sample app's ``AWS_S3_BUCKET`` layout)
followed by the file's path under the uploads folder, '/'-separated, its UTF-8 name kept
as it is (S3 keys are UTF-8; non-ASCII names need no escaping). Each object carries its
SHA-256 in the user metadata ``sha256`` (an ETag is not a content hash for multipart
uploads), so a re-run skips an object already present with the same size and checksum.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from golden.core.errors import OperationFailed, PreflightError

PREFIX = "uploads/"
HASH_CHUNK = 1 << 20
# boto3's managed transfer: parts of 16 MiB, 8 in flight per file, 4 files at once.
PART_BYTES = 16 * 1024 * 1024
CONCURRENCY = 8
FILES_AT_ONCE = 4
MAX_KEY_BYTES = 1024  # S3's limit on a key's UTF-8 length


@dataclass(frozen=True)
class LocalFile:
    relpath: str
    size: int
    sha256: str | None = None


@dataclass(frozen=True)
class Remote:
    size: int
    sha256: str | None


# -- pure ---------------------------------------------------------------------------------


def key_for(relpath: str, prefix: str = PREFIX) -> str:
    return prefix + relpath


def name_problems(relpaths: list[str], prefix: str = PREFIX) -> list[str]:
    """File names that cannot become keys: not UTF-8 (the operating system's bytes would
    be changed), or a key longer than S3 allows."""
    found = []
    for rel in relpaths:
        try:
            rel.encode("utf-8")
        except UnicodeEncodeError:
            found.append(f"{rel.encode('utf-8', 'surrogateescape')!r}: file name is not UTF-8")
            continue
        if len(key_for(rel, prefix).encode()) > MAX_KEY_BYTES:
            found.append(f"{rel}: key longer than S3's {MAX_KEY_BYTES} bytes")
    return found


def foreign(files: list[LocalFile], remote: dict[str, Remote], prefix: str = PREFIX
            ) -> list[str]:
    """Keys the cutover would write that hold an object it did not write (no ``sha256``
    metadata): someone else's data, not overwritten."""
    return sorted(key for key in (key_for(f.relpath, prefix) for f in files)
                  if key in remote and not remote[key].sha256)


def to_copy(files: list[LocalFile], remote: dict[str, Remote], prefix: str = PREFIX
            ) -> list[LocalFile]:
    """The files whose object is missing, of another size, or of another checksum."""
    out = []
    for f in files:
        have = remote.get(key_for(f.relpath, prefix))
        if have is None or have.size != f.size or (f.sha256 and have.sha256 != f.sha256):
            out.append(f)
    return out


# -- effects ------------------------------------------------------------------------------


def scan(folder: Path) -> list[LocalFile]:
    """Regular files under ``folder`` (symbolic links not followed), sorted by path."""
    if not folder.is_dir():
        raise PreflightError(f"uploads folder {folder}: no such folder (--uploads names "
                             "another one)")
    found = []
    for root, dirs, names in os.walk(folder, followlinks=False):
        dirs.sort()
        for name in sorted(names):
            path = Path(root) / name
            if path.is_file() and not path.is_symlink():
                rel = path.relative_to(folder).as_posix()
                found.append(LocalFile(rel, path.stat().st_size))
    return found


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def with_checksums(folder: Path, files: list[LocalFile]) -> list[LocalFile]:
    return [LocalFile(f.relpath, f.size, sha256_of(folder / f.relpath)) for f in files]


def check_bucket(s3, bucket: str) -> None:
    from botocore.exceptions import ClientError

    try:
        s3.head_bucket(Bucket=bucket)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code in ("404", "NoSuchBucket", "NotFound"):
            raise PreflightError(f"S3 bucket {bucket}: does not exist (the environment's "
                                 "instance.s3.bucket; golden env apply creates it)") from None
        raise PreflightError(f"S3 bucket {bucket}: {exc}") from None


def remote_objects(s3, bucket: str, prefix: str = PREFIX, *, checksums: bool = True
                   ) -> dict[str, Remote]:
    """{key: Remote} under ``prefix``; the sha256 metadata read per object when asked."""
    out: dict[str, Remote] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            out[obj["Key"]] = Remote(obj["Size"], None)
    if checksums:
        for key, have in list(out.items()):
            head = s3.head_object(Bucket=bucket, Key=key)
            out[key] = Remote(have.size, head.get("Metadata", {}).get("sha256"))
    return out


def transfer_config():
    from boto3.s3.transfer import TransferConfig

    return TransferConfig(multipart_threshold=PART_BYTES, multipart_chunksize=PART_BYTES,
                          max_concurrency=CONCURRENCY, use_threads=True)


def upload(s3, bucket: str, folder: Path, files: list[LocalFile], *,
           on_bytes: Callable[[int], None], prefix: str = PREFIX) -> None:
    """Upload ``files`` (with their checksums) through boto3's managed transfer. A file
    that fails stops the rest; what was uploaded stays and is skipped next time."""
    lock = threading.Lock()

    def progress(amount: int) -> None:
        with lock:
            on_bytes(amount)

    config = transfer_config()

    def one(f: LocalFile) -> None:
        s3.upload_file(str(folder / f.relpath), bucket, key_for(f.relpath, prefix),
                       ExtraArgs={"Metadata": {"sha256": f.sha256 or ""}},
                       Config=config, Callback=progress)

    with ThreadPoolExecutor(max_workers=FILES_AT_ONCE) as pool:
        futures = [pool.submit(one, f) for f in files]
        for future, f in zip(futures, files, strict=True):
            try:
                future.result()
            except Exception as exc:  # noqa: BLE001 - boto3's errors, reported by file
                for other in futures:
                    other.cancel()
                raise OperationFailed(f"S3 upload of {f.relpath} to s3://{bucket}/"
                                      f"{key_for(f.relpath, prefix)} failed: {exc}") from None


def content_sha256(s3, bucket: str, key: str) -> str:
    """SHA-256 of the object's bytes as S3 returns them (streamed)."""
    body = s3.get_object(Bucket=bucket, Key=key)["Body"]
    digest = hashlib.sha256()
    for chunk in body.iter_chunks(HASH_CHUNK):
        digest.update(chunk)
    return digest.hexdigest()


def verify(s3, bucket: str, files: list[LocalFile], *, prefix: str = PREFIX,
           read_content: bool = True) -> dict:
    """Every file's object: present, same size, same SHA-256 (metadata and, with
    ``read_content``, the bytes read back). Returns counts and the mismatches."""
    remote = remote_objects(s3, bucket, prefix)
    bad = []
    for f in files:
        key = key_for(f.relpath, prefix)
        have = remote.get(key)
        if have is None:
            bad.append(f"{key}: missing")
        elif have.size != f.size:
            bad.append(f"{key}: {have.size} bytes, expected {f.size}")
        elif have.sha256 != f.sha256:
            bad.append(f"{key}: sha256 metadata {have.sha256}, expected {f.sha256}")
        elif read_content and content_sha256(s3, bucket, key) != f.sha256:
            bad.append(f"{key}: content differs from the file (sha256)")
    expected = {key_for(f.relpath, prefix) for f in files}
    extra = sorted(k for k in remote if k not in expected)
    return {"files": len(files), "bytes": sum(f.size for f in files),
            "objects": len(remote), "mismatches": bad, "extra_objects": extra[:20],
            "extra_count": len(extra), "ok": not bad}
