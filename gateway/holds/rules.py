"""Preservation holds as a pure state machine: no clock, no SQL, no I/O.

```
requested --approve (an approver, never the requester)--> active --release--> released
    |  \\--deny--> denied                          |  \\--expire (review date passed)--> expired
    \\--lapse (grace passed, no decision)--> lapsed \\--renew / court_order (stays active)
```

``new_hold`` validates a request; ``transition(hold, action, actor, now_us)``
returns the hold after one action or raises ``Forbidden`` (the actor's role may
not do it) or ``Conflict`` (not in this state, or too late). The service layer
(``gateway.holds.service``) loads, applies, saves and audits in one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Sequence

from ..clock import US, iso
from ..errors import BadRequest, Conflict, Forbidden
from ..models import SYSTEM_ROLE, Actor, Hold
from ..policy.loading import GROUNDS, RECIPIENTS
from .access import DEFAULT_APPROVERS, REQUESTERS, VIEWERS

STATES = ("requested", "active", "denied", "lapsed", "released", "expired")
#: Actions people take; ``lapse`` and ``expire`` are taken by the system when time passes.
ACTIONS = ("approve", "deny", "release", "renew", "court_order", "lapse", "expire")
#: Camera clocks and API clients drift: a window may end this far after "now".
FUTURE_SKEW_US = 300 * US


def new_hold(cameras: Sequence[str], start_us: int, end_us: int, incident: str, reason: str,
             actor: Actor, now_us: int, grace_s: int) -> Hold:
    """A validated hold request (state ``requested``, preserving until now + grace)."""
    if actor.role not in REQUESTERS:
        raise Forbidden(f"role {actor.role!r} may not request a hold (needs: "
                        f"{', '.join(REQUESTERS)})")
    cams = tuple(dict.fromkeys(cameras))  # unique, order kept
    if not cams:
        raise BadRequest("a hold names at least one camera", code="bad_cameras")
    if end_us <= start_us:
        raise BadRequest("the hold's end must be after its start", code="bad_window")
    if end_us > now_us + FUTURE_SKEW_US:
        raise BadRequest(f"a hold covers recorded footage: its end ({iso(end_us)}) must not be "
                         f"in the future (now {iso(now_us)})", code="bad_window")
    # Within the clock-skew allowance the end is taken as "now": a request never
    # reaches forward to keep footage that is yet to be recorded.
    end_us = min(end_us, now_us)
    if end_us <= start_us:
        raise BadRequest("the hold's window starts in the future", code="bad_window")
    if not incident.strip():
        raise BadRequest("an incident reference is required", code="incident_required")
    if not reason.strip():
        raise BadRequest("a reason is required", code="reason_required")
    return Hold(0, "requested", cams, start_us, end_us, incident.strip(), reason.strip(),
                actor.name, now_us, now_us + grace_s * US)


def transition(hold: Hold, action: str, actor: Actor, now_us: int, *, note: str = "",
               review_s: int = 0, reference: str = "",
               approvers: Sequence[str] = DEFAULT_APPROVERS) -> Hold:
    """The hold after ``action`` by ``actor`` at ``now_us``; Forbidden or Conflict if not allowed.

    ``review_s`` is the policy's hold_review (approve, renew); ``reference`` the
    court order's number (court_order); ``approvers`` the roles the policy lets
    decide (approve, deny, release, renew, court_order).
    """
    if action not in ACTIONS:
        raise BadRequest(f"unknown hold action {action!r}", code="bad_action")
    _check_role(action, actor, approvers)
    step = _STEPS[action]
    return step(hold, actor, now_us, note.strip(), review_s, reference.strip())


def _check_role(action: str, actor: Actor, approvers: Sequence[str]) -> None:
    if action in ("lapse", "expire"):
        if actor.role != SYSTEM_ROLE:
            raise Forbidden(f"a hold {action}s by itself when its time passes; "
                            f"role {actor.role!r} cannot {action} it")
    elif actor.role not in approvers:
        raise Forbidden(f"role {actor.role!r} may not {action.replace('_', ' ')} a hold "
                        f"(needs: {', '.join(approvers)})")


def _need(hold: Hold, action: str, *states: str) -> None:
    if hold.state not in states:
        raise Conflict(f"hold {hold.id} is {hold.state}; only a {' or '.join(states)} hold "
                       f"can be {_PAST[action]}", code="bad_state")


def _approve(h: Hold, a: Actor, now: int, note: str, review_s: int, _ref: str) -> Hold:
    _need(h, "approve", "requested")
    if a.name == h.requested_by:
        raise Forbidden("the requester of a hold cannot approve it; another approver must",
                        code="own_request")
    if now >= h.grace_until_us:
        raise Conflict(f"hold {h.id} lapsed at {iso(h.grace_until_us)} with no decision; "
                       "request a new hold", code="lapsed")
    if review_s <= 0:
        raise ValueError("approve needs the policy's hold_review")
    return replace(h, state="active", decided_by=a.name, decided_us=now,
                   review_us=now + review_s * US, note=note or h.note)


def _deny(h: Hold, a: Actor, now: int, note: str, _r: int, _ref: str) -> Hold:
    _need(h, "deny", "requested")
    return replace(h, state="denied", decided_by=a.name, decided_us=now, ended_us=now,
                   note=note or h.note)


def _release(h: Hold, a: Actor, now: int, note: str, _r: int, _ref: str) -> Hold:
    _need(h, "release", "active")
    return replace(h, state="released", ended_us=now, note=note or h.note)


def _renew(h: Hold, a: Actor, now: int, note: str, review_s: int, _ref: str) -> Hold:
    _need(h, "renew", "active")
    if h.review_us is not None and now >= h.review_us:
        raise Conflict(f"hold {h.id} reached its review date {iso(h.review_us)}; it has "
                       "expired and cannot be renewed", code="expired")
    if review_s <= 0:
        raise ValueError("renew needs the policy's hold_review")
    return replace(h, review_us=now + review_s * US, note=note or h.note)


def _court_order(h: Hold, a: Actor, now: int, note: str, _r: int, ref: str) -> Hold:
    _need(h, "court_order", "active")
    if not ref:
        raise BadRequest("the court order's reference (number) is required",
                         code="reference_required")
    if h.court_order_ref is not None:
        raise Conflict(f"hold {h.id} already records court order {h.court_order_ref!r}",
                       code="already_recorded")
    return replace(h, court_order_ref=ref, note=note or h.note)


def _lapse(h: Hold, a: Actor, now: int, _n: str, _r: int, _ref: str) -> Hold:
    _need(h, "lapse", "requested")
    if now < h.grace_until_us:
        raise Conflict(f"hold {h.id} is within its grace period until {iso(h.grace_until_us)}",
                       code="not_due")
    return replace(h, state="lapsed", ended_us=now)


def _expire(h: Hold, a: Actor, now: int, _n: str, _r: int, _ref: str) -> Hold:
    _need(h, "expire", "active")
    if h.review_us is None or now < h.review_us:
        raise Conflict(f"hold {h.id} is not due for review yet", code="not_due")
    return replace(h, state="expired", ended_us=now)


_STEPS = {"approve": _approve, "deny": _deny, "release": _release, "renew": _renew,
          "court_order": _court_order, "lapse": _lapse, "expire": _expire}
_PAST = {"approve": "approved", "deny": "denied", "release": "released", "renew": "renewed",
         "court_order": "given a court order", "lapse": "lapsed", "expire": "expired"}


def due_action(hold: Hold, now_us: int) -> str | None:
    """The action time alone makes due on this hold (``lapse``/``expire``), if any."""
    if hold.state == "requested" and now_us >= hold.grace_until_us:
        return "lapse"
    if hold.state == "active" and hold.review_us is not None and now_us >= hold.review_us:
        return "expire"
    return None


# --------------------------------------------------------------- exports and views

@dataclass(frozen=True)
class ExportRequest:
    """What a director asks to disclose: a part (by default all) of one hold."""

    cameras: tuple[str, ...]
    start_us: int
    end_us: int
    ground: str
    reference: str
    recipient: str        # the kind the policy knows: law_enforcement, civil_litigant, ...
    reason: str
    recipient_name: str = ""   # who exactly (agency, officer, court)
    counsel: str = ""          # the legal counsel consulted, when the policy requires it

    def record(self, *, iso_times: bool) -> dict:
        """The request's fields (``EXPORT_FIELDS``), times as RFC 3339 or as ``*_us`` integers.

        The audit entry, the package manifest and the API's JSON are all built from this.
        """
        times = ({"start": iso(self.start_us), "end": iso(self.end_us)} if iso_times
                 else {"start_us": self.start_us, "end_us": self.end_us})
        return {"cameras": list(self.cameras), **times, "ground": self.ground,
                "reference": self.reference, "recipient": self.recipient,
                "recipient_name": self.recipient_name, "counsel": self.counsel,
                "reason": self.reason}


#: The fields of an export request as disclosed (``ExportRequest.record``); the
#: OpenAPI schema is built from it too.
EXPORT_FIELDS = ("cameras", "start", "end", "ground", "reference", "recipient", "recipient_name",
                 "counsel", "reason")


def check_export(hold: Hold, req: ExportRequest, actor: Actor, now_us: int, allowed,
                 approvers: Sequence[str] = DEFAULT_APPROVERS,
                 counsel_required: bool = False) -> ExportRequest:
    """The export to build, or Forbidden/Conflict/BadRequest saying why it may not be built.

    ``allowed(camera, recipient, ground) -> bool`` is the camera's policy. An
    export takes only footage under an active hold, only within the hold's
    cameras and window, on a ground every camera's policy allows for the
    recipient, with the document's reference (and the counsel consulted when
    the policy requires it). A court-order export discloses under the order
    recorded on the hold, and only once one is recorded.
    """
    if actor.role not in approvers:
        raise Forbidden(f"role {actor.role!r} may not export footage (needs: "
                        f"{', '.join(approvers)})")
    if hold.state != "active":
        raise Conflict(f"hold {hold.id} is {hold.state}: only footage under an active hold "
                       "may be exported", code="hold_not_active")
    if hold.review_us is not None and now_us >= hold.review_us:
        raise Conflict(f"hold {hold.id} reached its review date {iso(hold.review_us)} without "
                       "renewal: it has expired", code="hold_not_active")
    reference = req.reference.strip()
    if req.ground == "court_order":
        # The order is served on the hold (preserve until an order is served); the
        # export discloses under that order and no other.
        if not hold.court_order_ref:
            raise Conflict(f"hold {hold.id} has no court order recorded: record it first "
                           f"(POST /api/v1/holds/{hold.id}/court-order)",
                           code="court_order_missing")
        if reference and reference != hold.court_order_ref:
            raise BadRequest(f"reference {reference!r} is not the court order recorded on hold "
                             f"{hold.id} ({hold.court_order_ref!r})", code="reference_mismatch")
        reference = hold.court_order_ref
    if not reference:
        raise BadRequest("the disclosure's document reference (court order number, subpoena, "
                         "statute) is required", code="reference_required")
    for name, value in (("recipient", req.recipient), ("reason", req.reason)):
        if not value.strip():
            raise BadRequest(f"the export's {name} is required", code=f"{name}_required")
    if counsel_required and not req.counsel.strip():
        raise BadRequest("the policy requires legal counsel to be consulted before a "
                         "disclosure: give counsel (who was consulted)", code="counsel_required")
    outside = [c for c in req.cameras if c not in hold.cameras]
    if outside or not req.cameras:
        raise Forbidden(f"camera(s) {', '.join(outside) or '(none)'} are not under hold "
                        f"{hold.id} (it covers {', '.join(hold.cameras)})", code="outside_hold")
    if req.end_us <= req.start_us:
        raise BadRequest("the export's end must be after its start", code="bad_window")
    if req.start_us < hold.start_us or req.end_us > hold.end_us:
        raise Forbidden(f"the export window {iso(req.start_us)} .. {iso(req.end_us)} is not "
                        f"within hold {hold.id}'s window {iso(hold.start_us)} .. "
                        f"{iso(hold.end_us)}", code="outside_hold")
    if req.recipient.strip() not in RECIPIENTS:
        raise BadRequest(f"unknown recipient {req.recipient.strip()!r}: use one of "
                         f"{', '.join(RECIPIENTS)} (name the agency in recipient_name)",
                         code="bad_recipient")
    if req.ground not in GROUNDS:
        raise BadRequest(f"unknown disclosure ground {req.ground!r}: use one of "
                         f"{', '.join(GROUNDS)}", code="bad_ground")
    refused = [c for c in req.cameras if not allowed(c, req.recipient.strip(), req.ground)]
    if refused:
        raise Forbidden(f"the policy of camera(s) {', '.join(refused)} does not allow "
                        f"disclosure to {req.recipient.strip()!r} on ground {req.ground!r}",
                        code="ground_not_allowed")
    return replace(req, reference=reference, recipient=req.recipient.strip(),
                   reason=req.reason.strip(), recipient_name=req.recipient_name.strip(),
                   counsel=req.counsel.strip())




def check_view(actor: Actor, camera: str, start_us: int, end_us: int, reason: str,
               live_holds: Sequence[Hold], view_roles: Sequence[str] = DEFAULT_APPROVERS) -> None:
    """Forbidden/BadRequest unless ``actor`` may view this segment now, for ``reason``.

    The role must be one the camera's policy lets view (``access.view_roles``;
    auditors and admins never). Staff, where the policy lets them, see only
    segments covered by an approved (active) hold they requested themselves, to
    confirm the incident they flagged; a pending request is not enough, so no
    footage is seen without a director's decision. Every view needs a reason.
    """
    if actor.role not in VIEWERS or actor.role not in view_roles:
        raise Forbidden(f"role {actor.role!r} may not view this camera's footage (its policy "
                        f"allows: {', '.join(view_roles)})")
    require_reason(reason)
    if actor.role == "staff" and not any(
            h.requested_by == actor.name and h.state == "active"
            and h.covers(camera, start_us, end_us) for h in live_holds):
        raise Forbidden("staff may view only footage under an approved hold they requested",
                        code="not_your_hold")


def require_reason(reason: str) -> None:
    """BadRequest unless a view states its reason (blank does not count)."""
    if not reason.strip():
        raise BadRequest("a view needs a reason: add ?reason=... (it is written to the audit "
                         "log)", code="reason_required")
