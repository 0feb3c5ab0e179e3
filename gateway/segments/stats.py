"""The gauges that summarise the catalog, and the running check of the audit chain.

Every query here runs on the catalog's read-only connection, so a refresh
never holds up the writer (ingest and purge).
"""

from __future__ import annotations

import logging

from ..audit import GENESIS
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


async def refresh_stats(svc: Runtime, full_audit: bool = False) -> None:
    """Recompute the gauges that summarise the catalog."""
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
    await verify_audit(svc, full=full_audit)


async def verify_audit(svc: Runtime, full: bool = False) -> bool:
    """Check the audit chain (only new entries unless ``full``) and export the result."""
    resume = not full and svc.audit_ok_upto is not None
    after = svc.audit_ok_upto if resume else (0, GENESIS)
    keyed = svc.audit_keyed if resume else False
    key = svc.catalog.catalog.audit_key
    result = await svc.catalog.read(
        lambda db: verify_chain(audit_log.entries(db, after[0]), after=after, key=key,
                                keyed=keyed))
    if result.ok:
        svc.audit_ok_upto = (after[0] + result.entries, result.head)
        svc.audit_keyed = result.keyed
    else:
        svc.audit_ok_upto = None
        log.error("audit chain broken at entry %s: %s", result.first_bad_seq, result.problem)
    svc.metrics.audit_verified.set(1 if result.ok else 0)
    return result.ok


def _past_deadline_counts(db, now_us: int) -> dict[str, int]:
    """Segments past deadline that no live hold preserves, per camera (must all be 0)."""
    out: dict[str, int] = {}
    for seg in due_plan(db, now_us).destroy:
        out[seg.camera] = out.get(seg.camera, 0) + 1
    return out
