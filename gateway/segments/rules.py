"""Retention decisions, pure: no clock, no files, no SQL.

``deadline`` says when a segment must be destroyed; ``plan_purge`` splits the
due segments into those to destroy now and those a live hold preserves;
``next_wake`` says when the loop must look again. The loop that applies a plan
lives in ``gateway.segments.purge``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

from ..clock import US
from ..models import Hold, Segment


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


def preserved_until(seg: Segment, h: Hold) -> int | None:
    """Until when hold ``h`` keeps ``seg`` (None: it does not cover it).

    A pending request keeps a segment at most one grace period past the
    segment's own deadline, however often it is filed again: only a director's
    approval keeps footage longer.
    """
    until = h.preserves_until()
    if until is None or not h.covers(seg.camera, seg.start_us, seg.end_us):
        return None
    if h.state == "requested":
        until = min(until, seg.deadline_us + (h.grace_until_us - h.requested_us))
    return until


def preserving_hold(seg: Segment, holds: Iterable[Hold], now_us: int) -> tuple[Hold, int] | None:
    """The live hold that preserves this segment at ``now_us`` longest, and until when."""
    best: tuple[Hold, int] | None = None
    for h in holds:
        until = preserved_until(seg, h)
        if until is not None and until > now_us and (best is None or until > best[1]):
            best = (h, until)
    return best


def plan_purge(due: Sequence[Segment], holds: Sequence[Hold], now_us: int) -> PurgePlan:
    """Of the segments given, destroy those past deadline that no live hold preserves."""
    destroy: list[Segment] = []
    kept: list[Kept] = []
    for seg in due:
        if seg.deadline_us > now_us or seg.state == "shredded":
            continue
        found = preserving_hold(seg, holds, now_us)
        if found is None:
            destroy.append(seg)
        else:
            kept.append(Kept(seg, found[0].id, found[1]))
    return PurgePlan(tuple(destroy), tuple(kept))


def protection_end(seg: Segment, h: Hold) -> int | None:
    """When hold ``h`` stopped (or will stop) keeping ``seg``; None if it never covered it."""
    if not h.covers(seg.camera, seg.start_us, seg.end_us):
        return None
    ends = [h.ended_us] if h.ended_us is not None else []
    if h.decided_us is None or h.state == "denied":  # it only ever was a request
        ends.append(min(h.grace_until_us, seg.deadline_us + (h.grace_until_us - h.requested_us)))
    if h.review_us is not None:
        ends.append(h.review_us)
    return min(ends) if ends else None


def released_at(seg: Segment, holds: Iterable[Hold], destroyed_us: int) -> int:
    """When ``seg`` became destroyable: its deadline, or the end of the last hold that kept it.

    Purge lag is measured from this instant, so footage a hold kept is not
    counted as destroyed late.
    """
    ends = [e for h in holds if (e := protection_end(seg, h)) is not None]
    return min(destroyed_us, max([seg.deadline_us, *ends]))


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
