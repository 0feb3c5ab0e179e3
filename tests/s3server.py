"""A real S3 server with Object Lock (single-node Ceph RADOS Gateway) for the tests.

``s3_server`` (session scope) starts one cluster with ``scripts/ceph-rgw.sh`` in
a temp dir and stops it when the session ends, whether tests pass or fail; the
script's watcher stops it too when the pytest process is killed. Tests skip with
a reason when Ceph's packages are not installed (scripts/install-system-deps.sh
installs them as root). Locked versions can never be emptied out of a bucket:
use ``new_bucket()`` per test, never a shared bucket.

Two users: the owner (``access_key``) creates every bucket and may bypass
GOVERNANCE retention, as a bucket owner on AWS may; ``other`` owns nothing and
acts on a bucket only through the policy ``new_bucket`` puts on it, which
allows the object calls and explicitly denies s3:BypassGovernanceRetention
(Pacific lets an Allow of s3:DeleteObjectVersion bypass GOVERNANCE otherwise).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import boto3
import pytest
from botocore.config import Config

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "ceph-rgw.sh"
PROGRAMS = ("ceph-mon", "ceph-osd", "radosgw", "radosgw-admin", "ceph", "ceph-authtool",
            "monmaptool")

#: The object calls ``other`` may make on a ``new_bucket``; bypass is denied.
OTHER_ACTIONS = ("s3:ListBucket", "s3:ListBucketVersions", "s3:GetObject", "s3:GetObjectVersion",
                 "s3:PutObject", "s3:DeleteObject", "s3:DeleteObjectVersion",
                 "s3:GetObjectRetention", "s3:PutObjectRetention",
                 "s3:GetObjectLegalHold", "s3:PutObjectLegalHold")


def client(endpoint: str, access: str, secret: str, region: str = "default") -> Any:
    """A boto3 S3 client configured for the gateway's use of RGW (and AWS).

    Checksums only when an operation requires them: recent botocore otherwise
    sends aws-chunked trailing checksums that Pacific RGW cannot read.
    """
    config = Config(request_checksum_calculation="when_required",
                    response_checksum_validation="when_required",
                    s3={"addressing_style": "path"},
                    retries={"max_attempts": 2, "mode": "standard"},
                    connect_timeout=5, read_timeout=30)
    return boto3.client("s3", endpoint_url=endpoint, region_name=region,
                        aws_access_key_id=access, aws_secret_access_key=secret, config=config)


def other_policy(bucket: str, other_uid: str, deny_bypass: bool = True) -> str:
    """The bucket policy giving ``other_uid`` the object calls (and, unless told, no bypass)."""
    principal = {"AWS": [f"arn:aws:iam:::user/{other_uid}"]}
    resources = [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"]
    statements = [{"Sid": "OtherObjectCalls", "Effect": "Allow", "Principal": principal,
                   "Action": list(OTHER_ACTIONS), "Resource": resources}]
    if deny_bypass:
        statements.append({"Sid": "OtherNeverBypasses", "Effect": "Deny", "Principal": principal,
                           "Action": ["s3:BypassGovernanceRetention"], "Resource": resources})
    return json.dumps({"Version": "2012-10-17", "Statement": statements})


@dataclass(frozen=True)
class S3Server:
    """Connection facts of a running cluster (as in its s3.json)."""

    endpoint: str
    region: str
    access_key: str
    secret_key: str
    other_access_key: str
    other_secret_key: str
    other_uid: str = "other"
    directory: Path | None = None

    def add_user(self, uid: str) -> tuple[str, str]:
        """Another S3 user on this cluster (as a branch gateway would be): its keys."""
        import secrets
        access = secrets.token_hex(10).upper()
        secret = secrets.token_urlsafe(30)
        subprocess.run(["radosgw-admin", "-c", str(self.directory / "ceph.conf"), "user",
                        "create", "--uid", uid, "--display-name", uid, "--access-key", access,
                        "--secret-key", secret], check=True, capture_output=True, timeout=60,
                       stdin=subprocess.DEVNULL)
        return access, secret

    def client(self) -> Any:
        """A client with the owner's credentials."""
        return client(self.endpoint, self.access_key, self.secret_key, self.region)

    def other_client(self) -> Any:
        """A client with the restricted user's credentials."""
        return client(self.endpoint, self.other_access_key, self.other_secret_key, self.region)

    def new_bucket(self, lock: bool = True, deny_bypass: bool = True) -> str:
        """A fresh, uniquely named bucket (Object Lock on unless told) that ``other`` may use."""
        name = f"fgw-{uuid.uuid4().hex[:20]}"
        s3 = self.client()
        if lock:
            s3.create_bucket(Bucket=name, ObjectLockEnabledForBucket=True)
        else:
            s3.create_bucket(Bucket=name)
        s3.put_bucket_policy(Bucket=name, Policy=other_policy(name, self.other_uid, deny_bypass))
        return name


def packages_missing() -> str | None:
    """Why the cluster cannot run here, or None."""
    missing = [p for p in PROGRAMS if shutil.which(p) is None]
    if missing:
        return (f"Ceph is not installed (missing {', '.join(missing)}): run "
                "scripts/install-system-deps.sh as root (apt: ceph-mon ceph-osd radosgw)")
    if not os.access("/usr/bin/python3", os.X_OK):
        return "/usr/bin/python3 not found (scripts/ceph-rgw.sh needs it)"
    return None


def start(directory: Path, watch_pid: int | None = None) -> dict[str, Any]:
    """Start a cluster in ``directory``; returns its s3.json facts."""
    command = ["bash", str(SCRIPT), "start", str(directory)]
    if watch_pid is not None:
        command += ["--watch", str(watch_pid)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=180,
                            stdin=subprocess.DEVNULL)
    if result.returncode != 0:
        raise RuntimeError(f"ceph-rgw.sh start failed ({result.returncode}): "
                           f"{result.stderr.strip()[-2000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def stop(directory: Path) -> None:
    """Stop the cluster in ``directory`` and remove the directory."""
    subprocess.run(["bash", str(SCRIPT), "stop", str(directory)], capture_output=True,
                   text=True, timeout=60, stdin=subprocess.DEVNULL, check=True)


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """One Ceph RGW for the whole session, stopped at its end even when tests fail."""
    reason = packages_missing()
    if reason:
        pytest.skip(reason)
    # A short path: admin sockets live inside and Unix socket paths are limited.
    # `stop` removes the directory, as the script's watcher does if pytest is killed.
    directory = Path(tempfile.mkdtemp(prefix="fgw-ceph-"))
    try:
        try:
            facts = start(directory, watch_pid=os.getpid())
        except (RuntimeError, subprocess.TimeoutExpired) as error:
            pytest.fail(f"the Ceph S3 server did not start: {error}", pytrace=False)
        yield S3Server(endpoint=facts["endpoint"], region=facts["region"],
                       access_key=facts["access_key"], secret_key=facts["secret_key"],
                       other_access_key=facts["other_access_key"],
                       other_secret_key=facts["other_secret_key"], other_uid=facts["other_uid"],
                       directory=directory)
    finally:
        stop(directory)
