"""The S3 backend against a real S3 server with Object Lock (Ceph RGW, tests/s3server.py).

What each test proves is what a library relies on when footage leaves the NVR's
disk: only ciphertext under names that say nothing; GOVERNANCE retention to the
deadline, so other credentials cannot delete early through the store; a legal
hold while a hold is active; every version gone after a purge; and a store that
goes away refuses uploads (503, nothing kept) while purges still destroy (the
key) and owe the deletion until the store is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from conftest import auth, camera, write_policy
from gateway.app import create_app
from gateway.catalog import segments as seg_sql
from gateway.catalog import store as store_sql
from gateway.clock import US, FakeClock
from gateway.config import parse_settings
from gateway.media import synth
from gateway.segments import store_loop
from gateway.segments.purge import purge_once
from gateway.segments.recovery import recover
from gateway.vault.s3 import S3Storage
from gateway.web.appkeys import CATALOG, RUNTIME

KEY_RE = re.compile(r"^branch-a/segments/[0-9a-f]{32}\.fgs$")


class Proxy:
    """A TCP proxy in front of the S3 server that a test can switch off and on:
    the store "goes away" exactly as a network or RGW outage looks to the gateway."""

    def __init__(self, target: str) -> None:
        host, port = target.split("//")[1].split(":")
        self.target = (host, int(port.rstrip("/")))
        self.up = True
        self.server: asyncio.base_events.Server | None = None
        self.conns: set[asyncio.StreamWriter] = set()

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    def down(self) -> None:
        self.up = False
        for w in list(self.conns):
            w.close()

    async def _serve(self, reader, writer) -> None:
        if not self.up:
            writer.close()
            return
        try:
            r2, w2 = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        self.conns |= {writer, w2}

        async def pipe(src, dst):
            with contextlib.suppress(Exception):
                while self.up and (chunk := await src.read(65536)):
                    dst.write(chunk)
                    await dst.drain()
            dst.close()
        await asyncio.gather(pipe(reader, w2), pipe(r2, writer))
        self.conns -= {writer, w2}

    async def close(self) -> None:
        self.down()
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


def s3_settings(tmp_path: Path, s3_server, bucket: str, endpoint: str | None = None,
                policy: str = "test5s"):
    write_policy(tmp_path / "policies")
    write_policy(tmp_path / "policies", id="test1h", minimum="1h")
    secret = tmp_path / "s3.secret"
    secret.write_text(s3_server.secret_key)
    secret.chmod(0o600)
    return parse_settings({
        "storage": {"path": str(tmp_path / "data"), "backend": "s3",
                    "endpoint": endpoint or s3_server.endpoint, "region": s3_server.region,
                    "bucket": bucket, "prefix": "branch-a/", "access_key": s3_server.access_key,
                    "secret_key_file": str(secret)},
        "policies_dir": str(tmp_path / "policies"),
        "cameras": [camera(policy=policy), camera("desk", policy=policy)],
    })


async def upload(client, cam: str = "lobby", seed: int = 0):
    data = synth.make_segment(1.0, 10, 160, 96, seed=seed)
    return await client.post(f"/api/v1/cameras/{cam}/segments", data=data, headers=auth())


def versions(s3, bucket: str, prefix: str = "") -> list[dict]:
    page = s3.list_object_versions(Bucket=bucket, Prefix=prefix)
    return page.get("Versions", []) + page.get("DeleteMarkers", [])


async def purge(svc):
    """A purge pass, then the store loop's deletions it queued (run concurrently)."""
    out = await purge_once(svc)
    await store_loop.retry_deletes(svc)
    return out


@pytest.fixture
def clock() -> FakeClock:
    # Real "now": the store checks retention dates against its own clock.
    return FakeClock(start_us=int(time.time() * US))


async def test_only_ciphertext_under_random_names_locked_until_the_deadline(
        s3_server, aiohttp_client, tmp_path, clock):
    bucket = s3_server.new_bucket()
    app = create_app(s3_settings(tmp_path, s3_server, bucket, policy="test1h"), clock=clock,
                     run_loops=False)
    client = await aiohttp_client(app)
    r = await upload(client)
    assert r.status == 201, await r.text()
    body = await r.json()
    s3 = s3_server.client()
    [v] = versions(s3, bucket)
    assert KEY_RE.match(v["Key"]) and body["id"] in v["Key"]       # a random id, nothing else
    blob = s3.get_object(Bucket=bucket, Key=v["Key"])["Body"].read()
    assert b"ftyp" not in blob and b"mdat" not in blob and b"avc1" not in blob
    ret = s3.get_object_retention(Bucket=bucket, Key=v["Key"])["Retention"]
    assert ret["Mode"] == "GOVERNANCE"                               # never COMPLIANCE
    seg = await app[CATALOG].run(seg_sql.get_segment, body["id"])
    assert abs(ret["RetainUntilDate"].timestamp() - seg.deadline_us / US) < 1.5
    # Someone else with delete rights but no bypass cannot destroy it early through the store.
    other = s3_server.other_client()
    with pytest.raises(Exception) as err:
        other.delete_object(Bucket=bucket, Key=v["Key"], VersionId=v["VersionId"],
                            BypassGovernanceRetention=True)
    assert "AccessDenied" in str(err.value)
    other.delete_object(Bucket=bucket, Key=v["Key"])                  # only a delete marker
    # ... which hides the object, not the footage: the gateway still reads the version,
    # and `check` would report the marker.
    store = app[RUNTIME].storage
    assert store.get(body["id"]) == blob
    assert any("delete marker" in p for p in store.version_problems())
    # The catalog holds the data key, never the store.
    assert await app[CATALOG].run(seg_sql.get_data_key, seg.id) is not None


async def test_purge_deletes_every_version_and_leaves_none(s3_server, aiohttp_client, tmp_path,
                                                           clock):
    bucket = s3_server.new_bucket()
    app = create_app(s3_settings(tmp_path, s3_server, bucket), clock=clock, run_loops=False)
    client = await aiohttp_client(app)
    uids = [(await (await upload(client, seed=i)).json())["id"] for i in range(2)]
    s3 = s3_server.client()
    # A plain DELETE through the store adds a marker: the purge removes it too.
    s3.delete_object(Bucket=bucket, Key=f"branch-a/segments/{uids[0]}.fgs")
    assert len(versions(s3, bucket)) == 3
    clock.advance(6)  # past the 5 s deadline (the store's own retention may still run: bypassed)
    out = await purge(app[RUNTIME])
    assert sorted(s.uid for s in out.destroyed) == sorted(uids)
    assert versions(s3, bucket) == []
    assert await app[CATALOG].run(store_sql.owed_deletes) == (0, None)


async def test_deleting_a_backlog_in_the_store_does_not_hold_up_the_next_deadline(
        s3_server, aiohttp_client, tmp_path, clock):
    """Deleting an object is a list of its versions, a delete and a second list (~100 ms
    on this RGW; AWS's take tens of ms too). When the purge pass deleted them one after
    another, a deadline falling due during the pass waited for its end: 2 s of deadlines
    at 32/s (bench/storage.py) cost 6 s of deletes, so the lag grew without bound. Now
    the pass erases the keys and queues the deletions, which the store loop runs 8 at a
    time. The store's time is passed on to the gateway's clock; the next deadline must
    still be met within 2 s, and every object must go."""
    bucket = s3_server.new_bucket()
    app = create_app(s3_settings(tmp_path, s3_server, bucket), clock=clock, run_loops=False)
    client = await aiohttp_client(app)
    svc = app[RUNTIME]
    backlog = 64
    for i in range(backlog):
        assert (await upload(client, seed=i)).status == 201
    clock.advance(1)
    later = (await (await upload(client, "desk", seed=backlog)).json())["id"]
    clock.advance(4)  # the backlog is due; `later` falls due 1 s into the pass
    started = time.perf_counter()
    assert len((await purge_once(svc)).destroyed) == backlog
    clock.advance(max(1.0, time.perf_counter() - started))
    assert [s.uid for s in (await purge_once(svc)).destroyed] == [later]
    receipt = await app[CATALOG].run(seg_sql.get_receipt, later)
    assert receipt.lag_us <= 2 * US, f"erased {receipt.lag_us / US:.1f} s after its deadline"
    assert await store_loop.retry_deletes(svc) == backlog + 1
    assert versions(s3_server.client(), bucket) == []


async def test_legal_hold_follows_an_approved_hold_and_its_release(s3_server, aiohttp_client,
                                                                    tmp_path, clock):
    from gateway.holds import service as holds
    from gateway.models import Actor

    bucket = s3_server.new_bucket()
    app = create_app(s3_settings(tmp_path, s3_server, bucket), clock=clock, run_loops=False)
    client = await aiohttp_client(app)
    svc = app[RUNTIME]
    held = (await (await upload(client, "lobby")).json())["id"]
    free = (await (await upload(client, "desk", seed=1)).json())["id"]
    staff, director = Actor("sam", "staff"), Actor("dana", "director")
    out = await holds.request_hold(svc, staff, ["lobby"], clock.now_us() - 60 * US,
                                   clock.now_us() + US, "INC-1", "a fight at the entrance")
    await store_loop.store_pass(svc)
    store: S3Storage = svc.storage
    assert not store.legal_hold(held)                       # requested: the catalog keeps it
    await holds.act(svc, out.hold.id, "approve", director, note="ok")
    assert svc.wake_store.is_set()
    assert await store_loop.mirror_legal_holds(svc) == 0
    assert store.legal_hold(held) and not store.legal_hold(free)
    # Even the bucket owner's bypass cannot delete a version under legal hold.
    s3 = s3_server.client()
    [v] = versions(s3, bucket, f"branch-a/segments/{held}")
    with pytest.raises(Exception, match="AccessDenied"):
        s3.delete_object(Bucket=bucket, Key=v["Key"], VersionId=v["VersionId"],
                         BypassGovernanceRetention=True)
    clock.advance(6)
    out2 = await purge(svc)
    assert [s.uid for s in out2.destroyed] == [free]        # the held one is kept
    await holds.act(svc, out.hold.id, "release", director, note="resolved")
    assert await store_loop.mirror_legal_holds(svc) == 0
    assert not store.legal_hold(held)
    out3 = await purge(svc)
    assert [s.uid for s in out3.destroyed] == [held]
    assert versions(s3, bucket) == []
    # The auditor's compliance page says where footage is and what the store locks.
    from gateway.models import SYSTEM
    from gateway.users import service as users
    await users.add_user(svc.catalog, clock, "aud", "auditor", None, SYSTEM)
    token = await users.issue_token(svc.catalog, clock, "aud", SYSTEM)
    page = await client.get("/compliance", headers={"Authorization": f"Bearer {token}"})
    text = await page.text()
    assert page.status == 200 and f"bucket <code>{bucket}</code>" in text
    assert "locks until their deadline" in text


async def test_a_legal_hold_left_on_does_not_stop_the_purge(s3_server, aiohttp_client,
                                                             tmp_path, clock):
    """The release's OFF never reached the store (a crash, an outage): the purge lifts it,
    because the catalog, not the store, says whether a hold lives."""
    bucket = s3_server.new_bucket()
    app = create_app(s3_settings(tmp_path, s3_server, bucket), clock=clock, run_loops=False)
    client = await aiohttp_client(app)
    uid = (await (await upload(client)).json())["id"]
    app[RUNTIME].storage.set_legal_hold(uid, True)
    clock.advance(6)
    out = await purge(app[RUNTIME])
    assert [s.uid for s in out.destroyed] == [uid]
    assert versions(s3_server.client(), bucket) == []


async def test_store_outage_refuses_uploads_and_owes_deletions(s3_server, aiohttp_client,
                                                               tmp_path, clock):
    bucket = s3_server.new_bucket()
    proxy = Proxy(s3_server.endpoint)
    endpoint = await proxy.start()
    try:
        settings = s3_settings(tmp_path, s3_server, bucket, endpoint=endpoint)
        settings = settings.model_copy(update={"storage": settings.storage.model_copy(
            update={"timeout_s": 2.0})})
        app = create_app(settings, clock=clock, run_loops=False)
        client = await aiohttp_client(app)
        svc = app[RUNTIME]
        kept = (await (await upload(client)).json())["id"]
        proxy.down()
        r = await upload(client, seed=7)
        assert r.status == 503
        err = (await r.json())["error"]
        assert err["code"] == "storage_unavailable" and "nothing was stored" in err["message"]
        assert r.headers.get("Retry-After")
        rows = await app[CATALOG].run(lambda db: db.conn.execute(
            "SELECT COUNT(*) FROM segments").fetchone()[0])
        assert rows == 1                                      # nothing acknowledged, nothing kept
        # The purge destroys anyway (the key), and owes the deletion.
        clock.advance(6)
        out = await purge_once(svc)
        assert [s.uid for s in out.destroyed] == [kept]
        assert await app[CATALOG].run(seg_sql.get_data_key, 1) is None
        assert (await app[CATALOG].run(store_sql.owed_deletes))[0] == 1
        await store_loop.store_pass(svc)
        assert svc.metrics.registry.get_sample_value("footage_storage_up") == 0
        assert svc.metrics.registry.get_sample_value("footage_storage_deletes_pending") == 1
        # Back: the owed deletion and the abandoned upload's intent are finished.
        proxy.up = True
        clock.advance(30)
        await store_loop.store_pass(svc)
        assert svc.metrics.registry.get_sample_value("footage_storage_up") == 1
        assert await app[CATALOG].run(store_sql.owed_deletes) == (0, None)
        clock.advance(store_loop.STALE_WRITE_S + 1)
        await store_loop.store_pass(svc)
        assert await app[CATALOG].run(store_sql.open_writes) == []
        assert versions(s3_server.client(), bucket) == []
    finally:
        await proxy.close()


async def test_recovery_and_scrub_on_the_bucket(s3_server, aiohttp_client, tmp_path, clock):
    """A crash after the PUT and before the row: recovery discards the object (from its
    intent, without listing the bucket); an object nobody wrote and a row whose object
    is gone are found by the scrub."""
    bucket = s3_server.new_bucket()
    settings = s3_settings(tmp_path, s3_server, bucket)
    app = create_app(settings, clock=clock, run_loops=False)
    client = await aiohttp_client(app)
    svc = app[RUNTIME]
    kept = (await (await upload(client)).json())["id"]
    lost = (await (await upload(client, seed=3)).json())["id"]
    store: S3Storage = svc.storage
    crashed = "ab" * 16
    await svc.catalog.run(store_sql.begin_write, crashed, clock.now_us())
    store.put(crashed, b"\x00" * 100, retain_until_us=clock.now_us() + 3600 * US)
    stray = "cd" * 16
    store.put(stray, b"\x01" * 100, retain_until_us=clock.now_us() + 3600 * US)
    store.delete(lost)
    counts = await svc.catalog.run(recover, store)
    assert counts["writes_discarded"] == 1
    assert set(store.uids()) == {kept, stray}
    plan = await store_loop.scrub(svc)
    assert plan.orphans == [stray] and plan.missing == [lost]
    assert set(store.uids()) == {kept}
    assert (await app[CATALOG].run(seg_sql.get_segment, lost)).state == "corrupt"
    assert svc.metrics.registry.get_sample_value("footage_storage_scrub_problems") == 1


def test_a_bucket_without_object_lock_is_refused_at_start(s3_server, tmp_path):
    from gateway.errors import ConfigError
    from gateway.vault.backends import open_storage

    bucket = s3_server.new_bucket(lock=False)
    with pytest.raises(ConfigError, match="Object Lock"):
        open_storage(s3_settings(tmp_path, s3_server, bucket))


def test_retention_is_written_as_the_deadline(s3_server, tmp_path):
    bucket = s3_server.new_bucket()
    store = S3Storage(s3_settings(tmp_path, s3_server, bucket).storage)
    until = int((time.time() + 3600) * US)
    store.put("ef" * 16, b"x" * 10, retain_until_us=until)
    mode, date = store.retention("ef" * 16)
    assert mode == "GOVERNANCE"
    assert abs(date - datetime.fromtimestamp(until / US, timezone.utc)).total_seconds() < 1
    store.extend_retention("ef" * 16, until + 3600 * US)
    assert (store.retention("ef" * 16)[1] - date).total_seconds() == pytest.approx(3600, abs=1)
    assert store.delete("ef" * 16) and store.delete("ef" * 16) is False


async def test_a_lengthened_deadline_extends_the_stores_lock(s3_server, aiohttp_client,
                                                             tmp_path, clock):
    """A policy change moves a deadline later: the store's GOVERNANCE date follows, so
    the store keeps protecting the footage as long as the gateway keeps it."""
    bucket = s3_server.new_bucket()
    app = create_app(s3_settings(tmp_path, s3_server, bucket, policy="test1h"), clock=clock,
                     run_loops=False)
    client = await aiohttp_client(app)
    svc = app[RUNTIME]
    uid = (await (await upload(client)).json())["id"]
    _mode, before = svc.storage.retention(uid)
    await svc.catalog.run(lambda db: db.conn.execute(
        "UPDATE segments SET deadline_us = deadline_us + ? WHERE uid = ?", (86400 * US, uid)))
    await store_loop.store_pass(svc)
    _mode, after = svc.storage.retention(uid)
    assert (after - before).total_seconds() == pytest.approx(86400, abs=1)
    seg = await app[CATALOG].run(seg_sql.get_segment, uid)
    assert await svc.catalog.run(store_sql.lock_behind_deadline) == []
    assert abs(after.timestamp() - seg.deadline_us / US) < 1.5


async def test_check_reads_the_bucket(s3_server, aiohttp_client, tmp_path, clock):
    """`check` on S3: sizes and SHA-256 of every object against the catalog, and what
    someone did through the store (a delete marker, a second version)."""
    from gateway.segments.check import run_check

    bucket = s3_server.new_bucket()
    app = create_app(s3_settings(tmp_path, s3_server, bucket, policy="test1h"), clock=clock,
                     run_loops=False)
    client = await aiohttp_client(app)
    svc = app[RUNTIME]
    uid = (await (await upload(client)).json())["id"]
    rep = await svc.catalog.run(lambda d: run_check(d, svc.storage, svc.keyring,
                                                           audit_key=d.audit_key))
    assert rep.ok, rep.problems
    s3 = s3_server.client()
    key = f"branch-a/segments/{uid}.fgs"
    s3.put_object(Bucket=bucket, Key=key, Body=b"not the footage")   # a second version on top
    rep = await svc.catalog.run(lambda d: run_check(d, svc.storage, svc.keyring,
                                                           audit_key=d.audit_key))
    assert any("2 versions" in p for p in rep.problems)
    assert any("SHA-256 differs" in p or "bytes, catalog says" in p for p in rep.problems)


def test_check_lists_the_bucket_twice_not_three_times_and_finds_strays(s3_server, tmp_path):
    """`check` on S3: one listing for the segments, one for versions, markers and strays."""
    from gateway.segments.check import run_check
    from gateway.catalog import Catalog

    bucket = s3_server.new_bucket()
    store = S3Storage(s3_settings(tmp_path, s3_server, bucket).storage)
    s3_server.client().put_object(Bucket=bucket, Key="branch-a/segments/notes.txt", Body=b"x")
    lists = []
    real = store._pages
    store._pages = lambda: lists.append(1) or real()
    db = Catalog.open(tmp_path / "c.sqlite3")
    try:
        rep = run_check(db, store, type("Ring", (), {"ids": lambda self: []})())
    finally:
        db.close()
    assert len(lists) == 2
    assert any("notes.txt: not a segment" in p for p in rep.problems)
