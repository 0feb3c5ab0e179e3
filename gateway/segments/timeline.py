"""A camera's timeline for people, as a pure function: runs of stored footage, gaps, holds.

Consecutive segments (the next starting within ``JOIN_GAP_US`` of the last
one's end) are one run; between runs is a gap, which the purge receipts say is
footage already destroyed or time nothing was recorded. Each run says when its
footage goes: its deadline, or later while a hold keeps it. No clock, no SQL.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

from ..clock import US
from ..models import Hold, PurgeReceipt, Segment
from .rules import preserving_hold

#: Segments closer than this are one stretch of recording (cameras cut on keyframes).
JOIN_GAP_US = 2 * US


@dataclass
class Run:
    start_us: int
    end_us: int
    segments: int = 0
    bytes: int = 0
    first_goes_us: int = 0     # when its earliest footage is destroyed
    last_goes_us: int = 0
    held_by: set[int] = field(default_factory=set)  # hold ids keeping some of it past deadline


@dataclass(frozen=True)
class Gap:
    start_us: int
    end_us: int
    destroyed: int             # purge receipts in it: footage destroyed at its deadline


@dataclass(frozen=True)
class Timeline:
    rows: tuple[Run | Gap, ...]
    holds: tuple[Hold, ...]
    truncated: bool


def goes_at(seg: Segment, holds: Sequence[Hold], now_us: int) -> tuple[int, int | None]:
    """(when this segment is destroyed if nothing changes, the hold that keeps it or None)."""
    kept = preserving_hold(seg, holds, now_us)
    if kept is not None and kept[1] > seg.deadline_us:
        return kept[1], kept[0].id
    return seg.deadline_us, None


def build(segments: Sequence[Segment], receipts: Sequence[PurgeReceipt], holds: Sequence[Hold],
          start_us: int, end_us: int, now_us: int, truncated: bool = False) -> Timeline:
    """Rows oldest first over [start, end); ``segments`` sorted by start, one camera."""
    live = [h for h in holds if h.state in ("requested", "active")]
    runs: list[Run] = []
    for s in segments:
        goes, hold_id = goes_at(s, live, now_us)
        if runs and s.start_us - runs[-1].end_us <= JOIN_GAP_US:
            r = runs[-1]
            r.end_us = max(r.end_us, s.end_us)
            r.first_goes_us = min(r.first_goes_us, goes)
            r.last_goes_us = max(r.last_goes_us, goes)
        else:
            r = Run(s.start_us, s.end_us, first_goes_us=goes, last_goes_us=goes)
            runs.append(r)
        r.segments += 1
        r.bytes += s.bytes
        if hold_id is not None:
            r.held_by.add(hold_id)
    rows: list[Run | Gap] = []
    cursor = start_us
    for r in runs:
        if r.start_us - cursor > JOIN_GAP_US:
            rows.append(_gap(cursor, r.start_us, receipts))
        rows.append(r)
        cursor = max(cursor, r.end_us)
    last = min(end_us, now_us)
    if last - cursor > JOIN_GAP_US:
        rows.append(_gap(cursor, last, receipts))
    return Timeline(tuple(rows), tuple(holds), truncated)


def _gap(start_us: int, end_us: int, receipts: Sequence[PurgeReceipt]) -> Gap:
    n = sum(1 for r in receipts if r.start_us < end_us and r.end_us > start_us)
    return Gap(start_us, end_us, n)
