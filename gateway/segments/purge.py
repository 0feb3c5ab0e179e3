"""Applies retention plans: crypto-shreds due segments on time and proves it.

Procedure per segment (docs/storage.md): erase the wrapped data key and mark
the row shredded (one transaction) -> checkpoint the WAL so the key leaves no
copy in the database files -> unlink the ciphertext and fsync the directory ->
replace the row by a purge receipt (with its audit entry). A crash between any
two steps is finished by ``gateway.segments.recovery`` at the next start.

The decision is ``rules.plan_purge`` (pure); ``due_plan`` applies it to every
due row for the metrics, ``purge --dry-run`` and the report, and ``purge_once``
applies it page by page and acts on it. The loop that calls ``purge_once`` is
in ``gateway.loops``.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from ..catalog import Catalog
from ..catalog import holds as holds_sql
from ..catalog import segments as seg_sql
from ..clock import US
from ..crashpoints import crash_point
from ..models import Segment
from ..runtime import Runtime
from . import rules
from .receipts import QUEUED, REASON, finish_purge

log = logging.getLogger(__name__)


@dataclass
class PurgeOutcome:
    destroyed: list[Segment] = field(default_factory=list)
    kept: int = 0
    next_release_us: int | None = None  # when the first kept segment stops being preserved


def _shred_batch(db: Catalog, segs: list[Segment], now_us: int) -> list[Segment]:
    done = []
    for seg in segs:
        if seg_sql.shred(db, seg.id, now_us):
            done.append(Segment(**{**seg.__dict__, "state": "shredded", "shredded_us": now_us}))
    db.wal_erased_pending += len(done)
    db.checkpoint()  # never waits out a reader: retried by the loop (retry_checkpoint)
    return done


async def retry_checkpoint(svc: Runtime) -> int:
    """Retry the truncating checkpoint while erased keys may sit in the WAL; export how many."""
    db = svc.catalog.catalog
    if db.wal_erased_pending:
        if await svc.catalog.run(Catalog.checkpoint):
            log.info("WAL truncated: no erased data key is left in it")
    svc.metrics.wal_erased_pending.set(db.wal_erased_pending)
    return db.wal_erased_pending


def due_plan(db: Catalog, now_us: int) -> rules.PurgePlan:
    """The purge plan for everything due now: exactly what the next purge pass does."""
    holds = holds_sql.live_holds(db)
    destroy: list[Segment] = []
    kept: list[rules.Kept] = []
    for page in seg_sql.iter_due(db, now_us):
        plan = rules.plan_purge(page, holds, now_us)
        destroy += plan.destroy
        kept += plan.kept
    return rules.PurgePlan(tuple(destroy), tuple(kept))


async def purge_once(svc: Runtime, now_us: int | None = None) -> PurgeOutcome:
    """Destroy every segment that is due now and not preserved by a live hold.

    ``now_us``: the wall time the caller judged trustworthy (gateway.loops), so
    the decision uses exactly the reading that was checked.
    """
    now = svc.clock.now_us() if now_us is None else now_us
    out = PurgeOutcome()
    # First, purges a failed unlink left half-done (key already erased): finish them.
    for seg in await svc.catalog.run(seg_sql.shredded_segments):
        await uninterrupted(_unlink_and_receipt(svc, seg, out))
    holds = await svc.catalog.run(holds_sql.live_holds)
    cursor = seg_sql.DUE_START
    # The same pages as ``due_plan`` (seg_sql.due_page), one writer call each, so
    # ingest is never held up for a whole pass.
    while True:
        page, cursor = await svc.catalog.run(seg_sql.due_page, now, cursor)
        if not page:
            break
        plan = rules.plan_purge(page, holds, now)
        out.kept += len(plan.kept)
        for k in plan.kept:
            if out.next_release_us is None or k.until_us < out.next_release_us:
                out.next_release_us = k.until_us
        if not plan.destroy:
            continue
        await uninterrupted(_destroy(svc, list(plan.destroy), out))
    return out


async def _destroy(svc: Runtime, segs: list[Segment], out: PurgeOutcome) -> None:
    """Steps 1-4 for a page of due segments: from key erasure to receipt, never half."""
    shredded = await svc.catalog.run(_shred_batch, segs, svc.clock.now_us())
    crash_point("purge.key_erased")
    if svc.storage.defer_deletes:
        await _receipts_deletes_queued(svc, shredded, out)
        return
    for seg in shredded:
        await _unlink_and_receipt(svc, seg, out)


def _finish_queued(db, segs: list[Segment]) -> list:
    with db.tx():  # one transaction for the page: receipts, audit entries, queued deletions
        return [finish_purge(db, seg, REASON, QUEUED) for seg in segs]


async def _receipts_deletes_queued(svc: Runtime, segs: list[Segment], out: PurgeOutcome) -> None:
    """Steps 3-4 where a delete is a network round trip or three (S3: list the versions,
    delete each, list again; ~100 ms on Ceph RGW): the footage is destroyed already (its
    key is erased), so the receipts are written now and the deletions queued for the
    store loop, which runs them concurrently. One by one here, a backlog of deletes
    would hold up every deadline behind it (found by bench/storage.py)."""
    receipts = await svc.catalog.run(_finish_queued, segs)
    crash_point("purge.receipt")
    for seg, receipt in zip(segs, receipts):
        _count(svc, seg, receipt, out, "object deletion queued")
    svc.wake_store.set()


async def uninterrupted(aw):
    """Run ``aw`` to its end even when the caller is cancelled meanwhile (SIGTERM stops
    the loops); the cancellation is raised after. A purge is never left between key
    erasure and receipt, where ``check`` fails until the next start."""
    task = asyncio.ensure_future(aw)
    cancelled = False
    while not task.done():
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            if task.cancelled():
                raise
            cancelled = True
    if cancelled:
        raise asyncio.CancelledError
    return task.result()


async def _unlink_and_receipt(svc: Runtime, seg: Segment, out: PurgeOutcome) -> None:
    """Steps 3 and 4 of a purge (the key is already erased).

    A store that cannot delete now (unreachable, a lock it still enforces) does not
    hold the purge up: the footage is destroyed with its key, so the receipt is
    written and the object's deletion is owed, retried with backoff by the store
    loop (``footage_storage_deletes_pending``).
    """
    owed = None
    try:
        await svc.io(svc.storage.delete, seg.uid)
    except Exception as err:  # noqa: BLE001 (any store failure: the deletion is owed)
        owed = str(err) or type(err).__name__
        log.warning("segment %s: key erased, but the store did not delete its ciphertext "
                    "(%s); retrying in the background", seg.uid, owed)
    crash_point("purge.unlinked")
    receipt = await svc.catalog.run(finish_purge, seg, REASON, owed)
    crash_point("purge.receipt")
    if owed is not None:
        svc.wake_store.set()
    _count(svc, seg, receipt, out, "file unlinked" if owed is None else "deletion owed")


def _count(svc: Runtime, seg: Segment, receipt, out: PurgeOutcome,
           ciphertext: str = "file unlinked") -> None:
    svc.metrics.purged.labels(seg.camera).inc()
    svc.metrics.purge_lag.observe(max(0, receipt.lag_us) / US)
    out.destroyed.append(seg)
    held = receipt.released_us is not None and receipt.released_us > seg.deadline_us
    log.info("destroyed segment %s (camera %s): key erased %.3f s after %s, "
             "%s, receipt written", seg.uid, seg.camera, receipt.lag_us / US,
             "the hold that kept it ended" if held else "its deadline", ciphertext)
