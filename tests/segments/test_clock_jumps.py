"""A wall-clock jump pauses destruction and hold expiry (issue 10, finding 1).

The loops run for real on a FakeClock: ``advance`` is time passing, ``jump``
moves the wall clock alone.
"""

from __future__ import annotations

import asyncio

import pytest

from conftest import auth, camera, write_policy
from gateway.app import PURGE_WAKE
from gateway.catalog import Catalog
from gateway.catalog import clockguard as guard_sql
from gateway.catalog import holds as holds_sql
from gateway.catalog import segments as seg_sql
from gateway.clock import US, FakeClock
from gateway.config import parse_settings
from gateway.holds import service as hs
from gateway.media import synth
from gateway.models import Actor
from gateway.timeguard import GuardState, look, receipt_time
from gateway.web.appkeys import METRICS, RUNTIME

T0 = 1_700_000_000 * US
TOL, SETTLE = 2 * US, 10 * US
CLIP = synth.make_segment(1.0, 5, 160, 96)
DIRECTOR = Actor("dana", "director")


async def until(cond) -> None:
    """Let the loops run (real time passes only for their I/O) until ``cond()`` holds."""
    for _ in range(500):
        if cond():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the loop did not get there")


def gauge(app, name: str) -> float:
    return app[METRICS].registry.get_sample_value(name)


@pytest.fixture
async def jumpy(aiohttp_client, tmp_path):
    """An app with its loops on a FakeClock: a 60 s policy, a 1 h review, 10 s settle time."""
    write_policy(tmp_path / "policies", "jumpy", minimum="60s", maximum="30d", review="1h")
    settings = parse_settings({
        "storage": {"path": str(tmp_path / "data"), "min_free_bytes": 0},
        "policies_dir": str(tmp_path / "policies"),
        "clock": {"jump_tolerance_s": 2.0, "settle_s": 10.0},
        "cameras": [camera(policy="jumpy"), camera("desk", policy="jumpy")]})
    from gateway.app import create_app
    clock = FakeClock(T0)
    app = create_app(settings, clock=clock, run_loops=True)
    client = await aiohttp_client(app)
    svc = app[RUNTIME]
    await until(lambda: clock.sleepers >= 3 and svc.clock_guard is not None)
    return client, app, clock, svc


async def push(client, cam: str = "lobby") -> str:
    r = await client.post(f"/api/v1/cameras/{cam}/segments", data=CLIP,
                          headers={**auth(), "X-Segment-Start": "2023-11-14T22:13:19Z"})
    assert r.status == 201, await r.text()
    return (await r.json())["id"]


async def active_hold(svc, cam: str):
    out = await hs.request_hold(svc, Actor("sam", "staff"), [cam], T0 - 60 * US, T0 + 60 * US,
                                "INC-1", "bag stolen")
    return await hs.act(svc, out.hold.id, "approve", DIRECTOR, note="ok")


async def look_now(app, clock) -> None:
    """Wake the purge loop and wait for its pass to end (it goes back to sleep)."""
    passes = clock.sleepers
    app[PURGE_WAKE].set()
    await asyncio.sleep(0.05)
    await until(lambda: clock.sleepers >= passes and not app[PURGE_WAKE].is_set())


async def test_a_forward_jump_destroys_nothing_and_expires_no_hold(jumpy):
    client, app, clock, svc = jumpy
    unheld, held = await push(client, "desk"), await push(client, "lobby")
    hold = await active_hold(svc, "lobby")
    assert hold.state == "active" and hold.review_us == T0 + 3600 * US

    clock.jump(2 * 3600)  # the wall clock is set 2 h ahead; no time passes
    await look_now(app, clock)
    await until(lambda: gauge(app, "footage_purge_paused") == 1)
    assert gauge(app, "footage_clock_jump_seconds") == pytest.approx(7200)
    clock.advance(30)  # time passes normally, the wall clock stays 2 h ahead
    await look_now(app, clock)
    for uid in (unheld, held):
        assert svc.storage.path(uid).exists()
        assert (await svc.catalog.run(seg_sql.get_segment, uid)).state == "stored"
    assert (await svc.catalog.run(holds_sql.get_hold, hold.id)).state == "active"
    assert gauge(app, "footage_purge_paused") == 1
    stored = await svc.catalog.run(guard_sql.load)
    assert stored.paused_since_us == T0 + 7200 * US  # persisted: a restart stays paused


async def test_when_the_jump_is_undone_purges_resume_on_time(jumpy):
    client, app, clock, svc = jumpy
    uid = await push(client)
    deadline = T0 + 60 * US
    clock.jump(2 * 3600)
    await look_now(app, clock)
    await until(lambda: gauge(app, "footage_purge_paused") == 1)
    clock.jump(-2 * 3600)  # NTP puts it right again
    clock.advance(5)
    await look_now(app, clock)
    assert gauge(app, "footage_purge_paused") == 1  # agreeing, but not yet for the settle time
    clock.advance(9)
    await look_now(app, clock)
    assert gauge(app, "footage_purge_paused") == 1
    clock.advance(1)  # 10 s of agreement since the first look that saw it
    await look_now(app, clock)
    await until(lambda: gauge(app, "footage_purge_paused") == 0)
    assert svc.storage.path(uid).exists()
    clock.advance((deadline - clock.now_us()) / US - 0.1)
    await look_now(app, clock)
    assert svc.storage.path(uid).exists()  # not one moment early
    clock.advance(0.2)  # past the deadline: the sleeping loop wakes and destroys it
    receipt = None
    for _ in range(500):  # the receipt is the purge's last step
        if (receipt := await svc.catalog.run(seg_sql.get_receipt, uid)) is not None:
            break
        await asyncio.sleep(0.01)
    assert receipt.destroyed_at_us == deadline + 100_000


async def test_an_operator_acknowledgement_resumes_at_the_new_time(jumpy, tmp_path):
    client, app, clock, svc = jumpy
    uid = await push(client)
    clock.jump(-3600)  # backward jumps pause too
    await look_now(app, clock)
    await until(lambda: gauge(app, "footage_purge_paused") == 1)
    assert gauge(app, "footage_clock_jump_seconds") == pytest.approx(-3600)
    clock.jump(3600 + 120)  # the operator sets the real time: 2 min later than before
    db = Catalog.open(tmp_path / "data" / "catalog.sqlite3")  # as `clock ack` does
    guard_sql.acknowledge(db, clock.now_us())
    db.conn.close()
    await look_now(app, clock)
    await until(lambda: gauge(app, "footage_purge_paused") == 0)
    await until(lambda: not svc.storage.path(uid).exists())  # 60 s deadline passed at 120 s


def test_guard_table():
    g = look(GuardState(), T0, 0, tolerance_us=TOL, settle_us=SETTLE)
    assert not g.paused and g.ref_offset_us == T0
    slewed = look(g, T0 + 30 * US + 1_000, 30 * US, tolerance_us=TOL, settle_us=SETTLE)
    assert not slewed.paused and slewed.ref_offset_us == T0 + 1_000  # NTP slewing is followed
    jumped = look(g, T0 + 7200 * US, 1 * US, tolerance_us=TOL, settle_us=SETTLE)
    assert jumped.paused and jumped.jump_us == 7199 * US and jumped.ref_offset_us == T0
    # staying at the new offset never resumes on its own
    later = look(jumped, T0 + 9000 * US, 1801 * US, tolerance_us=TOL, settle_us=SETTLE)
    assert later.paused
    # a receipt stamped while the clock is behind the trusted reading uses the trusted one
    back = look(g, T0 - 3600 * US, 1 * US, tolerance_us=TOL, settle_us=SETTLE)
    assert back.paused and receipt_time(back, T0 - 3599 * US, 2 * US) == T0 + 2 * US
    # after a restart the reference is gone: a stored pause only ends with an acknowledgement
    restarted = GuardState(None, T0, 7200 * US, None, T0)
    assert look(restarted, T0 + US, 5 * US, tolerance_us=TOL, settle_us=SETTLE).paused
    assert not look(restarted, T0 + US, 5 * US, tolerance_us=TOL, settle_us=SETTLE,
                    acked=True).paused
    # a wall clock found behind the last one seen, at start-up, is a jump back
    boot = look(GuardState(last_wall_us=T0), T0 - 600 * US, 5 * US, tolerance_us=TOL,
                settle_us=SETTLE)
    assert boot.paused and boot.jump_us == -600 * US


async def test_a_pause_survives_a_restart_until_acknowledged(aiohttp_client, tmp_path):
    from gateway.app import create_app
    write_policy(tmp_path / "policies", "jumpy", minimum="60s", maximum="30d")
    settings = parse_settings({
        "storage": {"path": str(tmp_path / "data"), "min_free_bytes": 0},
        "policies_dir": str(tmp_path / "policies"), "cameras": [camera(policy="jumpy")]})
    clock = FakeClock(T0)
    first = await aiohttp_client(create_app(settings, clock=clock, run_loops=True))
    svc = first.app[RUNTIME]
    await until(lambda: svc.clock_guard is not None)
    uid = await push(first)
    clock.jump(2 * 3600)
    await look_now(first.app, clock)
    await until(lambda: gauge(first.app, "footage_purge_paused") == 1)
    await first.close()

    # Restarted (a new process: a new monotonic clock), the wall clock still 2 h ahead.
    again = FakeClock(T0 + 2 * 3600 * US)
    second = await aiohttp_client(create_app(settings, clock=again, run_loops=True))
    svc = second.app[RUNTIME]
    await until(lambda: svc.clock_guard is not None)
    assert svc.clock_guard.paused and gauge(second.app, "footage_purge_paused") == 1
    again.advance(120)  # the clocks agree, but nothing to compare with: only an ack resumes
    await look_now(second.app, again)
    assert svc.storage.path(uid).exists()
    await svc.catalog.run(guard_sql.acknowledge, again.now_us())
    await look_now(second.app, again)
    await until(lambda: not svc.storage.path(uid).exists())
