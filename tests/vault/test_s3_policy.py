"""The bucket policy in docs/operations.md ("Object storage"), applied as written to a real
Ceph RGW bucket shared by two branch gateways: each runs under its own user with rights
on its own prefix only, and cannot destroy, unlock or even read the other's footage."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

from conftest import auth, camera, write_policy
from gateway.app import create_app
from gateway.clock import US, FakeClock
from gateway.config import parse_settings
from gateway.media import synth
from gateway.segments import store_loop
from gateway.segments.purge import purge_once
from gateway.web.appkeys import RUNTIME
from s3server import client

DOC = Path(__file__).resolve().parents[2] / "docs" / "operations.md"


def documented_policy(bucket: str, prefix: str, gateway: str, other: str) -> list[dict]:
    block = re.search(r"<!-- bucket-policy -->\s*```json\n(.*?)```", DOC.read_text(), re.S)
    assert block, "docs/operations.md lost its bucket policy block"
    text = (block[1].replace("BUCKET", bucket).replace("PREFIX", prefix)
            .replace("GATEWAY", gateway).replace("OTHER", other))
    return json.loads(text)["Statement"]


def settings(tmp_path: Path, s3_server, bucket: str, prefix: str, access: str, secret: str):
    write_policy(tmp_path / "policies")
    f = tmp_path / "s3.secret"
    f.write_text(secret)
    f.chmod(0o600)
    return parse_settings({
        "storage": {"path": str(tmp_path / "data"), "backend": "s3",
                    "endpoint": s3_server.endpoint, "region": s3_server.region,
                    "bucket": bucket, "prefix": prefix, "access_key": access,
                    "secret_key_file": str(f)},
        "policies_dir": str(tmp_path / "policies"), "cameras": [camera()]})


async def test_two_branches_share_a_bucket_under_the_documented_policy(
        s3_server, aiohttp_client, tmp_path):
    stamp = str(int(time.time() * 1000))[-8:]
    a_user, b_user = f"branch-a-{stamp}", f"branch-b-{stamp}"
    it_user = f"central-it-{stamp}"   # e.g. a backup job: broad rights on the whole bucket
    a_keys, b_keys = s3_server.add_user(a_user), s3_server.add_user(b_user)
    it_keys = s3_server.add_user(it_user)
    bucket = f"cctv-{stamp}"
    owner = s3_server.client()
    owner.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    statements = (documented_policy(bucket, "branch-a/", a_user, b_user)
                  + documented_policy(bucket, "branch-a/", a_user, it_user)[-1:]
                  + documented_policy(bucket, "branch-b/", b_user, a_user)
                  + [{"Sid": "CentralIt", "Effect": "Allow",
                      "Principal": {"AWS": [f"arn:aws:iam:::user/{it_user}"]},
                      "Action": ["s3:ListBucket", "s3:ListBucketVersions", "s3:GetObject",
                                 "s3:GetObjectVersion", "s3:DeleteObjectVersion",
                                 "s3:PutObjectLegalHold"],
                      "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"]}])
    for i, st in enumerate(statements):
        st["Sid"] += str(i)
    owner.put_bucket_policy(Bucket=bucket, Policy=json.dumps(
        {"Version": "2012-10-17", "Statement": statements}))

    clock = FakeClock(start_us=int(time.time() * US))
    app = create_app(settings(tmp_path, s3_server, bucket, "branch-a/", *a_keys), clock=clock,
                     run_loops=False)
    http = await aiohttp_client(app)
    r = await http.post("/api/v1/cameras/lobby/segments",
                        data=synth.make_segment(1.0, 10, 160, 96), headers=auth())
    assert r.status == 201, await r.text()
    uid = (await r.json())["id"]
    key = f"branch-a/segments/{uid}.fgs"
    store = app[RUNTIME].storage
    store.probe()
    store.set_legal_hold(uid, True)                      # what an approved hold does
    assert store.legal_hold(uid)

    # Branch B's gateway: nothing of branch A's is within its reach.
    b = client(s3_server.endpoint, *b_keys, s3_server.region)
    [version] = owner.list_object_versions(Bucket=bucket, Prefix=key)["Versions"]
    attempts = {
        "list": lambda: b.list_object_versions(Bucket=bucket, Prefix="branch-a/"),
        "read": lambda: b.get_object(Bucket=bucket, Key=key),
        "lift the legal hold": lambda: b.put_object_legal_hold(
            Bucket=bucket, Key=key, LegalHold={"Status": "OFF"}),
        "delete the version": lambda: b.delete_object(
            Bucket=bucket, Key=key, VersionId=version["VersionId"],
            BypassGovernanceRetention=True),
    }
    for what, call in attempts.items():
        with pytest.raises(Exception, match="AccessDenied") as err:
            call()
        assert "AccessDenied" in str(err.value), what
    assert store.legal_hold(uid)
    # Central IT may read (a backup of ciphertext), never destroy or unlock early: the Deny.
    it = client(s3_server.endpoint, *it_keys, s3_server.region)
    assert it.get_object(Bucket=bucket, Key=key)["Body"].read() == store.get(uid)
    it_attempts = {
        "lift the legal hold": lambda: it.put_object_legal_hold(
            Bucket=bucket, Key=key, LegalHold={"Status": "OFF"}),
        "delete the version": lambda: it.delete_object(
            Bucket=bucket, Key=key, VersionId=version["VersionId"],
            BypassGovernanceRetention=True),
    }
    for what, call in it_attempts.items():
        with pytest.raises(Exception) as err:
            call()
        assert "AccessDenied" in str(err.value), what
    # Control: where no Deny covers a prefix, RGW lets that Allow of s3:DeleteObjectVersion
    # bypass GOVERNANCE (shared/ceph-rgw.md): the Deny above is what protects branch A.
    locked = owner.put_object(Bucket=bucket, Key="unprotected/x", Body=b"x",
                              ObjectLockMode="GOVERNANCE",
                              ObjectLockRetainUntilDate=time.time() + 3600)
    it.delete_object(Bucket=bucket, Key="unprotected/x", VersionId=locked["VersionId"],
                     BypassGovernanceRetention=True)
    assert "Versions" not in owner.list_object_versions(Bucket=bucket, Prefix="unprotected/")
    # ... but B works in its own prefix.
    b.put_object(Bucket=bucket, Key="branch-b/segments/x.fgs", Body=b"b's ciphertext")

    # Branch A's gateway destroys its own footage on time: the hold lifted, every version gone.
    clock.advance(6)
    out = await purge_once(app[RUNTIME])
    await store_loop.retry_deletes(app[RUNTIME])
    assert [s.uid for s in out.destroyed] == [uid]
    assert "Versions" not in owner.list_object_versions(Bucket=bucket, Prefix="branch-a/")
