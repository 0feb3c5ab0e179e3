"""Sealed segments in an S3 bucket with Object Lock (docs/storage.md, "S3").

Only ciphertext is uploaded, under ``PREFIX segments/<random uid>.fgs``: no
time, camera or person in a name. Data keys stay in the local catalog, so a
purge is a crypto-shred the moment the key is erased, whatever the store does
afterwards. Object Lock mirrors the gateway's promises on the store itself:
each object is written with GOVERNANCE retention until its deadline (never
COMPLIANCE: that would forbid destroying footage at the shortest permitted
retention when a policy shortens); an active hold puts a legal hold on it; a
purge deletes every *version* (a plain DELETE only adds a delete marker) and
checks none is left.

boto3 in a thread pool, not aiobotocore: the ``Storage`` calls are synchronous
because start-up recovery, ``check`` and the CLI run them outside the event
loop too; botocore's client is thread-safe; and aiobotocore pins exact
botocore releases, which tends to hold the whole dependency set back.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import stat
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

from ..errors import ConfigError, StoreUnavailable
from ..storage_settings import StorageSettings
from .storage import SUFFIX, UID_RE

log = logging.getLogger(__name__)

#: Under the gateway's prefix; other gateways' prefixes are never listed.
SEGMENTS = "segments/"
#: Error codes that mean "no such object/version" (botocore gives the HTTP status for HEAD).
MISSING = {"NoSuchKey", "NoSuchVersion", "404", "NotFound"}
#: What a legal-hold or retention read answers for an object that never had one
#: (AWS: NoSuchObjectLockConfiguration; Ceph RGW: ObjectLockConfigurationNotFoundError).
NO_LOCK = ("NoSuchObjectLockConfiguration", "ObjectLockConfigurationNotFoundError")


class StoreRefused(Exception):
    """The store answered, and said no (credentials, permissions, a lock, a bad bucket)."""


def _when(us: int) -> datetime:
    return datetime.fromtimestamp(us / 1_000_000, tz=timezone.utc)


def read_secret(path: str) -> str:
    """The secret key file: it must exist and be readable by its owner only."""
    p = Path(path)
    try:
        st = p.stat()
        text = p.read_text(encoding="utf-8").strip()
    except OSError as err:
        raise ConfigError(f"storage.secret_key_file {p}: {err.strerror}") from None
    if stat.S_IMODE(st.st_mode) & 0o077:
        raise ConfigError(f"storage.secret_key_file {p} is readable by others "
                          f"(mode {stat.S_IMODE(st.st_mode):o}); chmod 600 it")
    if not text:
        raise ConfigError(f"storage.secret_key_file {p} is empty")
    return text


def make_client(s: StorageSettings):
    """A boto3 S3 client for these settings; credentials never reach a log line."""
    import boto3
    from botocore.config import Config

    cfg = Config(
        region_name=s.region, connect_timeout=s.timeout_s, read_timeout=s.timeout_s,
        retries={"max_attempts": 3, "mode": "standard"}, max_pool_connections=16,
        s3={"addressing_style": "path"},
        # Ceph RGW (Pacific) cannot read aws-chunked trailing checksums; the calls that
        # need a checksum (legal hold, retention) still get one (shared/ceph-rgw.md).
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )
    creds: dict[str, Any] = {}
    if s.access_key is not None and s.secret_key_file is not None:
        creds = {"aws_access_key_id": s.access_key,
                 "aws_secret_access_key": read_secret(s.secret_key_file)}
    verify: bool | str = s.ca_file if (s.verify_tls and s.ca_file) else s.verify_tls
    return boto3.session.Session().client("s3", endpoint_url=s.endpoint, config=cfg,
                                          verify=verify, **creds)


class S3Storage:
    """The ``Storage`` calls on ``bucket`` under ``prefix`` (gateway.vault.storage)."""

    kind = "s3"
    locks = True
    defer_deletes = True

    def __init__(self, settings: StorageSettings, client=None) -> None:
        assert settings.bucket is not None
        self.bucket = settings.bucket
        self.prefix = settings.prefix
        self.client = client if client is not None else make_client(settings)

    def __repr__(self) -> str:  # never the client (it holds the credentials)
        return f"S3Storage(bucket={self.bucket!r}, prefix={self.prefix!r})"

    # -------------------------------------------------------------- plumbing

    def key(self, uid: str) -> str:
        if not UID_RE.match(uid):
            raise ValueError(f"not a segment uid: {uid!r}")
        return f"{self.prefix}{SEGMENTS}{uid}{SUFFIX}"

    def _call(self, op: str, **kw):
        """One S3 call. FileNotFoundError when the object or version is missing,
        StoreRefused when the store said no, StoreUnavailable when it did not answer
        (or answered 5xx)."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return getattr(self.client, op)(Bucket=self.bucket, **kw)
        except ClientError as err:
            code = str(err.response.get("Error", {}).get("Code", ""))
            status = int(err.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
            if code in MISSING:
                raise FileNotFoundError(f"s3://{self.bucket}/{kw.get('Key', '')}") from None
            if status >= 500 or code in ("SlowDown", "RequestTimeout", "ServiceUnavailable"):
                raise StoreUnavailable(f"the object store failed {op} ({code or status}); "
                                       "retry shortly") from None
            raise StoreRefused(f"the object store refused {op}: {code or status}") from None
        except BotoCoreError as err:
            # EndpointConnectionError, timeouts, NoCredentialsError: names the endpoint at most.
            raise StoreUnavailable(f"the object store is unreachable ({type(err).__name__}) "
                                   f"during {op}") from None

    def check_bucket(self) -> None:
        """At start: the bucket exists and has Object Lock (so versioning) enabled."""
        try:
            conf = self._call("get_object_lock_configuration")
        except (FileNotFoundError, StoreRefused) as err:
            raise ConfigError(
                f"storage.bucket {self.bucket!r}: no Object Lock configuration ({err}). "
                "Create the bucket with Object Lock enabled (aws s3api create-bucket "
                "--object-lock-enabled-for-bucket): it cannot be added later") from None
        enabled = conf.get("ObjectLockConfiguration", {}).get("ObjectLockEnabled")
        if enabled != "Enabled":
            raise ConfigError(f"storage.bucket {self.bucket!r} does not have Object Lock "
                              "enabled; create a new bucket with it")

    # -------------------------------------------------------------- the Storage calls

    def put(self, uid: str, blob: bytes, *, retain_until_us: int | None = None) -> None:
        """One PUT (atomic on S3) with GOVERNANCE retention until the deadline."""
        kw: dict[str, Any] = {
            "Key": self.key(uid), "Body": blob, "ContentType": "application/octet-stream",
            # Object Lock PUTs need an integrity header on AWS; MD5 is what every S3 reads.
            "ContentMD5": base64.b64encode(hashlib.md5(blob).digest()).decode()}
        if retain_until_us is not None:
            kw |= {"ObjectLockMode": "GOVERNANCE",
                   "ObjectLockRetainUntilDate": _when(retain_until_us)}
        try:
            self._call("put_object", **kw)
        except StoreUnavailable as err:
            raise StoreUnavailable(f"{err.message}; nothing was stored") from None
        except StoreRefused as err:
            raise StoreUnavailable(f"{err}; check the gateway's S3 credentials and "
                                   "permissions (nothing was stored)") from None

    def get(self, uid: str) -> bytes:
        key = self.key(uid)
        try:
            return self._call("get_object", Key=key)["Body"].read()
        except FileNotFoundError:
            # A plain DELETE through the store hides the object behind a delete marker;
            # the locked version is still there: read it (``check`` reports the marker).
            vid = next((v for v, marker in self._versions(key) if not marker), None)
            if vid is None:
                raise
            return self._call("get_object", Key=key, VersionId=vid)["Body"].read()

    def _versions(self, key: str) -> list[tuple[str, bool]]:
        """(version id, is a delete marker) of every version of exactly ``key``."""
        out: list[tuple[str, bool]] = []
        kw: dict[str, Any] = {"Prefix": key}
        while True:
            page = self._call("list_object_versions", **kw)
            out += [(v["VersionId"], False) for v in page.get("Versions", [])
                    if v["Key"] == key]
            out += [(v["VersionId"], True) for v in page.get("DeleteMarkers", [])
                    if v["Key"] == key]
            if not page.get("IsTruncated"):
                return out
            kw = {"Prefix": key, "KeyMarker": page["NextKeyMarker"],
                  "VersionIdMarker": page["NextVersionIdMarker"]}

    def delete(self, uid: str) -> bool:
        """Delete every version (and delete marker) of the object, then check none is left.

        The retention is bypassed: the gateway decides destruction (GOVERNANCE keeps
        everyone *else* out). A legal hold still on (its release did not reach the
        store) is lifted first: the catalog, not the store, says whether a hold lives.
        """
        key = self.key(uid)
        versions = self._versions(key)
        for vid, marker in versions:
            self._delete_version(key, vid, marker)
        left = self._versions(key)
        if left:
            raise StoreUnavailable(f"{len(left)} version(s) of {key} survived their deletion")
        return any(not marker for _v, marker in versions)

    def _delete_version(self, key: str, vid: str, marker: bool) -> None:
        kw = {"Key": key, "VersionId": vid}
        if marker:
            self._call("delete_object", **kw)
            return
        try:
            self._call("delete_object", BypassGovernanceRetention=True, **kw)
        except StoreRefused:
            if not self._legal_hold(kw):
                raise
            self._call("put_object_legal_hold", LegalHold={"Status": "OFF"}, **kw)
            self._call("delete_object", BypassGovernanceRetention=True, **kw)

    def discard(self, uid: str) -> None:
        self.delete(uid)

    def _pages(self) -> Iterator[dict]:
        kw: dict[str, Any] = {"Prefix": self.prefix + SEGMENTS}
        while True:
            page = self._call("list_object_versions", **kw)
            yield page
            if not page.get("IsTruncated"):
                return
            kw = {"Prefix": self.prefix + SEGMENTS, "KeyMarker": page["NextKeyMarker"],
                  "VersionIdMarker": page["NextVersionIdMarker"]}

    def _uid_of(self, key: str) -> str | None:
        name = key[len(self.prefix + SEGMENTS):]
        uid = name[: -len(SUFFIX)] if name.endswith(SUFFIX) else ""
        return uid if UID_RE.match(uid) else None

    def uids(self) -> Iterator[str]:
        """Every segment with at least one version (hidden behind a marker or not), in uid
        order: S3 lists keys in UTF-8 binary order, and all of a key's versions together."""
        seen: set[str] = set()
        for page in self._pages():
            for v in page.get("Versions", []):
                uid = self._uid_of(v["Key"])
                if uid is not None and uid not in seen:
                    seen.add(uid)
                    yield uid

    def version_problems(self) -> list[str]:
        """What someone did through the store, from one listing: objects with more than
        one version or a delete marker, and keys under our prefix that name no segment.
        ``check`` reports them (``strays`` is left empty so the bucket is listed once)."""
        versions: dict[str, int] = {}
        markers: set[str] = set()
        for page in self._pages():
            for v in page.get("Versions", []):
                versions[v["Key"]] = versions.get(v["Key"], 0) + 1
            markers |= {m["Key"] for m in page.get("DeleteMarkers", [])}
        out = [f"{k}: {n} versions (the gateway writes one)" for k, n in versions.items() if n > 1]
        out += [f"{k}: a delete marker hides it (deleted through the store, not by the "
                "gateway; the locked version is kept)" for k in sorted(markers)]
        out += [f"{k}: not a segment the gateway wrote (move it out of the prefix)"
                for k in sorted(versions) if self._uid_of(k) is None]
        return out

    def strays(self) -> list[str]:
        return []  # in version_problems, from the same listing

    def size(self, uid: str) -> int:
        return int(self._call("head_object", Key=self.key(uid))["ContentLength"])

    def sha256(self, uid: str) -> str:
        h = hashlib.sha256()
        body = self._call("get_object", Key=self.key(uid))["Body"]
        for chunk in body.iter_chunks(1 << 20):
            h.update(chunk)
        return h.hexdigest()

    def free_bytes(self) -> None:
        return None

    def temp_files(self) -> list[Path]:
        return []  # a PUT is atomic: nothing half-written is ever visible

    def set_legal_hold(self, uid: str, on: bool) -> None:
        self._call("put_object_legal_hold", Key=self.key(uid),
                   LegalHold={"Status": "ON" if on else "OFF"})

    def extend_retention(self, uid: str, until_us: int) -> None:
        self._call("put_object_retention", Key=self.key(uid),
                   Retention={"Mode": "GOVERNANCE", "RetainUntilDate": _when(until_us)})

    def legal_hold(self, uid: str) -> bool:
        return self._legal_hold({"Key": self.key(uid)})

    def _legal_hold(self, kw: dict) -> bool:
        try:
            got = self._call("get_object_legal_hold", **kw).get("LegalHold", {})
        except StoreRefused as err:
            if any(code in str(err) for code in NO_LOCK):
                return False  # never had one
            raise
        return got.get("Status") == "ON"

    def retention(self, uid: str) -> tuple[str, datetime] | None:
        try:
            r = self._call("get_object_retention", Key=self.key(uid))["Retention"]
        except StoreRefused as err:
            if any(code in str(err) for code in NO_LOCK):
                return None
            raise
        return r["Mode"], r["RetainUntilDate"]

    def probe(self) -> None:
        """One cheap call that proves the bucket answers (StoreUnavailable otherwise):
        a listing of one key under our prefix, which a prefix-scoped policy allows
        (HeadBucket needs s3:ListBucket on the whole bucket)."""
        self._call("list_objects_v2", Prefix=self.prefix + SEGMENTS, MaxKeys=1)

    def close(self) -> None:
        self.client.close()

