"""Where photo files live: a local directory by default, an S3-compatible bucket by setting.

Both are content-addressed: a file's name is the SHA-256 of its bytes, so storing the same photo
twice keeps one copy, a stored file cannot be changed under its name, and a name reveals
nothing. Which complaint a file belongs to, and who may see it, is the database's business.
"""

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Any, Protocol

from settings import Settings


class Store(Protocol):
    def put(self, data: bytes) -> str:
        """Store ``data``; return its SHA-256 (hex)."""

    def get(self, sha256: str) -> bytes | None:
        """The bytes stored under ``sha256``, or None."""


class LocalStore:
    """Files under ``root/ab/cd/<sha256>``; written to a temporary name, then renamed, so a
    reader never sees half a file."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def put(self, data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        path = self.path(digest)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=path.parent, delete=False) as temporary:
                temporary.write(data)
            os.replace(temporary.name, path)
        return digest

    def get(self, sha256: str) -> bytes | None:
        path = self.path(sha256)
        return path.read_bytes() if path.is_file() else None


class S3Store:
    """Objects named by their SHA-256 in an S3-compatible bucket (AWS, MinIO, Ceph …) through
    boto3, installed with the ``s3`` extra; credentials come from boto3's environment."""

    def __init__(self, bucket: str, endpoint_url: str | None) -> None:
        import boto3  # optional: only deployments that store in S3 install it

        self.bucket = bucket
        self.client: Any = boto3.client("s3", endpoint_url=endpoint_url)

    def put(self, data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        self.client.put_object(Bucket=self.bucket, Key=digest, Body=data)
        return digest

    def get(self, sha256: str) -> bytes | None:
        try:
            return self.client.get_object(Bucket=self.bucket, Key=sha256)["Body"].read()
        except self.client.exceptions.NoSuchKey:
            return None


def make_store(settings: Settings) -> Store:
    if settings.media_store == "s3":
        if not settings.media_s3_bucket:
            raise ValueError("PHANANH_MEDIA_STORE=s3 needs PHANANH_MEDIA_S3_BUCKET")
        return S3Store(settings.media_s3_bucket, settings.media_s3_endpoint_url)
    return LocalStore(settings.media_dir)
