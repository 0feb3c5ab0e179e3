"""SIGTERM (the loop task cancelled) cannot leave a purge between key erasure and receipt.

It used to: the row stayed ``shredded`` and ``check`` failed until the next
start (issue 10, 8). The test cancels the purge task at the crash point right
after the key is erased, as a shutdown would at any await there.
"""

from __future__ import annotations

import asyncio

import pytest

from conftest import auth
from gateway.catalog import segments as seg_sql
from gateway.clock import US, iso
from gateway.media import synth
from gateway.segments import purge as purge_mod
from gateway.web.appkeys import RUNTIME


async def test_cancelling_the_purge_after_key_erasure_still_writes_the_receipt(
        gateway_client, fake_clock, monkeypatch):
    client, app = await gateway_client(clock=fake_clock)
    svc = app[RUNTIME]
    r = await client.post("/api/v1/cameras/lobby/segments",
                          data=synth.make_segment(1.0, 15, 320, 180),
                          headers={**auth(), "X-Segment-Start": iso(fake_clock.now_us() - US)})
    uid = (await r.json())["id"]
    fake_clock.advance(6)
    task: asyncio.Task | None = None

    def cancel_here(name: str) -> None:
        if name == "purge.key_erased":
            task.cancel()  # SIGTERM: the app cancels its loop tasks
    monkeypatch.setattr(purge_mod, "crash_point", cancel_here)
    task = asyncio.create_task(purge_mod.purge_once(svc))
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await svc.catalog.run(seg_sql.shredded_segments) == []
    receipt = await svc.catalog.run(seg_sql.get_receipt, uid)
    assert receipt is not None
    assert not svc.storage.path(uid).exists()
