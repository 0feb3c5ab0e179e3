"""The background loops sleep through the injected clock: a FakeClock drives them."""

from __future__ import annotations

import asyncio

from conftest import auth
from gateway.catalog import segments as seg_sql
from gateway.clock import US, FakeClock, iso
from gateway.media import synth
from gateway.web.appkeys import CATALOG, RUNTIME

T0 = 1_700_000_000 * US


async def settle(clock: FakeClock, until) -> None:
    """Let the loops run (real time passes only for their I/O) until ``until()`` holds."""
    for _ in range(400):
        if until():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the loop did not get there")


async def test_purge_loop_waits_for_the_fake_clock_and_destroys_at_the_deadline(gateway_client):
    clock = FakeClock(T0)
    client, app = await gateway_client(clock=clock, run_loops=True)
    data = synth.make_segment(1.0, 5, 160, 96)
    r = await client.post("/api/v1/cameras/lobby/segments", data=data,
                          headers={**auth(), "X-Segment-Start": iso(T0 - 1 * US)})
    assert r.status == 201
    uid = (await r.json())["id"]
    path = app[RUNTIME].storage.path(uid)
    seg = await app[CATALOG].run(seg_sql.get_segment, uid)
    assert seg.deadline_us == T0 + 5 * US  # the 5-second test policy

    # The loop is asleep on the clock (the purge, the stats and the key loops all wait).
    await settle(clock, lambda: clock.sleepers >= 3)
    clock.advance(4.9)  # not yet due: however long real time passes, it stays
    await asyncio.sleep(0.2)
    assert path.exists()
    clock.advance(0.2)  # past the deadline: the sleeping purge loop wakes and destroys it
    await settle(clock, lambda: not path.exists())
    receipt = None
    for _ in range(200):  # the receipt is the purge's last step, just after the unlink
        if (receipt := await app[CATALOG].run(seg_sql.get_receipt, uid)) is not None:
            break
        await asyncio.sleep(0.02)
    assert receipt is not None and receipt.destroyed_at_us == T0 + 5_100_000


async def test_fake_clock_wait_returns_early_when_woken_and_on_time_when_not():
    clock = FakeClock(T0)
    event = asyncio.Event()
    waiter = asyncio.create_task(clock.wait(event, 60))
    await asyncio.sleep(0)
    event.set()
    assert await waiter is True and clock.sleepers == 0
    waiter = asyncio.create_task(clock.wait(None, 60))
    await asyncio.sleep(0)
    clock.advance(59)
    await asyncio.sleep(0)
    assert not waiter.done()
    clock.advance(1)
    assert await waiter is False
