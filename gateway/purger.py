"""Applies retention plans: crypto-shreds due segments on time and proves it.

Procedure per segment (docs/storage.md): erase the wrapped data key and mark
the row shredded (one transaction) -> checkpoint the WAL so the key leaves no
copy in the database files -> unlink the ciphertext and fsync the directory ->
replace the row by a purge receipt (with its audit entry). A crash between any
two steps is finished by ``recover`` at the next start.

The loop sleeps until the next deadline (or the end of a hold's protection),
not on a fixed interval, and is woken early when a segment or hold changes.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from . import retention
from .catalog import Catalog
from .catalog import audit_log, holds as holds_sql, segments as seg_sql
from .clock import US
from .crashpoints import crash_point
from .holds_service import tick as holds_tick
from .models import SYSTEM, PurgeReceipt, Segment
from .vault.storage import Storage

if TYPE_CHECKING:  # services imports this module
    from .services import Services

log = logging.getLogger(__name__)

PAGE = 500
#: Look again at least this often, whatever the plan says (clock jumps, edits by hand).
MAX_SLEEP_S = 30.0


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
    db.checkpoint()
    return done


def _finish(db: Catalog, seg: Segment, reason: str) -> PurgeReceipt:
    """Receipt + audit entry, in one transaction; the row goes."""
    released = retention.released_at(seg, holds_sql.holds_covering(db, seg.camera, seg.start_us,
                                                                   seg.end_us), seg.shredded_us)
    with db.tx():
        receipt = seg_sql.finish_purge(db, seg, reason, released)
        audit_log.append(db, receipt.destroyed_at_us, SYSTEM.name, SYSTEM.role, "purge",
                         f"segment:{seg.uid}", reason,
                         {"camera": seg.camera, "deadline_us": seg.deadline_us,
                          "released_us": released,
                          "destroyed_at_us": receipt.destroyed_at_us, "sha256": seg.sha256})
    return receipt


async def purge_once(svc: Services) -> PurgeOutcome:
    """Destroy every segment that is due now and not preserved by a live hold."""
    now = svc.clock.now_us()
    out = PurgeOutcome()
    # First, purges a failed unlink left half-done (key already erased): finish them.
    for seg in await svc.catalog.run(seg_sql.shredded_segments):
        await _unlink_and_receipt(svc, seg, out)
    holds = await svc.catalog.run(holds_sql.live_holds)
    cursor = (-1, -1)
    while page := await svc.catalog.run(seg_sql.due_segments, now, PAGE, cursor):
        cursor = (page[-1].deadline_us, page[-1].id)
        plan = retention.plan_purge(page, holds, now)
        out.kept += len(plan.kept)
        for k in plan.kept:
            if out.next_release_us is None or k.until_us < out.next_release_us:
                out.next_release_us = k.until_us
        if not plan.destroy:
            continue
        shredded = await svc.catalog.run(_shred_batch, list(plan.destroy), svc.clock.now_us())
        crash_point("purge.key_erased")
        for seg in shredded:
            await _unlink_and_receipt(svc, seg, out)
    return out


async def _unlink_and_receipt(svc: Services, seg: Segment, out: PurgeOutcome) -> None:
    """Steps 3 and 4 of a purge (the key is already erased)."""
    await svc.cpu(svc.storage.delete, seg.uid)
    crash_point("purge.unlinked")
    receipt = await svc.catalog.run(_finish, seg, "retention deadline passed")
    crash_point("purge.receipt")
    svc.metrics.purged.labels(seg.camera).inc()
    svc.metrics.purge_lag.observe(max(0, receipt.lag_us) / US)
    out.destroyed.append(seg)
    held = receipt.released_us is not None and receipt.released_us > seg.deadline_us
    log.info("destroyed segment %s (camera %s): key erased %.3f s after %s, "
             "file unlinked, receipt written", seg.uid, seg.camera, receipt.lag_us / US,
             "the hold that kept it ended" if held else "its deadline")


def recover(db: Catalog, storage: Storage) -> dict[str, int]:
    """Startup: finish interrupted purges and drop what was never acknowledged.

    - temp files: a write that never finished; the client got no 201. Deleted.
    - rows marked shredded: the key is already gone; unlink and write the receipt.
    - files with no row: renamed but never committed (no 201 either); their data
      key was never stored, so they are unreadable noise. Deleted.
    - rows with no file: acknowledged footage lost to the disk; marked corrupt
      and reported (``check`` fails until someone looks).
    """
    counts = {"temp_removed": 0, "purges_finished": 0, "orphans_removed": 0, "missing": 0}
    for tmp in storage.temp_files():
        tmp.unlink(missing_ok=True)
        counts["temp_removed"] += 1
    for seg in seg_sql.shredded_segments(db):
        storage.delete(seg.uid)
        _finish(db, seg, "retention deadline passed")
        counts["purges_finished"] += 1
    rows = {uid: state for uid, state, _b, _s in seg_sql.all_uids(db)}
    files = set(storage.uids())
    for uid in files - rows.keys():
        storage.delete(uid)
        counts["orphans_removed"] += 1
    for uid, state in rows.items():
        if state == "stored" and uid not in files:
            seg_sql.mark_corrupt(db, uid)
            counts["missing"] += 1
            log.error("segment %s is in the catalog but its file is missing", uid)
    if any(counts.values()):
        log.warning("recovery: %s", counts)
    return counts


async def purge_loop(svc: Services, wake: asyncio.Event) -> None:
    """Sleep until the next deadline, purge, repeat. Errors are logged and retried."""
    while True:
        wake.clear()  # before looking, so a wake-up during the pass is not lost
        try:
            # Holds first: one that lapsed or expired releases its footage in this same pass.
            await holds_tick(svc)
            started = svc.clock.now_us()
            out = await purge_once(svc)
            now = svc.clock.now_us()
            # From the pass's start: whatever fell due during the pass is looked at now.
            nxt = await svc.catalog.run(seg_sql.next_deadline_after, started)
            holds = await svc.catalog.run(holds_sql.live_holds)
            wake_at = retention.next_wake(nxt, holds, now, MAX_SLEEP_S)
            if out.next_release_us is not None:
                wake_at = max(now, min(wake_at, out.next_release_us))
            delay = max(0.0, (wake_at - svc.clock.now_us()) / US)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("purge pass failed; retrying in 5 s")
            delay = 5.0
        try:
            await asyncio.wait_for(wake.wait(), timeout=delay)
        except asyncio.TimeoutError:
            pass
