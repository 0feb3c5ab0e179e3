"""The ``[storage]`` section: the local directory, and where ciphertext goes (docs/storage.md).

Pure settings (layer 0): gateway.config imports this module, gateway.vault.backends
applies it. ``path`` stays the gateway's own directory (catalog, export packages)
whatever the backend; ``backend = "s3"`` moves only the sealed segments to a
bucket with Object Lock. Validation reads no file: the secret key file is read
when the backend opens.
"""

from __future__ import annotations

import re
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator

from .strict import StrictModel

#: A prefix is path-like, ends with "/", and names no time, camera or person (docs/scale.md).
PREFIX_RE = re.compile(r"^((?!\.\.?/)[A-Za-z0-9._-]+/)*$")  # no "." or ".." segment
#: S3 bucket names (the DNS-compatible rules AWS and Ceph share).
BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
S3_ONLY = ("endpoint", "bucket", "access_key", "secret_key_file", "ca_file")


class StorageSettings(StrictModel):
    path: str = Field(description="directory for the catalog (catalog.sqlite3), export "
                      "packages and, with backend = local, the ciphertext segments")
    max_segment_bytes: int = Field(256 * 1024 * 1024, gt=0, le=4 * 1024**3)
    min_free_bytes: int = Field(
        512 * 1024 * 1024, ge=0, description="refuse uploads (507) below this much free space "
                                             "(on the storage directory's volume)")
    backend: Literal["local", "s3"] = Field(
        "local", description="local: segments under path/segments; s3: segments in an S3 "
                             "bucket with Object Lock (docs/storage.md, \"S3\")")
    endpoint: str | None = Field(
        None, description="s3: the service URL (https://...; http:// only to 127.0.0.1 or "
                          "localhost); unset: AWS for the region")
    region: str = Field("us-east-1", pattern=r"^[a-z0-9-]{1,32}$", description="s3: region")
    bucket: str | None = Field(None, description="s3: a bucket created with Object Lock enabled")
    prefix: str = Field(
        "", max_length=200, description="s3: key prefix of this gateway, ending in '/' (one "
                                        "per gateway when branches share a bucket)")
    access_key: str | None = Field(
        None, max_length=128, description="s3: access key id; unset: AWS_ACCESS_KEY_ID")
    secret_key_file: str | None = Field(
        None, description="s3: file holding the secret key (0600); unset: "
                          "AWS_SECRET_ACCESS_KEY")
    verify_tls: bool = Field(True, description="s3: verify the endpoint's certificate")
    ca_file: str | None = Field(None, description="s3: CA bundle for a private endpoint")
    timeout_s: float = Field(10.0, gt=0, le=120, description="s3: connect and read timeout")

    @field_validator("prefix")
    @classmethod
    def _prefix(cls, v: str) -> str:
        if not PREFIX_RE.match(v):
            raise ValueError("must be empty or path segments of letters, digits, '.', '_' or "
                             "'-' (not '.' or '..'), each ending in '/' (e.g. 'branch-a/')")
        return v

    @field_validator("bucket")
    @classmethod
    def _bucket(cls, v: str | None) -> str | None:
        if v is not None and not BUCKET_RE.match(v):
            raise ValueError("not a valid bucket name (3-63 of a-z, 0-9, '.', '-')")
        return v

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, v: str | None) -> str | None:
        if v is None:
            return v
        u = urlsplit(v)
        if u.scheme not in ("http", "https") or not u.hostname or u.username or u.password:
            raise ValueError("must be an http(s) URL without credentials in it")
        if u.scheme == "http" and u.hostname not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError("plain http only to this host (127.0.0.1): footage is sealed, but "
                             "credentials and object names would cross the network in the clear")
        return v

    @model_validator(mode="after")
    def _backend_keys(self) -> "StorageSettings":
        if self.backend == "s3" and self.bucket is None:
            raise ValueError("backend = \"s3\" needs bucket")
        if self.backend == "local":
            given = [k for k in S3_ONLY if getattr(self, k) is not None] + (
                ["prefix"] if self.prefix else [])
            if given:
                raise ValueError(f"{', '.join(given)}: only with backend = \"s3\"")
        if (self.access_key is None) != (self.secret_key_file is None):
            raise ValueError("access_key and secret_key_file go together (or set neither "
                             "and use AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY)")
        return self
