"""Pure retention decisions: deadlines, purge plans with holds, when to wake."""

from __future__ import annotations

import pytest

from gateway.clock import US
from gateway.models import Hold, Segment
from gateway.segments.rules import deadline, next_wake, plan_purge, preserving_hold

T0 = 1_700_000_000 * US


def seg(i: int, camera: str = "lobby", start_s: float = 0, dur_s: float = 2,
        deadline_s: float = 10) -> Segment:
    return Segment(i, f"{i:032x}", camera, "p", T0 + int(start_s * US),
                   T0 + int((start_s + dur_s) * US), T0 + int(deadline_s * US), 100, "0" * 64,
                   30, 640, 360, False, "stored", None, T0)


def hold(i: int, state: str, cameras=("lobby",), start_s=0.0, end_s=100.0, grace_s=50.0,
         review_s=500.0) -> Hold:
    return Hold(i, state, tuple(cameras), T0 + int(start_s * US), T0 + int(end_s * US), "INC-1",
                "fight", "staff1", T0, T0 + int(grace_s * US), review_us=T0 + int(review_s * US)
                if state == "active" else None)


def test_deadline_is_end_plus_retention_never_earlier():
    assert deadline(T0, 72 * 3600) == T0 + 72 * 3600 * US
    assert deadline(T0, 0) == T0
    with pytest.raises(ValueError):
        deadline(T0, -1)


def test_not_yet_due_segments_are_never_destroyed():
    s = seg(1, deadline_s=10)
    assert plan_purge([s], [], T0 + 10 * US - 1).destroy == ()
    assert plan_purge([s], [], T0 + 10 * US).destroy == (s,)


def test_requested_hold_preserves_until_grace_then_lets_go():
    s = seg(1, deadline_s=10)
    h = hold(7, "requested", grace_s=50)
    at_20 = plan_purge([s], [h], T0 + 20 * US)
    assert at_20.destroy == () and at_20.kept[0].hold_id == 7
    assert at_20.kept[0].until_us == T0 + 50 * US
    assert plan_purge([s], [h], T0 + 50 * US).destroy == (s,)


def test_active_hold_preserves_until_review():
    s = seg(1, deadline_s=10)
    h = hold(3, "active", review_s=500)
    assert plan_purge([s], [h], T0 + 499 * US).destroy == ()
    assert plan_purge([s], [h], T0 + 500 * US).destroy == (s,)


@pytest.mark.parametrize("state", ["denied", "lapsed", "released", "expired"])
def test_ended_holds_preserve_nothing(state):
    s = seg(1, deadline_s=10)
    assert plan_purge([s], [hold(1, state)], T0 + 20 * US).destroy == (s,)


def test_hold_must_cover_camera_and_overlap_window():
    inside = seg(1, start_s=10)
    other_cam = seg(2, camera="stacks", start_s=10)
    before = seg(3, start_s=0, dur_s=5)      # ends exactly at hold start: no overlap
    straddles = seg(4, start_s=98, dur_s=4)  # overlaps the hold's end
    h = hold(1, "active", start_s=5, end_s=100)
    plan = plan_purge([inside, other_cam, before, straddles], [h], T0 + 20 * US)
    assert {s.id for s in plan.destroy} == {2, 3}
    assert {k.segment.id for k in plan.kept} == {1, 4}


def test_longest_lived_hold_wins():
    s = seg(1)
    short, long = hold(1, "requested", grace_s=30), hold(2, "active", review_s=900)
    assert preserving_hold(s, [short, long], T0 + 20 * US) == (long, T0 + 900 * US)


def test_pending_request_keeps_a_segment_at_most_grace_past_its_deadline():
    s = seg(1, deadline_s=10)
    # Filed (again) at T0+100 with a 50 s grace: it may not reach past deadline + 50 s.
    refiled = Hold(9, "requested", ("lobby",), T0, T0 + 100 * US, "INC", "r", "staff1",
                   T0 + 100 * US, T0 + 150 * US)
    plan = plan_purge([s], [refiled], T0 + 59 * US)
    assert plan.destroy == () and plan.kept[0].until_us == T0 + 60 * US
    assert plan_purge([s], [refiled], T0 + 60 * US).destroy == (s,)


def test_next_wake_is_the_earliest_of_deadline_hold_end_and_cap():
    now = T0
    assert next_wake(T0 + 5 * US, [], now, 30) == T0 + 5 * US
    assert next_wake(None, [], now, 30) == T0 + 30 * US
    assert next_wake(T0 + 100 * US, [hold(1, "requested", grace_s=7)], now, 30) == T0 + 7 * US
    assert next_wake(T0 - 5 * US, [], now, 30) == now  # overdue: look now


def test_released_at_is_the_deadline_or_the_end_of_the_hold_that_kept_it():
    from dataclasses import replace

    from gateway.segments.rules import released_at
    s = seg(1, deadline_s=10)
    assert released_at(s, [], T0 + 11 * US) == T0 + 10 * US
    released = replace(hold(1, "active", review_s=500), state="released", decided_us=T0,
                       ended_us=T0 + 200 * US)
    assert released_at(s, [released], T0 + 201 * US) == T0 + 200 * US
    lapsed = replace(hold(2, "requested", grace_s=50), state="lapsed", ended_us=T0 + 51 * US)
    assert released_at(s, [lapsed], T0 + 52 * US) == T0 + 50 * US  # grace ended, not the tick
    other = hold(3, "active", cameras=("stacks",))
    assert released_at(s, [other], T0 + 11 * US) == T0 + 10 * US
    # Never after the destruction itself.
    assert released_at(s, [released], T0 + 150 * US) == T0 + 150 * US
