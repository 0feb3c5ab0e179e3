"""The store's bookkeeping, in the background (docs/storage.md, "S3").

One pass, every ``PASS_EVERY_S`` or when woken (a hold changed, a deletion
failed):

- owed deletions: ciphertext whose key is already erased and whose deletion the
  store did not confirm, retried with exponential backoff;
- write intents older than ``STALE_WRITE_S`` with no row: an abandoned upload
  whose object could not be discarded then;
- legal holds (S3 Object Lock): ON for every kept segment an active hold
  covers, OFF for the rest, from the catalog's holds (the rule) to the store
  (the mirror);
- retention: a store lock shorter than a lengthened deadline is extended.

A failure keeps the work for the next pass and shows in the metrics
(``footage_storage_*``). The footage itself never depends on these calls: the
catalog's holds keep it, and erasing the key destroys it.
"""

from __future__ import annotations

import asyncio
import logging
import random

from ..catalog import holds as holds_sql
from ..catalog import segments as seg_sql
from ..catalog import store as store_sql
from ..catalog.core import ReadOnlyCatalog
from ..clock import US
from ..runtime import Runtime
from . import recovery

log = logging.getLogger(__name__)

PASS_EVERY_S = 30.0
#: Backoff of an owed deletion: 2^attempts seconds, capped.
BACKOFF_CAP_S = 600
#: An intent this old with no row is no longer in flight (a put times out long before).
STALE_WRITE_S = 900
#: Legal-hold and retention calls per pass (the rest wait for the next pass).
CALLS_PER_PASS = 500
#: Deletions in flight at once (the store pool has 8 threads), and read per batch.
DELETE_CONCURRENCY = 8
DELETE_BATCH = 100


async def store_loop(svc: Runtime) -> None:
    """Passes until cancelled; the first also scrubs the whole store once. Deadlines
    move only at start (gateway.segments.deadlines), so the retention check (a scan of
    every kept row) runs until it finds nothing, then no more."""
    scrubbed = False
    extend = True
    while True:
        svc.wake_store.clear()
        try:
            delay, extend = await store_pass(svc, extend=extend)
            if not scrubbed:
                scrubbed = True
                await scrub(svc)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("store pass failed; retrying in %.0f s", PASS_EVERY_S)
            delay = PASS_EVERY_S
        await svc.clock.wait(svc.wake_store, delay)


async def store_pass(svc: Runtime, *, extend: bool = True) -> tuple[float, bool]:
    """One pass: (seconds until the next, whether retention may still need extending)."""
    ok = await _probe(svc)
    if ok:
        await retry_deletes(svc)
        await finish_stale_writes(svc)
        if svc.storage.locks:
            await mirror_legal_holds(svc)
            if extend:
                extend = await extend_retention(svc)
    n, oldest = await svc.catalog.run(store_sql.owed_deletes)
    now = svc.clock.now_us()
    svc.metrics.deletes_pending.set(n)
    svc.metrics.delete_oldest.set(0 if oldest is None else max(0, now - oldest) / US)
    nxt = await svc.catalog.run(store_sql.next_delete_try)
    if nxt is None:
        return PASS_EVERY_S, extend
    return min(PASS_EVERY_S, max(0.5, (nxt - now) / US)), extend


async def _probe(svc: Runtime) -> bool:
    try:
        await svc.io(svc.storage.probe)
    except Exception as err:  # noqa: BLE001
        if _was_up(svc):  # once per outage, not every pass
            log.error("the storage backend does not answer: %s", err)
        svc.metrics.store_up.set(0)
        svc.metrics.store_errors.labels("probe").inc()
        return False
    if not _was_up(svc):
        log.warning("the storage backend answers again")
    svc.metrics.store_up.set(1)
    return True


def _was_up(svc: Runtime) -> bool:
    return svc.metrics.registry.get_sample_value("footage_storage_up") == 1


def backoff_s(attempts: int) -> float:
    """Seconds before try ``attempts + 1``: 2, 4, 8 ... capped, with +-20 % jitter."""
    return min(BACKOFF_CAP_S, 2 ** (attempts + 1)) * random.uniform(0.8, 1.2)


async def retry_deletes(svc: Runtime) -> int:
    """Run every owed or queued deletion that is due, ``DELETE_CONCURRENCY`` at a time
    (each is round trips on S3), batch after batch until none is due; returns how many
    the store confirmed. A failure pushes that one's next try back (``backoff_s``)."""
    done = 0
    gate = asyncio.Semaphore(DELETE_CONCURRENCY)

    async def one(owed: store_sql.OwedDelete) -> bool:
        async with gate:
            try:
                await svc.io(svc.storage.delete, owed.uid)
            except Exception as err:  # noqa: BLE001
                svc.metrics.store_errors.labels("delete").inc()
                nxt = svc.clock.now_us() + int(backoff_s(owed.attempts) * US)
                await svc.catalog.run(store_sql.delete_failed, owed.uid, nxt,
                                      str(err) or type(err).__name__)
                return False
            await svc.catalog.run(store_sql.delete_done, owed.uid)
            if owed.attempts:
                log.info("owed deletion of %s done after %d attempt(s)", owed.uid,
                         owed.attempts + 1)
            return True

    while True:
        batch = await svc.catalog.run(store_sql.due_deletes, svc.clock.now_us(), DELETE_BATCH)
        if not batch:
            return done
        results = await asyncio.gather(*(one(o) for o in batch))
        done += sum(results)
        if len(batch) < DELETE_BATCH:
            return done


async def finish_stale_writes(svc: Runtime) -> None:
    """Intents of abandoned uploads whose object could not be discarded at the time."""
    cutoff = svc.clock.now_us() - STALE_WRITE_S * US
    for uid in await svc.catalog.read(store_sql.stale_writes, cutoff):
        try:
            await svc.io(svc.storage.discard, uid)
        except Exception:  # noqa: BLE001
            svc.metrics.store_errors.labels("discard").inc()
            continue
        await svc.catalog.run(store_sql.end_write, uid)


def wanted_legal_holds(db) -> set[str]:
    """Uids of kept segments an *active* hold covers (a pending request preserves footage
    in the catalog only: the store's lock mirrors the director's approval)."""
    out: set[str] = set()
    for h in holds_sql.live_holds(db):
        if h.state == "active":
            out |= {s.uid for s in seg_sql.segments_in_window(db, list(h.cameras), h.start_us,
                                                               h.end_us)
                    if s.state == "stored"}
    return out


async def mirror_legal_holds(svc: Runtime) -> int:
    """Set the store's legal holds to what the holds say; returns how many still differ."""
    want = await svc.catalog.read(wanted_legal_holds)  # reads: never on the writer
    have = await svc.catalog.read(store_sql.store_held)
    todo = [(uid, True) for uid in sorted(want - have)] + [(uid, False)
                                                           for uid in sorted(have - want)]
    failed = 0
    for uid, on in todo[:CALLS_PER_PASS]:
        try:
            await svc.io(svc.storage.set_legal_hold, uid, on)
        except FileNotFoundError:
            continue  # destroyed meanwhile: nothing left to hold
        except Exception as err:  # noqa: BLE001
            failed += 1
            svc.metrics.store_errors.labels("legal_hold").inc()
            if failed == 1:
                log.error("could not turn the store's legal hold %s for %s: %s (the catalog's "
                          "hold keeps the footage; retrying)", "ON" if on else "OFF", uid, err)
            continue
        await svc.catalog.run(store_sql.set_store_hold, uid, on)
    pending = failed + max(0, len(todo) - CALLS_PER_PASS)
    svc.metrics.legal_holds_pending.set(pending)
    if todo and not failed:
        log.info("store legal holds: %d ON, %d OFF", sum(1 for _u, on in todo if on),
                 sum(1 for _u, on in todo if not on))
    return pending


async def extend_retention(svc: Runtime) -> bool:
    """A deadline moved later (a policy change, applied at start): the store's lock
    follows it. True while some may be left (a full batch, or a failure)."""
    behind = await svc.catalog.read(store_sql.lock_behind_deadline, CALLS_PER_PASS)
    for uid, deadline in behind:
        try:
            await svc.io(svc.storage.extend_retention, uid, deadline)
        except Exception:  # noqa: BLE001
            svc.metrics.store_errors.labels("retention").inc()
            return True
        await svc.catalog.run(store_sql.set_lock_until, uid, deadline)
    return len(behind) == CALLS_PER_PASS


async def scrub(svc: Runtime) -> recovery.ScrubPlan:
    """Every file/object against every row: the walk runs in the store pool on a
    read-only connection of its own, so neither the writer nor the loop waits."""
    def plan() -> recovery.ScrubPlan:
        db = ReadOnlyCatalog(svc.catalog.catalog.path)
        try:
            return recovery.scrub_plan(db, svc.storage)
        finally:
            db.close()
    found = await svc.io(plan)
    for tmp in found.temps:
        tmp.unlink(missing_ok=True)
    for uid in found.orphans:
        await svc.io(svc.storage.delete, uid)
    for uid in found.missing:
        await svc.catalog.run(seg_sql.mark_corrupt, uid)
        log.error("segment %s is in the catalog but its ciphertext is missing from the store",
                  uid)
    svc.metrics.scrub_problems.set(len(found.missing))
    if found.temps or found.orphans or found.missing:
        log.warning("scrub: %d temp file(s) and %d unacknowledged file(s) removed, %d kept "
                    "segment(s) missing", len(found.temps), len(found.orphans),
                    len(found.missing))
    return found
