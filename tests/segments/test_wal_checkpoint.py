"""The purge's WAL checkpoint never holds up the writer, and says when it could not finish.

A long reader (``check``, ``report``, ``audit verify``, a backup) keeps a
snapshot that the truncating checkpoint must wait for. It used to wait out the
30 s busy timeout on the one writer thread (another camera's push took 27 s)
and ignore the busy result (issue 10, 6).
"""

from __future__ import annotations

import asyncio
import sqlite3
import time

from conftest import auth, camera
from gateway.catalog import segments as seg_sql
from gateway.clock import US, iso
from gateway.loops import CHECKPOINT_RETRY_S, purge_pass
from gateway.media import synth
from gateway.segments.purge import retry_checkpoint
from gateway.web.appkeys import RUNTIME


def pending(svc) -> str:
    return next(line for line in svc.metrics.render().decode().splitlines()
                if line.startswith("footage_wal_erased_keys_pending "))


async def test_a_long_reader_delays_no_push_and_the_erased_key_is_reported_until_folded(
        gateway_client, make_settings, fake_clock, tmp_path):
    settings = make_settings([camera("lobby"), camera("stacks")])
    client, app = await gateway_client(settings, clock=fake_clock)
    svc = app[RUNTIME]
    data = synth.make_segment(1.0, 15, 320, 180)
    r = await client.post("/api/v1/cameras/lobby/segments", data=data,
                          headers={**auth(), "X-Segment-Start": iso(fake_clock.now_us() - US)})
    uid = (await r.json())["id"]
    seg = await svc.catalog.run(seg_sql.get_segment, uid)
    key = await svc.catalog.run(seg_sql.get_data_key, seg.id)
    fake_clock.advance(6)  # lobby's segment is due

    # A reader (as `check` or a backup would) holds a snapshot open.
    reader = sqlite3.connect(f"file:{settings.catalog_path}?mode=ro", uri=True,
                             isolation_level=None)
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM segments").fetchone()
    try:
        purge = asyncio.create_task(purge_pass(svc))
        t0 = time.monotonic()
        r = await client.post("/api/v1/cameras/stacks/segments", data=data,
                              headers={**auth(), "X-Segment-Start":
                                       iso(fake_clock.now_us() - US)})
        pushed_in = time.monotonic() - t0
        delay = await purge
        assert r.status == 201
        assert pushed_in < 1.0, f"another camera's push took {pushed_in:.1f} s"
        assert await svc.catalog.run(seg_sql.get_receipt, uid) is not None  # destroyed
        assert pending(svc) == "footage_wal_erased_keys_pending 1.0"
        assert delay <= CHECKPOINT_RETRY_S  # the loop comes back soon to try again
        assert await retry_checkpoint(svc) == 1  # still blocked
    finally:
        reader.execute("COMMIT")
        reader.close()
    assert await retry_checkpoint(svc) == 0
    assert pending(svc) == "footage_wal_erased_keys_pending 0.0"
    wal = settings.catalog_path.with_name(settings.catalog_path.name + "-wal")
    assert wal.stat().st_size == 0
    db_bytes = b"".join(p.read_bytes() for p in (tmp_path / "data").glob("catalog.sqlite3*"))
    assert key.wrapped not in db_bytes
