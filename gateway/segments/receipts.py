"""The last step of a purge: the row is replaced by its receipt, with an audit entry.

Shared by the purge pass and start-up recovery; neither knows about the other.
"""

from __future__ import annotations

from ..catalog import Catalog, audit_log
from ..catalog import holds as holds_sql
from ..catalog import segments as seg_sql
from ..catalog import store as store_sql
from ..models import SYSTEM, PurgeReceipt, Segment
from . import rules


REASON = "retention deadline passed"
#: ``finish_purge(owed=QUEUED)``: the deletion is not a failure, just left to the store loop.
QUEUED = ""


def finish_purge(db: Catalog, seg: Segment, reason: str,
                 owed: str | None = None) -> PurgeReceipt:
    """Receipt + audit entry, in one transaction; the row goes.

    ``owed``: why the store has not confirmed the ciphertext's deletion. The footage
    is destroyed all the same (its key is gone); the deletion is owed and retried
    (catalog.store, gateway.segments.store_loop).
    """
    released = rules.released_at(seg, holds_sql.holds_covering(db, seg.camera, seg.start_us,
                                                                   seg.end_us), seg.shredded_us)
    with db.tx():
        receipt = seg_sql.finish_purge(db, seg, reason, released)
        detail = {"camera": seg.camera, "deadline_us": seg.deadline_us, "released_us": released,
                  "destroyed_at_us": receipt.destroyed_at_us, "sha256": seg.sha256}
        if owed is not None:
            store_sql.owe_delete(db, seg.uid, receipt.destroyed_at_us, owed)
            detail["ciphertext"] = ("deletion queued" if owed == QUEUED
                                    else "deletion owed by the store")
        audit_log.append(db, receipt.destroyed_at_us, SYSTEM.name, SYSTEM.role, "purge",
                         f"segment:{seg.uid}", reason, detail)
    return receipt
