"""Purge receipts older than the keep period become one audited summary per day.

Why this loses no proof: every purge also wrote an audit entry (``purge``,
gateway.segments.receipts) carrying the same facts per segment (camera,
deadline, release, destruction time, ciphertext SHA-256), hash-chained and
MACed; the audit log is never compacted. The receipts table is the queryable
copy the report and the receipts page read, and at ~130 MiB per camera-year
it need not grow for ever (docs/scale.md, "Receipts and audit rows").

One camera's day (UTC) is compacted in one transaction: its receipts are
deleted and a ``receipts.compact`` audit entry is appended with the count, the
largest lag, how many a hold had kept, and the SHA-256 over the deleted rows
(one canonical JSON line each, in id order), so a copy of them kept elsewhere
can be checked against the chain. A crash leaves each camera-day whole or
done. The unit is small on purpose: a whole day of a 20-camera branch (28,800
receipts, deleted with ``secure_delete``) held the single writer for 3 s, a
camera-day takes ~0.15 s, so ingest and purges wait no longer than that.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from ..models import SYSTEM
from . import audit_log
from .core import Catalog

DAY_US = 86400 * 1_000_000
ACTION = "receipts.compact"
_COLS = ("segment_uid, camera, start_us, end_us, deadline_us, destroyed_at_us, sha256, reason, "
         "released_us")


@dataclass(frozen=True)
class Compacted:
    days: int
    receipts: int


def digest_rows(rows) -> str:
    """SHA-256 over the receipts, one canonical JSON array per line, in the given order."""
    h = hashlib.sha256()
    for r in rows:
        h.update(json.dumps(list(r), separators=(",", ":")).encode() + b"\n")
    return h.hexdigest()


def compact_receipts(db: Catalog, before_us: int, now_us: int) -> Compacted:
    """Summarise and delete the receipts of every whole UTC day that ends by ``before_us``."""
    cutoff = before_us - before_us % DAY_US
    oldest = db.conn.execute("SELECT MIN(destroyed_at_us) FROM purge_receipts").fetchone()[0]
    days = n = 0
    day = None if oldest is None else oldest - oldest % DAY_US
    while day is not None and day + DAY_US <= cutoff:
        cameras = [r[0] for r in db.conn.execute(
            "SELECT DISTINCT camera FROM purge_receipts WHERE destroyed_at_us >= ? "
            "AND destroyed_at_us < ?", (day, day + DAY_US))]
        for camera in cameras:
            n += _compact(db, day, camera, now_us)
        days += 1
        nxt = db.conn.execute("SELECT MIN(destroyed_at_us) FROM purge_receipts "
                              "WHERE destroyed_at_us >= ?", (day + DAY_US,)).fetchone()[0]
        day = None if nxt is None else nxt - nxt % DAY_US
    return Compacted(days, n)


def _compact(db: Catalog, day: int, camera: str, now_us: int) -> int:
    where = "destroyed_at_us >= ? AND destroyed_at_us < ? AND camera = ?"
    args = (day, day + DAY_US, camera)
    with db.tx() as c:
        rows = c.execute(f"SELECT {_COLS} FROM purge_receipts WHERE {where} ORDER BY id",
                         args).fetchall()
        if not rows:
            return 0
        lags = [r[5] - (r[8] if r[8] is not None else r[4]) for r in rows]
        c.execute(f"DELETE FROM purge_receipts WHERE {where}", args)
        audit_log.append(db, now_us, SYSTEM.name, SYSTEM.role, ACTION,
                         f"receipts:{camera}:{day // DAY_US}", "receipts past their keep period",
                         {"day_start_us": day, "camera": camera, "receipts": len(rows),
                          "max_lag_us": max(lags),
                          "held": sum(1 for r in rows if r[8] is not None and r[8] > r[4]),
                          "sha256": digest_rows(tuple(r) for r in rows)})
    return len(rows)
