"""The gauges that summarise the catalog, and the running check of the audit chain.

Every query here runs on the catalog's read-only connection, so a refresh
never holds up the writer (ingest and purge); only a new checkpoint is written.

The running check never walks the whole chain (154-207 s at 10.5 M entries,
docs/scale.md): every pass reads the entries after the last one it verified;
at start and once an hour it re-anchors on the newest checkpoint in the catalog (gateway.audit,
MACed under the audit key) and reads the entries after it, then records a new
checkpoint when the verified head is ``CHECKPOINT_EVERY`` entries past the
old one. ``audit verify`` and the audit page's "check the whole chain" walk
from the first entry.
"""

from __future__ import annotations

import logging

from ..audit import VerifyResult
from ..audit import verify as verify_chain
from ..catalog import audit_log
from ..catalog import holds as holds_sql
from ..catalog import segments as seg_sql
from ..clock import US
from ..holds.rules import STATES
from ..runtime import Runtime
from .ingest import free_bytes
from .purge import due_plan

log = logging.getLogger(__name__)


#: A new checkpoint is recorded when the verified head is this many entries past the newest.
CHECKPOINT_EVERY = 1000


async def refresh_stats(svc: Runtime, reanchor_audit: bool = False) -> None:
    """Recompute the gauges; ``reanchor_audit``: check the chain from its newest checkpoint."""
    now = svc.clock.now_us()
    m = svc.metrics
    stats = {s.camera: s for s in await svc.catalog.read(seg_sql.camera_stats)}
    for cam in svc.settings.cameras:
        s = stats.get(cam.id)
        m.segments_stored.labels(cam.id).set(s.segments if s else 0)
        m.bytes_stored.labels(cam.id).set(s.bytes if s else 0)
        m.oldest_age.labels(cam.id).set(
            (now - s.oldest_start_us) / US if s and s.oldest_start_us else 0)
        m.retention.labels(cam.id).set(svc.retention_s(cam))
    past = await svc.catalog.read(_past_deadline_counts, now)
    for cam in svc.settings.cameras:
        m.past_deadline.labels(cam.id).set(past.get(cam.id, 0))
    counts = await svc.catalog.read(holds_sql.hold_counts)
    for state in STATES:
        m.holds.labels(state).set(counts.get(state, 0))
    m.storage_free.set(free_bytes(svc))
    await verify_audit(svc, reanchor=reanchor_audit)


async def verify_audit(svc: Runtime, full: bool = False, reanchor: bool = False) -> bool:
    """Check the audit chain and export the result.

    Default: the entries after the last one this process verified (which must
    still be in the chain). ``reanchor`` (start, hourly): from the newest
    checkpoint instead. ``full``: from the first entry. A walk from a
    checkpoint or the first entry records a new checkpoint when it has gone
    far enough.
    """
    key = svc.catalog.catalog.audit_key
    if full or reanchor or svc.audit_ok_upto is None:
        check = await svc.catalog.read(
            lambda db: audit_log.check_chain(db, key, since_checkpoint=not full))
        result = check.result
        after = (check.from_seq, None)
    else:
        after = svc.audit_ok_upto
        result = await svc.catalog.read(lambda db: _resume(db, after, key, svc.audit_keyed))
    if result.ok:
        svc.audit_ok_upto = (after[0] + result.entries, result.head)
        svc.audit_keyed = result.keyed
        if after[1] is None:
            await _maybe_checkpoint(svc, svc.audit_ok_upto, after[0] == 0)
    else:
        svc.audit_ok_upto = None
        log.error("audit chain broken at entry %s: %s", result.first_bad_seq, result.problem)
    svc.metrics.audit_verified.set(1 if result.ok else 0)
    return result.ok


def _resume(db, after: tuple[int, str], key: bytes | None, keyed: bool):
    """The entries after ``after``, which must itself still be in the chain (not cut off)."""
    if after[0] and audit_log.hash_at(db, after[0]) != after[1]:
        return VerifyResult(False, 0, after[1], after[0],
                            f"entry {after[0]}, verified earlier, is gone or replaced "
                            "(entries were cut off the end of the chain)", keyed, key is not None)
    return verify_chain(audit_log.entries(db, after[0]), after=after, key=key, keyed=keyed)


async def _maybe_checkpoint(svc: Runtime, upto: tuple[int, str], full: bool) -> None:
    """Record a checkpoint of the verified head when it is far enough past the newest one."""
    if svc.catalog.catalog.audit_key is None or not svc.audit_keyed:
        return  # an unkeyed chain: a checkpoint could not be trusted (nor written)
    newest = await svc.catalog.read(audit_log.newest_checkpoint_upto)
    if upto[0] - newest >= CHECKPOINT_EVERY:
        await svc.catalog.run(audit_log.append_checkpoint, svc.clock.now_us(), upto[0], upto[1],
                              full)


def _past_deadline_counts(db, now_us: int) -> dict[str, int]:
    """Segments past deadline that no live hold preserves, per camera (must all be 0)."""
    out: dict[str, int] = {}
    for seg in due_plan(db, now_us).destroy:
        out[seg.camera] = out.get(seg.camera, 0) + 1
    return out
