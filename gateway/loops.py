"""The background loops: purge (with hold expiry), stats, key epochs, notifications,
sealed-key expiry.

Each is one ``cleanup_ctx`` entry of the app (gateway.app) and sleeps through
the injected clock, so a test with a ``FakeClock`` drives it by advancing time.
"""

from __future__ import annotations

import asyncio
import logging

from .catalog import audit_log
from .catalog import clockguard as guard_sql
from .catalog import holds as holds_sql
from .catalog import segments as seg_sql
from .clock import US
from .holds.service import tick as holds_tick
from .keys.epochs import retire_keks, rotate_if_due
from .models import SYSTEM
from .notify.service import Notifier
from .keys.unlock import EXPIRY_CHECK_S, expire, lock_on_shutdown
from .runtime import Runtime
from .segments import rules
from .segments.purge import purge_once, retry_checkpoint
from .segments.stats import refresh_stats
from .users.sessions import expire_sessions
from .timeguard import GuardState, look

log = logging.getLogger(__name__)

#: The purge looks again at least this often, whatever the plan says (clock jumps, edits by hand).
MAX_SLEEP_S = 30.0
#: After a failed pass.
RETRY_S = 5.0
#: While the clock guard pauses destruction: how often it looks again.
PAUSED_LOOK_S = 5.0
#: While an erased key may still sit in the WAL (a reader blocked the checkpoint).
CHECKPOINT_RETRY_S = 1.0
STATS_INTERVAL_S = 10.0
KEYS_CHECK_INTERVAL_S = 300.0
#: New audit entries are verified on every stats pass; once an hour the check re-anchors
#: on the newest MACed checkpoint in the catalog (gateway.segments.stats).
AUDIT_REANCHOR_EVERY = int(3600 / STATS_INTERVAL_S)


async def purge_loop(svc: Runtime, wake: asyncio.Event) -> None:
    """Sleep until the next deadline, purge, repeat. Errors are logged and retried."""
    while True:
        wake.clear()  # before looking, so a wake-up during the pass is not lost
        try:
            delay = await purge_pass(svc)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("purge pass failed; retrying in %.0f s", RETRY_S)
            delay = RETRY_S
        await svc.clock.wait(wake, delay)


async def purge_pass(svc: Runtime) -> float:
    """Expire/lapse holds, purge what is due; the seconds until the next look.

    Nothing is destroyed or expired while the wall clock is not trusted
    (``clock_trusted``): the pass then only looks again a few seconds later.
    """
    trusted = await clock_trusted(svc)
    if trusted is None:
        await retry_checkpoint(svc)  # an erased key leaves the WAL even while paused
        return PAUSED_LOOK_S
    # Holds first: one that lapsed or expired releases its footage in this same pass.
    await holds_tick(svc, trusted)
    started = trusted
    out = await purge_once(svc, trusted)
    now = svc.clock.now_us()
    # From the pass's start: whatever fell due during the pass is looked at now.
    nxt = await svc.catalog.run(seg_sql.next_deadline_after, started)
    holds = await svc.catalog.run(holds_sql.live_holds)
    wake_at = rules.next_wake(nxt, holds, now, MAX_SLEEP_S)
    if out.next_release_us is not None:
        wake_at = max(now, min(wake_at, out.next_release_us))
    delay = max(0.0, (wake_at - svc.clock.now_us()) / US)
    if await retry_checkpoint(svc):
        delay = min(delay, CHECKPOINT_RETRY_S)
    return delay


async def clock_trusted(svc: Runtime) -> int | None:
    """The wall time (us) if both clocks agree, else None (gateway.timeguard).

    Stores, logs, audits and exports what changed. The pass decides with the
    very reading judged here: a jump a moment later is caught by the next look.
    """
    stored = await svc.catalog.run(guard_sql.load)
    before = svc.clock_guard
    if before is None:  # the first look since start: the pause and last time seen persist
        before = GuardState(None, stored.paused_since_us, stored.jump_us, None,
                            stored.last_wall_us)
    acked = before.paused and stored.acked_us is not None
    tol = svc.settings.clock
    wall = svc.clock.now_us()
    after = look(before, wall, svc.clock.monotonic_us(),
                 tolerance_us=int(tol.jump_tolerance_s * US), settle_us=int(tol.settle_s * US),
                 acked=acked)
    svc.clock_guard = after
    await svc.catalog.run(guard_sql.save, after.paused_since_us, after.jump_us,
                          after.last_wall_us, acked or (stored.acked_us is not None
                                                        and not before.paused))
    svc.metrics.clock_jump.set(after.jump_us / US)
    svc.metrics.purge_paused.set(1 if after.paused else 0)
    if after.paused != before.paused:
        await svc.catalog.run(audit_log.append, svc.clock.now_us(), SYSTEM.name, SYSTEM.role,
                              "clock.pause" if after.paused else "clock.resume", "clock",
                              "wall clock jumped" if after.paused else
                              "acknowledged" if acked else "clocks agree again",
                              {"jump_us": after.jump_us})
    if after.paused and not before.paused:
        log.error("the wall clock jumped %+.1f s against the monotonic clock: destruction and "
                  "hold expiry are paused until the jump is undone for %.0f s or an operator "
                  "runs 'footage-gateway clock ack' (docs/storage.md, \"Clock jumps\")",
                  after.jump_us / US, tol.settle_s)
    elif before.paused and not after.paused:
        log.warning("destruction and hold expiry resume: %s",
                    "an operator acknowledged the wall clock" if acked
                    else f"the clocks agreed again for {tol.settle_s:.0f} s")
    return None if after.paused else wall


async def periodic(svc: Runtime, interval_s: float, fn) -> None:
    """Call ``fn()`` every ``interval_s``; a failure is logged and the loop goes on."""
    while True:
        await svc.clock.wait(None, interval_s)
        try:
            await fn()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("periodic task %s failed", getattr(fn, "__name__", fn))


async def stats_loop(svc: Runtime) -> None:
    ticks = 0

    async def refresh() -> None:
        nonlocal ticks
        ticks += 1
        await refresh_stats(svc, reanchor_audit=ticks % AUDIT_REANCHOR_EVERY == 0)
        # Timed-out web sessions leave the catalog (each is refused on use anyway).
        await expire_sessions(svc.catalog, svc.clock, svc.settings.sessions)
    await periodic(svc, STATS_INTERVAL_S, refresh)


async def keys_loop(svc: Runtime) -> None:
    """Rotate the KEK when its epoch is over and destroy KEKs nothing needs, every
    ``KEYS_CHECK_INTERVAL_S``; while the wall clock is not trusted, wait like the purge.

    Both decisions read the wall clock: a jump ahead would start an epoch early (and
    stamp the new KEK with the false time, stalling rotation once the clock is put
    right) and destroy a superseded KEK inside its grace.
    """
    delay, waiting = KEYS_CHECK_INTERVAL_S, False
    while True:
        await svc.clock.wait(None, delay)
        try:
            now = trusted_wall(svc)
            if now is None:
                if not waiting:
                    log.warning("key rotation and retirement wait: the wall clock is not "
                                "trusted (docs/storage.md, \"Clock jumps\")")
                delay, waiting = PAUSED_LOOK_S, True
                continue
            delay, waiting = KEYS_CHECK_INTERVAL_S, False
            await rotate_if_due(svc, now)
            await retire_keks(svc, now_us=now)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("key epoch pass failed")


def trusted_wall(svc: Runtime) -> int | None:
    """The wall time (us) if the purge loop's clock guard trusts it and the clocks still
    agree now, else None. Read-only: the purge loop alone records (and audits) a pause;
    a jump seen here first wakes it to do so."""
    state = svc.clock_guard
    if state is None or state.paused:
        return None
    tol = svc.settings.clock
    wall = svc.clock.now_us()
    after = look(state, wall, svc.clock.monotonic_us(),
                 tolerance_us=int(tol.jump_tolerance_s * US), settle_us=int(tol.settle_s * US))
    if after.paused:
        if svc.wake_purger is not None:
            svc.wake_purger.set()
        return None
    return wall


async def notify_loop(notifier: Notifier) -> None:
    """A pass when a hold changes (``Runtime.wake_notifier``), at the next retry, or
    every ``notify.check_every``: never in the way of the change itself."""
    while True:
        notifier.wake.clear()  # before the pass: a change during it means "again"
        delay = await notifier.step()
        await notifier.clock.wait(notifier.wake, delay)


async def unlock_loop(svc: Runtime) -> None:
    """Sealed mode: lock the key on time while nobody uses it, and when the server stops."""
    async def expire_session() -> None:
        await expire(svc)
    try:
        await periodic(svc, EXPIRY_CHECK_S, expire_session)
    finally:
        await lock_on_shutdown(svc)
