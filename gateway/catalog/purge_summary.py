"""The privacy-audit report's purge figures, computed by SQLite over the period's receipts.

A year at a 20-camera branch is ~10 M receipts: building a Python object for
each took 21 s for 30 days (bench/year.py). Here SQLite counts per camera and
sorts the lags (on the covering index of migration 0017), one pass over the
sorted integers fills the histogram and picks each percentile, and only the
receipts the report lists (early, late) become objects.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..models import PurgeReceipt
from .core import Catalog

#: When the footage became destroyable: its deadline, or the end of the hold that kept it.
LAG = "(destroyed_at_us - COALESCE(released_us, deadline_us))"
_RANGE = "destroyed_at_us >= ? AND destroyed_at_us < ?"
_RECEIPT_COLS = ("id, segment_uid, camera, start_us, end_us, deadline_us, destroyed_at_us, "
                 "sha256, reason, released_us")


@dataclass(frozen=True)
class CameraLags:
    camera: str
    count: int
    max_us: int
    p95_us: int


@dataclass(frozen=True)
class LagSummary:
    total: int
    held: int                        # kept past the deadline by a hold
    hist: list[tuple[str, int]]      # (label, count) for each bucket asked for
    p50_us: int | None
    p95_us: int | None
    max_us: int | None
    per_camera: list[CameraLags]
    early: list[PurgeReceipt]        # destroyed before the deadline
    late: list[PurgeReceipt]         # lag over ``late_after_us`` (holds are the caller's)


def lag_summary(db: Catalog, since_us: int, until_us: int,
                buckets: tuple[tuple[str, float | None, float | None], ...],
                late_after_us: int) -> LagSummary:
    """Counts, a histogram over ``buckets`` (label, low s incl., high s excl.; contiguous, in
    order) and nearest-rank percentiles, as gateway.policy.report computes them from a list."""
    per_cam = {r[0]: (r[1], r[2]) for r in db.conn.execute(
        f"SELECT camera, COUNT(*), MAX({LAG}) FROM purge_receipts WHERE {_RANGE} GROUP BY camera",
        (since_us, until_us))}
    held = db.conn.execute(
        f"SELECT COUNT(*) FROM purge_receipts WHERE {_RANGE} AND released_us IS NOT NULL "
        "AND released_us > deadline_us", (since_us, until_us)).fetchone()[0]
    total = sum(n for n, _max in per_cam.values())
    r50, r95 = _nearest_rank(total, 50), _nearest_rank(total, 95)
    cam_rank = {c: _nearest_rank(n, 95) for c, (n, _max) in per_cam.items()}
    seen = dict.fromkeys(per_cam, 0)
    cam_p95: dict[str, int] = {}
    p50 = p95 = None
    # Upper bounds (us) of each bucket but the last; lags arrive in ascending order.
    edges = [int(hi * 1_000_000) for _label, _lo, hi in buckets[:-1]] + [None]
    hist = [0] * len(buckets)
    b, edge, i = 0, edges[0], 0
    for camera, lag in db.conn.execute(
            f"SELECT camera, {LAG} AS lag FROM purge_receipts WHERE {_RANGE} ORDER BY lag",
            (since_us, until_us)):
        i += 1
        while edge is not None and lag >= edge:
            b += 1
            edge = edges[b]
        hist[b] += 1
        n = seen[camera] = seen[camera] + 1
        if n == cam_rank[camera]:
            cam_p95[camera] = lag
        if i == r50:
            p50 = lag
        if i == r95:
            p95 = lag
    return LagSummary(
        total=total, held=held, hist=[(label, n) for (label, _l, _h), n in zip(buckets, hist)],
        p50_us=p50, p95_us=p95, max_us=max((m for _n, m in per_cam.values()), default=None),
        per_camera=[CameraLags(c, per_cam[c][0], per_cam[c][1], cam_p95[c])
                    for c in sorted(per_cam)],
        early=_receipts(db, since_us, until_us, "destroyed_at_us < deadline_us", ()),
        late=_receipts(db, since_us, until_us, f"{LAG} > ?", (late_after_us,)))


def _nearest_rank(n: int, q: float) -> int:
    return max(1, math.ceil(n * q / 100)) if n else 0
def _receipts(db: Catalog, since_us: int, until_us: int, cond: str, args: tuple
              ) -> list[PurgeReceipt]:
    rows = db.conn.execute(
        f"SELECT {_RECEIPT_COLS} FROM purge_receipts WHERE {_RANGE} AND {cond} "
        "ORDER BY destroyed_at_us", (since_us, until_us, *args)).fetchall()
    return [PurgeReceipt(**{k: r[k] for k in r.keys()}) for r in rows]
