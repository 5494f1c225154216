"""Where attachment blobs live: a local folder by default, an S3-compatible object store
(MinIO, Ceph RGW, a cloud's S3 API) when configured. Either way a blob's name is its sha256,
so a file is stored once however often it is uploaded, and a write is all or nothing."""

from __future__ import annotations

import asyncio
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

_SHA256 = re.compile(r"[0-9a-f]{64}")


def _checked(sha256: str) -> str:
    # The name becomes a path or key: only a real hex digest may reach it.
    if not _SHA256.fullmatch(sha256):
        raise ValueError(f"not a sha256 hex digest: {sha256!r}")
    return sha256


class BlobStore(Protocol):
    async def put(self, sha256: str, data: bytes, content_type: str) -> bool:
        """Store the blob unless it is there; True when this call wrote it."""

    async def get(self, sha256: str) -> bytes:
        """The blob's bytes; FileNotFoundError when missing."""

    async def has(self, sha256: str) -> bool: ...

    def describe(self) -> str: ...


@dataclass(frozen=True)
class LocalStore:
    """Blobs under ``root/ab/cd/<sha256>``: written to a temporary file in the same folder and
    renamed into place, so a reader never sees half a file and two writers race harmlessly."""

    root: Path

    def path(self, sha256: str) -> Path:
        name = _checked(sha256)
        return self.root / name[:2] / name[2:4] / name

    def _put(self, sha256: str, data: bytes) -> bool:
        target = self.path(sha256)
        if target.exists():
            return False
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".part-")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return True

    async def put(self, sha256: str, data: bytes, content_type: str) -> bool:
        return await asyncio.to_thread(self._put, sha256, data)

    async def get(self, sha256: str) -> bytes:
        return await asyncio.to_thread(self.path(sha256).read_bytes)

    async def has(self, sha256: str) -> bool:
        return await asyncio.to_thread(self.path(sha256).exists)

    def describe(self) -> str:
        return f"folder {self.root}"


class S3Store:
    """Blobs as objects ``<prefix><sha256>`` in one bucket, through boto3 (the maintained AWS
    SDK, which speaks to any S3-compatible server given its endpoint). boto3 is synchronous:
    its calls run in a worker thread."""

    def __init__(
        self,
        *,
        endpoint: str,
        bucket: str,
        access_key: str | None,
        secret_key: str | None,
        region: str,
        prefix: str = "",
    ) -> None:
        import boto3
        from botocore.config import Config

        self.bucket, self.prefix, self.endpoint = bucket, prefix, endpoint
        self._client: Any = boto3.client(
            "s3",
            endpoint_url=endpoint,
            aws_access_key_id=access_key,
            aws_secret_access_key=secret_key,
            region_name=region,
            # Path-style addressing: MinIO and most on-premises stores expect it.
            config=Config(
                s3={"addressing_style": "path"},
                retries={"max_attempts": 3, "mode": "standard"},
                connect_timeout=5,
                read_timeout=30,
            ),
        )

    def key(self, sha256: str) -> str:
        return self.prefix + _checked(sha256)

    def _has(self, sha256: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self._client.head_object(Bucket=self.bucket, Key=self.key(sha256))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in {"404", "NoSuchKey", "NotFound"}:
                return False
            raise
        return True

    def _put(self, sha256: str, data: bytes, content_type: str) -> bool:
        import base64
        import hashlib

        if self._has(sha256):
            return False
        # Content-MD5 lets the store refuse a body damaged on the way.
        md5 = base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode()
        self._client.put_object(
            Bucket=self.bucket,
            Key=self.key(sha256),
            Body=data,
            ContentType=content_type,
            ContentMD5=md5,
        )
        return True

    def _get(self, sha256: str) -> bytes:
        from botocore.exceptions import ClientError

        try:
            answer = self._client.get_object(Bucket=self.bucket, Key=self.key(sha256))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in {"404", "NoSuchKey", "NotFound"}:
                raise FileNotFoundError(self.key(sha256)) from None
            raise
        body: bytes = answer["Body"].read()
        return body

    async def put(self, sha256: str, data: bytes, content_type: str) -> bool:
        return await asyncio.to_thread(self._put, sha256, data, content_type)

    async def get(self, sha256: str) -> bytes:
        return await asyncio.to_thread(self._get, sha256)

    async def has(self, sha256: str) -> bool:
        return await asyncio.to_thread(self._has, sha256)

    def describe(self) -> str:
        return f"S3 {self.endpoint} bucket {self.bucket}"


class Remembered:
    """A store that remembers which blobs it has stored or seen: blobs are named by their
    sha256 and never change or go away, so one known to be there is not asked for again (for
    a folder that is a thread hop and a ``stat``; for S3 a HEAD request). Bounded: the memory
    is dropped when it grows past ``limit`` names."""

    def __init__(self, inner: BlobStore, limit: int = 100_000) -> None:
        self.inner, self.limit = inner, limit
        self._known: set[str] = set()

    def _remember(self, sha256: str) -> None:
        if len(self._known) >= self.limit:
            self._known.clear()
        self._known.add(sha256)

    async def put(self, sha256: str, data: bytes, content_type: str) -> bool:
        if sha256 in self._known:
            return False
        wrote = await self.inner.put(sha256, data, content_type)
        self._remember(sha256)
        return wrote

    async def get(self, sha256: str) -> bytes:
        return await self.inner.get(sha256)

    async def has(self, sha256: str) -> bool:
        if sha256 in self._known:
            return True
        found = await self.inner.has(sha256)
        if found:
            self._remember(sha256)
        return found

    def describe(self) -> str:
        return self.inner.describe()


def open_store(
    *,
    folder: Path,
    s3_endpoint: str | None = None,
    s3_bucket: str | None = None,
    s3_access_key: str | None = None,
    s3_secret_key: str | None = None,
    s3_region: str = "us-east-1",
    s3_prefix: str = "",
) -> BlobStore:
    """The configured store: S3 when an endpoint and bucket are given, else the folder."""
    if s3_endpoint and s3_bucket:
        return S3Store(
            endpoint=s3_endpoint,
            bucket=s3_bucket,
            access_key=s3_access_key,
            secret_key=s3_secret_key,
            region=s3_region,
            prefix=s3_prefix,
        )
    return LocalStore(Path(folder))
