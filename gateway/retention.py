"""Retention decisions, pure: no clock, no files, no SQL.

``deadline`` says when a segment must be destroyed; ``plan_purge`` splits the
due segments into those to destroy now and those a live hold preserves;
``next_wake`` says when the loop must look again. The loop that applies a plan
lives in ``gateway.purger``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

from .clock import US
from .models import Hold, Segment


def deadline(end_us: int, retention_s: int) -> int:
    """A segment is destroyed at its end plus the retention: never earlier."""
    if retention_s < 0:
        raise ValueError("retention must not be negative")
    return end_us + retention_s * US


@dataclass(frozen=True)
class Kept:
    segment: Segment
    hold_id: int
    until_us: int  # the hold preserves it at most until then


@dataclass(frozen=True)
class PurgePlan:
    destroy: tuple[Segment, ...]
    kept: tuple[Kept, ...]


def preserving_hold(seg: Segment, holds: Iterable[Hold], now_us: int) -> Hold | None:
    """The live hold (if any) that preserves this segment at ``now_us``; longest-lived first."""
    best: Hold | None = None
    for h in holds:
        until = h.preserves_until()
        if until is None or until <= now_us or not h.covers(seg.camera, seg.start_us, seg.end_us):
            continue
        if best is None or until > (best.preserves_until() or 0):
            best = h
    return best


def plan_purge(due: Sequence[Segment], holds: Sequence[Hold], now_us: int) -> PurgePlan:
    """Of the segments given, destroy those past deadline that no live hold preserves."""
    destroy: list[Segment] = []
    kept: list[Kept] = []
    for seg in due:
        if seg.deadline_us > now_us or seg.state == "shredded":
            continue
        h = preserving_hold(seg, holds, now_us)
        if h is None:
            destroy.append(seg)
        else:
            kept.append(Kept(seg, h.id, h.preserves_until() or now_us))
    return PurgePlan(tuple(destroy), tuple(kept))


def next_wake(next_deadline_us: int | None, holds: Sequence[Hold], now_us: int,
              max_sleep_s: float) -> int:
    """When to look again: the next deadline, the end of a hold's protection, or a cap."""
    candidates = [now_us + int(max_sleep_s * US)]
    if next_deadline_us is not None:
        candidates.append(next_deadline_us)
    for h in holds:
        until = h.preserves_until()
        if until is not None and until > now_us:
            candidates.append(until)
    return max(now_us, min(candidates))
