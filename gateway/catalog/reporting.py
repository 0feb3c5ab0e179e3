"""Read-only queries for the privacy-audit report (gateway.report).

Aggregates and rows with no footage and no personal data: counts, times,
camera ids, deadlines. Tolerates an older catalog without an ``exports`` table.
"""

from __future__ import annotations

from dataclasses import dataclass

from .core import Catalog


@dataclass(frozen=True)
class StoredRetention:
    """What the catalog holds for one camera now (not shredded)."""

    camera: str
    segments: int
    bytes: int
    oldest_start_us: int | None
    min_retention_s: int | None  # min over segments of (deadline - end)
    max_retention_s: int | None


def stored_retention(db: Catalog) -> list[StoredRetention]:
    rows = db.conn.execute(
        "SELECT camera, COUNT(*), COALESCE(SUM(bytes), 0), MIN(start_us), "
        "MIN(deadline_us - end_us), MAX(deadline_us - end_us) FROM segments "
        "WHERE state != 'shredded' GROUP BY camera ORDER BY camera").fetchall()
    return [StoredRetention(r[0], r[1], r[2], r[3],
                            None if r[4] is None else r[4] // 1_000_000,
                            None if r[5] is None else r[5] // 1_000_000) for r in rows]
