"""/api/upload: the request body streams through a bounded buffer into a temporary file
(hashed on the way), then, when a bucket is configured, into S3 as a multipart upload.
Memory per upload stays at about one buffer, whatever the body's size."""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import AsyncIterator

import anyio

from .clients import Clients
from .retrieval import DependencyFailed

BUFFER_BYTES = 1024 * 1024


class UploadTooLarge(ValueError):
    pass


class _Sink:
    """Blocking file writes and hashing, run in a worker thread (hashlib releases the GIL)."""

    def __init__(self, directory: str | None):
        fd, self.path = tempfile.mkstemp(prefix="upload-", dir=directory)
        self.file = os.fdopen(fd, "wb")
        self.sha256 = hashlib.sha256()
        self.size = 0

    def write(self, chunk: bytes) -> None:
        self.sha256.update(chunk)
        self.file.write(chunk)
        self.size += len(chunk)

    def close(self) -> None:
        self.file.close()

    def discard(self) -> None:
        self.close()
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass


async def receive_upload(chunks: AsyncIterator[bytes], clients: Clients, name: str | None) -> dict:
    settings = clients.settings
    sink = _Sink(settings.upload_dir)
    try:
        pending: list[bytes] = []
        pending_bytes = 0
        async for chunk in chunks:
            if not chunk:
                continue
            if sink.size + pending_bytes + len(chunk) > settings.upload_max_bytes:
                raise UploadTooLarge(f"body exceeds {settings.upload_max_bytes} bytes")
            pending.append(chunk)
            pending_bytes += len(chunk)
            if pending_bytes >= BUFFER_BYTES:
                await anyio.to_thread.run_sync(sink.write, b"".join(pending))
                pending, pending_bytes = [], 0
        if pending:
            await anyio.to_thread.run_sync(sink.write, b"".join(pending))
        sink.close()
        digest = sink.sha256.hexdigest()
        result = {"size": sink.size, "sha256": digest, "stored": "discarded"}
        if settings.s3_bucket:
            # Content-addressed key: a retried upload of the same bytes lands on the same object.
            key = f"uploads/{digest[:2]}/{digest}"
            try:
                await clients.in_thread(
                    _upload_file, clients.s3(), sink.path, settings.s3_bucket, key, name
                )
            except Exception as exc:  # noqa: BLE001 - any S3 failure is the dependency's
                raise DependencyFailed("s3", f"{type(exc).__name__}: {exc}") from exc
            result["stored"] = f"s3://{settings.s3_bucket}/{key}"
        return result
    finally:
        sink.discard()


def _upload_file(s3, path: str, bucket: str, key: str, name: str | None) -> None:
    from boto3.s3.transfer import TransferConfig

    # S3 metadata travels as HTTP headers: ASCII only.
    safe_name = (name or "").encode("ascii", "ignore").decode()[:200]
    extra = {"Metadata": {"original-name": safe_name}} if safe_name else None
    s3.upload_file(
        path,
        bucket,
        key,
        ExtraArgs=extra,
        Config=TransferConfig(
            multipart_threshold=8 * 1024 * 1024,
            multipart_chunksize=8 * 1024 * 1024,
            max_concurrency=4,
        ),
    )
