"""The key loop waits while the wall clock is not trusted, as the purge does (issue 10).

A jump ahead would start a key epoch early (stamping the new KEK with the
false time) and destroy a superseded KEK inside its grace. The loops run for
real on a FakeClock, as in test_clock_jumps.py.
"""

from __future__ import annotations

import asyncio

from test_clock_jumps import gauge, jumpy, look_now, until  # noqa: F401 - jumpy: a fixture

from gateway.clock import US
from gateway.keys.epochs import KEK_RETIRE_GRACE_US, rotate_keys
from gateway.loops import KEYS_CHECK_INTERVAL_S

DAY = 86_400


async def keys_pass(app, clock, seconds: float) -> None:
    """Let ``seconds`` pass (the key loop wakes) and wait for every loop to sleep again."""
    sleeping = clock.sleepers
    clock.advance(seconds)
    await asyncio.sleep(0.05)
    await until(lambda: clock.sleepers >= sleeping)
    await look_now(app, clock)


async def test_no_epoch_starts_while_the_clock_is_paused_and_it_starts_once_trusted(jumpy):
    client, app, clock, svc = jumpy
    first = svc.keyring.current_id
    clock.jump(2 * DAY)  # a day past the epoch (1 d), by the wall clock alone
    await keys_pass(app, clock, KEYS_CHECK_INTERVAL_S)
    assert gauge(app, "footage_purge_paused") == 1
    await keys_pass(app, clock, KEYS_CHECK_INTERVAL_S)
    assert svc.keyring.current_id == first  # no rotation on a wall clock nobody trusts

    clock.jump(-2 * DAY)  # put right; after the settle time (10 s) the clock is trusted
    for _ in range(3):
        await keys_pass(app, clock, 5)
    await until(lambda: gauge(app, "footage_purge_paused") == 0)
    assert svc.keyring.current_id == first  # the real epoch is not over yet
    await keys_pass(app, clock, DAY)
    await until(lambda: svc.keyring.current_id != first)  # now it is: on time


async def test_no_kek_is_retired_inside_its_grace_on_a_jumped_clock(jumpy):
    client, app, clock, svc = jumpy
    old = svc.keyring.current_id
    await rotate_keys(svc)  # supersedes ``old`` now; no data key needs it
    clock.jump(3600)  # the grace (600 s) seems long past by the wall clock
    await keys_pass(app, clock, KEYS_CHECK_INTERVAL_S)
    await keys_pass(app, clock, KEYS_CHECK_INTERVAL_S)
    assert gauge(app, "footage_purge_paused") == 1
    assert old in svc.keyring.ids()  # 600 s have really passed, but not by a trusted clock

    clock.jump(-3600)
    for _ in range(3):
        await keys_pass(app, clock, 5)
    await until(lambda: gauge(app, "footage_purge_paused") == 0)
    await keys_pass(app, clock, KEK_RETIRE_GRACE_US / US)
    await until(lambda: old not in svc.keyring.ids())  # trusted again: retired on time
