"""Destruction on time with a real clock, receipts, and erasure from the SQLite files."""

from __future__ import annotations

import asyncio
import time

from conftest import auth, camera, write_policy
from gateway.catalog import segments as seg_sql
from gateway.catalog import store as store_sql
from gateway.segments.store_loop import retry_deletes
from gateway.clock import US, iso
from gateway.media import synth
from gateway.segments.purge import purge_once
from gateway.web.appkeys import CATALOG, METRICS, RUNTIME
from gateway.segments.stats import refresh_stats


async def test_segment_destroyed_within_2s_after_deadline_not_before(gateway_client, make_settings,
                                                                     tmp_path):
    # A real clock and the real background purge loop, with the 5-second test policy.
    client, app = await gateway_client(run_loops=True)
    data = synth.make_segment(1.0, 15, 320, 180)
    start_us = time.time_ns() // 1000 - 1 * US  # ends now: deadline in 5 s
    resp = await client.post("/api/v1/cameras/lobby/segments", data=data,
                             headers={**auth(), "X-Segment-Start": iso(start_us)})
    assert resp.status == 201
    uid = (await resp.json())["id"]
    seg = await app[CATALOG].run(seg_sql.get_segment, uid)
    key = await app[CATALOG].run(seg_sql.get_data_key, seg.id)
    path = app[RUNTIME].storage.path(uid)
    assert path.exists()

    # Poll (no fixed sleeps): it must exist at every look before the deadline...
    while (now := time.time_ns() // 1000) < seg.deadline_us - 50_000:
        assert path.exists(), f"destroyed {(seg.deadline_us - now) / US:.3f} s early"
        await asyncio.sleep(0.05)
    # ...and be gone within 2 s after it.
    limit = seg.deadline_us + 2 * US
    while path.exists() and time.time_ns() // 1000 < limit:
        await asyncio.sleep(0.02)
    assert not path.exists(), "not destroyed within 2 s of its deadline"

    # The receipt is the purge's last step, just after the unlink: wait for it, briefly.
    receipt = None
    for _ in range(200):
        if (receipt := await app[CATALOG].run(seg_sql.get_receipt, uid)) is not None:
            break
        await asyncio.sleep(0.02)
    assert receipt is not None and receipt.camera == "lobby"
    assert seg.deadline_us <= receipt.destroyed_at_us <= seg.deadline_us + 2 * US
    assert receipt.sha256 == seg.sha256
    assert await app[CATALOG].run(seg_sql.get_segment, uid) is None
    assert await app[CATALOG].run(seg_sql.get_data_key, seg.id) is None

    # The wrapped key's bytes are in none of the database files (secure_delete + checkpoint).
    db_bytes = b"".join(p.read_bytes() for p in (tmp_path / "data").glob("catalog.sqlite3*"))
    assert key.wrapped not in db_bytes
    assert key.wrapped[:24] not in db_bytes

    metrics = app[METRICS].render().decode()
    assert 'footage_segments_purged_total{camera="lobby"} 1.0' in metrics
    assert "footage_purge_lag_seconds_count 1.0" in metrics


async def test_purge_keeps_undue_and_counts_past_deadline(gateway_client, make_settings,
                                                          fake_clock, tmp_path):
    write_policy(tmp_path / "policies", id="week", minimum="7d")
    settings = make_settings([camera("lobby"), camera("stacks", policy="week")])
    client, app = await gateway_client(settings, clock=fake_clock)
    data = synth.make_segment(1.0, 15, 320, 180)
    start = iso(fake_clock.now_us() - 1 * US)
    uids = {}
    for cam in ("lobby", "stacks"):
        r = await client.post(f"/api/v1/cameras/{cam}/segments", data=data,
                              headers={**auth(), "X-Segment-Start": start})
        assert r.status == 201
        uids[cam] = (await r.json())["id"]

    fake_clock.advance(6)
    await refresh_stats(app[RUNTIME])
    m = app[METRICS].render().decode()
    assert 'footage_segments_past_deadline{camera="lobby"} 1.0' in m
    assert 'footage_segments_past_deadline{camera="stacks"} 0.0' in m
    assert 'footage_retention_seconds{camera="stacks"} 604800.0' in m

    out = await purge_once(app[RUNTIME])
    assert [s.uid for s in out.destroyed] == [uids["lobby"]]
    assert await app[CATALOG].run(seg_sql.get_segment, uids["stacks"]) is not None
    await refresh_stats(app[RUNTIME])
    assert 'footage_segments_past_deadline{camera="lobby"} 0.0' in app[METRICS].render().decode()


async def test_footage_kept_by_a_hold_is_not_counted_as_late(gateway_client, fake_clock):
    from gateway.holds import service as hs
    from gateway.models import Actor

    client, app = await gateway_client(clock=fake_clock)
    data = synth.make_segment(1.0, 15, 320, 180)
    start = fake_clock.now_us() - 1 * US
    r = await client.post("/api/v1/cameras/lobby/segments", data=data,
                          headers={**auth(), "X-Segment-Start": iso(start)})
    uid = (await r.json())["id"]
    svc = app[RUNTIME]
    hold = (await hs.request_hold(svc, Actor("sam", "staff"), ["lobby"], start - US,
                                  start + 2 * US, "INC-1", "a fight at the door")).hold
    await hs.act(svc, hold.id, "approve", Actor("dana", "director"), note="ok")
    fake_clock.advance(600)                     # far past the 5 s deadline: kept by the hold
    assert not (await purge_once(svc)).destroyed
    await hs.act(svc, hold.id, "release", Actor("dana", "director"), note="done")
    released = fake_clock.now_us()
    fake_clock.advance(0.25)
    assert [s.uid for s in (await purge_once(svc)).destroyed] == [uid]
    receipt = await app[CATALOG].run(seg_sql.get_receipt, uid)
    assert receipt.released_us == released
    assert receipt.lag_us == 250_000            # from the release, not from the deadline
    m = app[METRICS].render().decode()
    assert 'footage_purge_lag_seconds_bucket{le="0.25"} 1.0' in m


async def test_segments_falling_due_during_a_pass_are_not_left_for_later(gateway_client):
    """Deadlines 0.1 ms apart: a pass takes longer than that (fsyncs), so some fall due
    while a pass runs. They must be purged right after it, not at the next 30 s wake-up."""
    from gateway.models import Segment

    client, app = await gateway_client(run_loops=True)
    now = time.time_ns() // 1000
    first = now + 300_000
    for i in range(40):
        seg = Segment(0, f"{i:032x}", "lobby", "test5s", now - 10 * US, now - 5 * US,
                      first + i * 100, 10, "0" * 64, 1, 2, 2, False, "stored", None, now)
        await app[CATALOG].run(seg_sql.insert_segment, seg, b"k" * 16, "kek", b"w")
    app[RUNTIME].wake_purger.set()
    limit = first + 5 * US
    while time.time_ns() // 1000 < limit:
        receipts = await app[CATALOG].run(seg_sql.receipts)
        if len(receipts) == 40:
            break
        await asyncio.sleep(0.05)
    assert len(receipts) == 40
    assert max(r.lag_us for r in receipts) < 2 * US
    assert min(r.lag_us for r in receipts) >= 0


async def test_a_failed_unlink_is_owed_and_retried_with_backoff(gateway_client, fake_clock):
    """The key is erased first; if the unlink then fails (I/O error, an unreachable
    store), the footage is destroyed all the same: the receipt is written, the
    deletion is owed and the store loop retries it with backoff until it succeeds."""
    client, app = await gateway_client(clock=fake_clock)
    data = synth.make_segment(1.0, 15, 320, 180)
    r = await client.post("/api/v1/cameras/lobby/segments", data=data,
                          headers={**auth(), "X-Segment-Start": iso(fake_clock.now_us() - US)})
    uid = (await r.json())["id"]
    svc = app[RUNTIME]
    fake_clock.advance(6)
    real_delete = svc.storage.delete
    calls = []

    def broken(u):
        calls.append(u)
        raise OSError(5, "Input/output error")
    svc.storage.delete = broken
    out = await purge_once(svc)
    assert [s.uid for s in out.destroyed] == [uid]               # not held up by the store
    assert await app[CATALOG].run(seg_sql.get_segment, uid) is None
    assert await app[CATALOG].run(seg_sql.get_receipt, uid) is not None
    assert svc.storage.path(uid).exists()                         # ciphertext only, key gone
    [owed] = await app[CATALOG].run(store_sql.due_deletes, fake_clock.now_us())
    assert owed.uid == uid and "Input/output error" in owed.last_error
    # The store loop's retry fails again: the next try is pushed back, not hammered.
    assert await retry_deletes(svc) == 0
    assert await app[CATALOG].run(store_sql.due_deletes, fake_clock.now_us()) == []
    assert svc.metrics.registry.get_sample_value("footage_storage_errors_total",
                                                 {"op": "delete"}) == 1
    svc.storage.delete = real_delete
    fake_clock.advance(10)                                        # past the 2 s (+-20 %) backoff
    assert await retry_deletes(svc) == 1
    assert not svc.storage.path(uid).exists()
    assert await app[CATALOG].run(store_sql.owed_deletes) == (0, None)
    assert len(calls) == 2
