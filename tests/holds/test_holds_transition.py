"""The hold state machine: every state x action x role, and the rules around it."""

from __future__ import annotations

from dataclasses import replace

import pytest

from gateway.clock import US
from gateway.errors import BadRequest, Conflict, Forbidden
from gateway.holds.rules import ACTIONS, STATES, due_action, new_hold, transition
from gateway.models import SYSTEM, Actor
from gateway.models import Hold

T0 = 1_700_000_000 * US
GRACE_END = T0 + 100 * US
REVIEW = T0 + 1000 * US
BEFORE = T0 + 10 * US     # within the grace period and before the review date
AFTER = T0 + 5000 * US    # past both
REVIEW_S = 3600

#: The specification: (state, action) -> state after. Every pair not listed is a Conflict.
NEXT = {
    ("requested", "approve"): "active",
    ("requested", "deny"): "denied",
    ("requested", "lapse"): "lapsed",
    ("active", "release"): "released",
    ("active", "renew"): "active",
    ("active", "court_order"): "active",
    ("active", "expire"): "expired",
}
#: Who may take each action (the requester is "staff-requester"; approve adds "not the requester").
WHO = {"approve": {"director"}, "deny": {"director"}, "release": {"director"},
       "renew": {"director"}, "court_order": {"director"}, "lapse": {"system"},
       "expire": {"system"}}
ROLES = ("director", "staff", "auditor", "admin", "system")


def hold_in(state: str, requested_by: str = "sam") -> Hold:
    h = Hold(7, "requested", ("lobby",), T0 - 600 * US, T0 - 60 * US, "INC-1", "theft",
             requested_by, T0, GRACE_END)
    if state == "requested":
        return h
    return replace(h, state=state, decided_by="dana", decided_us=T0 + 5,
                   review_us=REVIEW if state == "active" else None,
                   ended_us=None if state == "active" else T0 + 50)


def now_for(action: str) -> int:
    return AFTER if action in ("lapse", "expire") else BEFORE


def actor(role: str) -> Actor:
    return SYSTEM if role == "system" else Actor(f"{role}-person", role)


CASES = [(s, a, r) for s in STATES for a in ACTIONS for r in ROLES]


@pytest.mark.parametrize("state,action,role", CASES, ids=["-".join(c) for c in CASES])
def test_transition_table(state, action, role):
    hold = hold_in(state)
    who = actor(role)
    kw = {"review_s": REVIEW_S, "reference": "CO-2024-17", "note": "n"}
    if role not in WHO[action]:
        with pytest.raises(Forbidden):
            transition(hold, action, who, now_for(action), **kw)
        return
    if (state, action) not in NEXT:
        with pytest.raises(Conflict):
            transition(hold, action, who, now_for(action), **kw)
        return
    after = transition(hold, action, who, now_for(action), **kw)
    assert after.state == NEXT[(state, action)]
    assert after.id == hold.id and after.cameras == hold.cameras
    assert hold.state == state, "transition must not mutate its input"


def test_every_pair_of_the_table_is_a_real_state_and_action():
    assert {s for s, _ in NEXT} | set(NEXT.values()) <= set(STATES)
    assert {a for _, a in NEXT} == set(ACTIONS) == set(WHO)


def test_requester_cannot_approve_own_hold_even_as_director():
    hold = hold_in("requested", requested_by="dana")
    with pytest.raises(Forbidden) as err:
        transition(hold, "approve", Actor("dana", "director"), BEFORE, review_s=REVIEW_S)
    assert err.value.code == "own_request"
    # another director may
    assert transition(hold, "approve", Actor("dee", "director"), BEFORE,
                      review_s=REVIEW_S).state == "active"


def test_approve_sets_decider_and_review_date_from_policy():
    after = transition(hold_in("requested"), "approve", Actor("dana", "director"), BEFORE,
                       review_s=REVIEW_S, note="looks right")
    assert (after.decided_by, after.decided_us) == ("dana", BEFORE)
    assert after.review_us == BEFORE + REVIEW_S * US
    assert after.preserves_until() == after.review_us


def test_approve_after_grace_is_refused_as_lapsed():
    with pytest.raises(Conflict) as err:
        transition(hold_in("requested"), "approve", Actor("dana", "director"), GRACE_END,
                   review_s=REVIEW_S)
    assert err.value.code == "lapsed"


def test_lapse_and_expire_only_when_their_time_has_come():
    with pytest.raises(Conflict):
        transition(hold_in("requested"), "lapse", SYSTEM, GRACE_END - 1)
    assert transition(hold_in("requested"), "lapse", SYSTEM, GRACE_END).state == "lapsed"
    with pytest.raises(Conflict):
        transition(hold_in("active"), "expire", SYSTEM, REVIEW - 1)
    assert transition(hold_in("active"), "expire", SYSTEM, REVIEW).state == "expired"


def test_due_action_matches_the_clock():
    assert due_action(hold_in("requested"), GRACE_END - 1) is None
    assert due_action(hold_in("requested"), GRACE_END) == "lapse"
    assert due_action(hold_in("active"), REVIEW - 1) is None
    assert due_action(hold_in("active"), REVIEW) == "expire"
    for s in ("denied", "lapsed", "released", "expired"):
        assert due_action(hold_in(s), AFTER) is None


def test_renew_moves_the_review_date_but_not_after_expiry():
    after = transition(hold_in("active"), "renew", Actor("dana", "director"), BEFORE,
                       review_s=REVIEW_S)
    assert after.review_us == BEFORE + REVIEW_S * US
    with pytest.raises(Conflict):
        transition(hold_in("active"), "renew", Actor("dana", "director"), REVIEW,
                   review_s=REVIEW_S)


def test_court_order_needs_a_reference_and_is_recorded_once():
    d = Actor("dana", "director")
    with pytest.raises(BadRequest):
        transition(hold_in("active"), "court_order", d, BEFORE, reference="  ")
    h = transition(hold_in("active"), "court_order", d, BEFORE, reference="CO-1")
    assert h.court_order_ref == "CO-1" and h.state == "active"
    with pytest.raises(Conflict):
        transition(h, "court_order", d, BEFORE, reference="CO-2")


def test_ended_holds_preserve_nothing():
    for s in ("denied", "lapsed", "released", "expired"):
        assert hold_in(s).preserves_until() is None


def test_a_custom_approver_role_from_the_policy_is_honoured():
    h = hold_in("requested")
    with pytest.raises(Forbidden):
        transition(h, "approve", Actor("dana", "director"), BEFORE, review_s=1,
                   approvers=("admin",))


@pytest.mark.parametrize("role,ok", [("staff", True), ("director", True), ("auditor", False),
                                     ("admin", False)])
def test_who_may_request(role, ok):
    args = (["lobby"], T0 - 100 * US, T0 - 10 * US, "INC", "why", Actor("x", role), T0, 7200)
    if ok:
        h = new_hold(*args)
        assert h.state == "requested" and h.grace_until_us == T0 + 7200 * US
    else:
        with pytest.raises(Forbidden):
            new_hold(*args)


@pytest.mark.parametrize("cams,start,end,incident,reason", [
    ([], -100, -10, "INC", "why"),              # no camera
    (["lobby"], -10, -100, "INC", "why"),       # end before start
    (["lobby"], -100, 3600, "INC", "why"),      # window in the future
    (["lobby"], -100, -10, " ", "why"),         # no incident reference
    (["lobby"], -100, -10, "INC", ""),          # no reason
])
def test_bad_requests_are_refused(cams, start, end, incident, reason):
    with pytest.raises(BadRequest):
        new_hold(cams, T0 + start * US, T0 + end * US, incident, reason, Actor("s", "staff"),
                 T0, 7200)
