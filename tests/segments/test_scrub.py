"""Start-up recovery from intents only, and the full scrub in the background.

Recovery no longer lists every file before serving (O(writes in flight)); the
scrub compares every file with every row after start, walking both in uid
order, and must never take a write in flight for garbage.
"""

from __future__ import annotations

import asyncio
import random
import secrets

from conftest import auth
from gateway.catalog import segments as seg_sql
from gateway.catalog import store as store_sql
from gateway.media import synth
from gateway.segments import store_loop
from gateway.segments.recovery import merge_join, recover
from gateway.web.appkeys import CATALOG, RUNTIME


def test_merge_join_matches_set_arithmetic():
    rng = random.Random(7)
    for _ in range(200):
        universe = sorted(secrets.token_hex(4) for _ in range(rng.randint(0, 60)))
        files = sorted(u for u in universe if rng.random() < 0.7)
        rows = [(u, rng.choice(["stored", "stored", "corrupt", "shredded"]), rng.randint(1, 9))
                for u in universe if rng.random() < 0.7]
        before = rng.randint(0, 9)
        orphans, missing = merge_join(iter(files), iter(rows), before)
        assert orphans == sorted(set(files) - {r[0] for r in rows})
        assert missing == sorted(u for u, state, i in rows
                                 if state == "stored" and i <= before and u not in files)


async def _upload(client, seed=0) -> str:
    data = synth.make_segment(1.0, 10, 160, 96, seed=seed)
    r = await client.post("/api/v1/cameras/lobby/segments", data=data, headers=auth())
    assert r.status == 201
    return (await r.json())["id"]


async def test_scrub_removes_garbage_and_finds_lost_footage_but_not_writes_in_flight(
        gateway_client):
    client, app = await gateway_client()
    svc = app[RUNTIME]
    store = svc.storage
    kept = await _upload(client)
    lost = await _upload(client, seed=1)
    store.path(lost).unlink()                                  # the disk lost it
    stray = "0f" * 16                                           # an older release's garbage
    store.put(stray, b"ciphertext of nobody")
    tmp = store.root / "aa" / (".tmp-" + "aa" * 16)
    tmp.parent.mkdir(exist_ok=True)
    tmp.write_bytes(b"half a write from before intents")
    busy = "bb" * 16                                            # a write in flight right now
    await svc.catalog.run(store_sql.begin_write, busy, svc.clock.now_us())
    store.put(busy, b"being written")
    plan = await store_loop.scrub(svc)
    assert plan.orphans == [stray] and plan.missing == [lost] and plan.temps == [tmp]
    assert set(store.uids()) == {kept, busy}
    assert not tmp.exists()
    assert (await app[CATALOG].run(seg_sql.get_segment, lost)).state == "corrupt"
    assert svc.metrics.registry.get_sample_value("footage_storage_scrub_problems") == 1


async def test_recovery_reads_intents_not_the_disk(gateway_client):
    """A crash left a renamed file (no row) and a temp file: the intents name both, so
    recovery removes them without listing the segment directory."""
    client, app = await gateway_client()
    svc = app[RUNTIME]
    store = svc.storage
    kept = await _upload(client)
    crashed, half = "cc" * 16, "dd" * 16
    for uid in (crashed, half):
        await svc.catalog.run(store_sql.begin_write, uid, svc.clock.now_us())
    store.put(crashed, b"renamed, never committed")
    half_tmp = store.path(half).parent / (".tmp-" + half)
    half_tmp.parent.mkdir(exist_ok=True)
    half_tmp.write_bytes(b"never renamed")
    listed = []
    real_uids = store.uids
    store.uids = lambda: listed.append(1) or real_uids()
    counts = await svc.catalog.run(recover, store)
    store.uids = real_uids
    assert counts["writes_discarded"] == 2 and listed == []
    assert set(store.uids()) == {kept} and not half_tmp.exists()
    assert await svc.catalog.run(store_sql.open_writes) == []


async def test_the_scrub_runs_after_start_without_holding_it_up(gateway_client, make_settings):
    settings = make_settings()
    client, app = await gateway_client(settings)
    stray = "ee" * 16
    app[RUNTIME].storage.put(stray, b"garbage")
    await client.close()
    client, app = await gateway_client(settings, run_loops=True)  # a restart
    for _ in range(100):
        if stray not in set(app[RUNTIME].storage.uids()):
            break
        await asyncio.sleep(0.05)
    assert stray not in set(app[RUNTIME].storage.uids())
