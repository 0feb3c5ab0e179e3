"""The real S3 server (Ceph RGW, tests/s3server.py) does what the S3 backend relies on.

Object Lock set at bucket creation; GOVERNANCE retention refusing an early
version delete except for bypass rights; legal hold refusing it even with
bypass; a DELETE without a version id only hiding the object; and a user
without bypass rights unable to delete footage early through the store.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import pytest
from botocore.exceptions import ClientError

pytestmark = pytest.mark.timeout(120)

BODY = b"ciphertext, never plaintext"


def later(seconds: float = 3600) -> datetime:
    return datetime.now(timezone.utc) + timedelta(seconds=seconds)


def put_locked(s3, bucket: str, key: str = "seg", seconds: float = 3600, **extra) -> str:
    """A GOVERNANCE-retained object; returns its version id."""
    response = s3.put_object(Bucket=bucket, Key=key, Body=BODY, ObjectLockMode="GOVERNANCE",
                             ObjectLockRetainUntilDate=later(seconds), **extra)
    return response["VersionId"]


def fails(call, *args, **kwargs) -> tuple[int, str]:
    """Runs a call that must fail; returns (HTTP status, S3 error code)."""
    with pytest.raises(ClientError) as caught:
        call(*args, **kwargs)
    response = caught.value.response
    return response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"]


def refused(call, *args, **kwargs) -> None:
    """Runs a call that Object Lock or a policy must refuse (403 AccessDenied)."""
    assert fails(call, *args, **kwargs) == (403, "AccessDenied")


def versions(s3, bucket: str, key: str = "seg") -> tuple[list[str], list[str]]:
    """(version ids, delete-marker ids) of ``key``."""
    listing = s3.list_object_versions(Bucket=bucket, Prefix=key)
    return ([v["VersionId"] for v in listing.get("Versions", []) if v["Key"] == key],
            [m["VersionId"] for m in listing.get("DeleteMarkers", []) if m["Key"] == key])


def test_object_lock_is_enabled_only_at_bucket_creation(s3_server):
    s3 = s3_server.client()
    locked = s3_server.new_bucket(lock=True)
    assert s3.get_object_lock_configuration(Bucket=locked)["ObjectLockConfiguration"][
        "ObjectLockEnabled"] == "Enabled"
    assert s3.get_bucket_versioning(Bucket=locked)["Status"] == "Enabled"
    assert fails(s3.put_bucket_versioning, Bucket=locked,  # versioning stays on under Object Lock
                 VersioningConfiguration={"Status": "Suspended"}) == (409, "InvalidBucketState")
    assert s3.get_bucket_versioning(Bucket=locked)["Status"] == "Enabled"

    plain = s3_server.new_bucket(lock=False)
    assert fails(s3.get_object_lock_configuration, Bucket=plain) == (
        404, "ObjectLockConfigurationNotFoundError")
    # No retention on a bucket created without Object Lock: the backend cannot lock silently.
    assert fails(put_locked, s3, plain) == (400, "InvalidRequest")


def test_governance_refuses_a_version_delete_without_bypass(s3_server):
    s3 = s3_server.client()
    bucket = s3_server.new_bucket()
    version = put_locked(s3, bucket)
    retention = s3.get_object_retention(Bucket=bucket, Key="seg", VersionId=version)["Retention"]
    assert retention["Mode"] == "GOVERNANCE"

    refused(s3.delete_object, Bucket=bucket, Key="seg", VersionId=version)
    assert s3.get_object(Bucket=bucket, Key="seg", VersionId=version)["Body"].read() == BODY

    s3.delete_object(Bucket=bucket, Key="seg", VersionId=version, BypassGovernanceRetention=True)
    assert versions(s3, bucket) == ([], [])


def test_governance_retention_extends_but_shortens_only_with_bypass(s3_server):
    s3 = s3_server.client()
    bucket = s3_server.new_bucket()
    version = put_locked(s3, bucket, seconds=3600)
    s3.put_object_retention(Bucket=bucket, Key="seg", VersionId=version, Retention={
        "Mode": "GOVERNANCE", "RetainUntilDate": later(7200)})
    shorter = {"Mode": "GOVERNANCE", "RetainUntilDate": later(60)}
    refused(s3.put_object_retention, Bucket=bucket, Key="seg", VersionId=version,
            Retention=shorter)
    s3.put_object_retention(Bucket=bucket, Key="seg", VersionId=version, Retention=shorter,
                            BypassGovernanceRetention=True)
    until = s3.get_object_retention(Bucket=bucket, Key="seg", VersionId=version)[
        "Retention"]["RetainUntilDate"]
    assert until < later(120)


def test_expired_retention_lets_the_version_go_without_bypass(s3_server):
    """The purge deletes at the deadline without bypass rights (RGW's clock, whole seconds)."""
    s3 = s3_server.client()
    bucket = s3_server.new_bucket()
    version = put_locked(s3, bucket, seconds=2)
    refused(s3.delete_object, Bucket=bucket, Key="seg", VersionId=version)
    deadline = time.monotonic() + 15
    while True:
        try:
            s3.delete_object(Bucket=bucket, Key="seg", VersionId=version)
            break
        except ClientError as error:
            assert error.response["Error"]["Code"] == "AccessDenied"
            assert time.monotonic() < deadline, "retention never expired"
            time.sleep(0.25)
    assert versions(s3, bucket) == ([], [])


def test_legal_hold_refuses_the_delete_even_with_bypass_until_off(s3_server):
    s3 = s3_server.client()
    bucket = s3_server.new_bucket()
    held = put_locked(s3, bucket, key="held", ObjectLockLegalHoldStatus="ON")
    refused(s3.delete_object, Bucket=bucket, Key="held", VersionId=held,
            BypassGovernanceRetention=True)
    s3.put_object_legal_hold(Bucket=bucket, Key="held", VersionId=held,
                             LegalHold={"Status": "OFF"})
    s3.delete_object(Bucket=bucket, Key="held", VersionId=held, BypassGovernanceRetention=True)

    # A hold alone (no retention), set after the upload, as approving a hold does.
    plain = s3.put_object(Bucket=bucket, Key="plain", Body=BODY)["VersionId"]
    s3.put_object_legal_hold(Bucket=bucket, Key="plain", VersionId=plain,
                             LegalHold={"Status": "ON"})
    assert s3.get_object_legal_hold(Bucket=bucket, Key="plain", VersionId=plain)[
        "LegalHold"]["Status"] == "ON"
    refused(s3.delete_object, Bucket=bucket, Key="plain", VersionId=plain,
            BypassGovernanceRetention=True)
    s3.put_object_legal_hold(Bucket=bucket, Key="plain", VersionId=plain,
                             LegalHold={"Status": "OFF"})
    s3.delete_object(Bucket=bucket, Key="plain", VersionId=plain)
    assert versions(s3, bucket, "held") == ([], [])
    assert versions(s3, bucket, "plain") == ([], [])


def test_delete_without_version_id_only_adds_a_delete_marker(s3_server):
    s3 = s3_server.client()
    bucket = s3_server.new_bucket()
    version = put_locked(s3, bucket)
    response = s3.delete_object(Bucket=bucket, Key="seg")
    assert response["DeleteMarker"] is True
    kept, markers = versions(s3, bucket)
    assert kept == [version] and len(markers) == 1
    # Hidden from a plain GET ...
    assert fails(s3.get_object, Bucket=bucket, Key="seg") == (404, "NoSuchKey")
    # ... but the footage is still in the store until its version is deleted.
    assert s3.get_object(Bucket=bucket, Key="seg", VersionId=version)["Body"].read() == BODY


def test_a_user_denied_bypass_cannot_delete_a_locked_version(s3_server):
    owner, other = s3_server.client(), s3_server.other_client()
    bucket = s3_server.new_bucket()  # other: object calls allowed, bypass denied
    version = put_locked(other, bucket)
    assert other.get_object(Bucket=bucket, Key="seg")["Body"].read() == BODY

    refused(other.delete_object, Bucket=bucket, Key="seg", VersionId=version)
    refused(other.delete_object, Bucket=bucket, Key="seg", VersionId=version,
            BypassGovernanceRetention=True)
    refused(other.put_object_retention, Bucket=bucket, Key="seg", VersionId=version,
            Retention={"Mode": "GOVERNANCE", "RetainUntilDate": later(5)},
            BypassGovernanceRetention=True)
    assert versions(owner, bucket)[0] == [version]

    # Not a missing permission: other deletes an unlocked version at once ...
    loose = other.put_object(Bucket=bucket, Key="loose", Body=BODY)["VersionId"]
    other.delete_object(Bucket=bucket, Key="loose", VersionId=loose)
    assert versions(owner, bucket, "loose") == ([], [])
    # ... and the owner, who may bypass, deletes the locked one.
    owner.delete_object(Bucket=bucket, Key="seg", VersionId=version,
                        BypassGovernanceRetention=True)
    assert versions(owner, bucket) == ([], [])


def test_pacific_lets_an_allowed_deleter_bypass_unless_explicitly_denied(s3_server):
    """Unlike AWS, RGW 16 needs the explicit Deny in the bucket policy (see tests/s3server.py).

    If this starts failing, RGW has become as strict as AWS: the Deny stays harmless.
    """
    owner, other = s3_server.client(), s3_server.other_client()
    bucket = s3_server.new_bucket(deny_bypass=False)
    version = put_locked(owner, bucket)
    refused(other.delete_object, Bucket=bucket, Key="seg", VersionId=version)
    other.delete_object(Bucket=bucket, Key="seg", VersionId=version,
                        BypassGovernanceRetention=True)
    assert versions(owner, bucket) == ([], [])
