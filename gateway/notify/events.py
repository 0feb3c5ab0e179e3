"""Which notifications are due, given the holds and the time: pure, no clock, no I/O.

Every event has a key that names it exactly once (``hold:12:approved``,
``hold:12:lapsing:7200``, ``past-deadline:lobby:2026-12-01``); the service
queues each key once per channel, so running these functions again, or after
a restart, sends nothing twice.

What a message says: the kind of event, the hold's number, its incident
reference, the cameras, the times that matter and a link to the hold's page.
Never the requester's or decider's name, the reason, the note, or footage: a
mailbox is outside the gateway's retention and audit (docs/operations.md,
"Notifications").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Mapping, Sequence

from ..clock import US, iso, to_datetime
from ..models import Hold

#: Transition events older than this are not announced (after a long outage the
#: hold's page, not a stale message, tells the story).
STALE_US = 7 * 86400 * US
#: Path of a hold's page under server.public_url (the web UI, issue 12).
HOLD_PAGE = "/holds/{id}"
#: The runbook of the condition "footage past its deadline".
PAST_DEADLINE_RUNBOOK = "docs/operations.md#footagesegmentspastdeadline"


@dataclass(frozen=True)
class Event:
    key: str
    kind: str
    at_us: int               # when it happened or became due
    subject: str
    text: str
    data: dict = field(default_factory=dict)   # the webhook's fields

    def payload(self) -> dict:
        return {"subject": self.subject, "text": self.text, "data": self.data}


@dataclass(frozen=True)
class Rules:
    """The timing rules, in seconds (from NotifySettings)."""

    lapse_warnings_s: tuple[int, ...] = (86400, 7200)
    review_warning_s: int = 7 * 86400
    past_deadline_after_s: int = 300


def when(us: int) -> str:
    """A time as a person reads it in a message: ``2026-12-01 14:05 UTC``."""
    return to_datetime(us).strftime("%Y-%m-%d %H:%M UTC")


def span(seconds: int) -> str:
    """``3 days``, ``2 h``, ``45 min``: in the largest unit that reads as at least 2."""
    for unit, name in ((86400, " days"), (3600, " h"), (60, " min")):
        if seconds >= 2 * unit:
            return f"{round(seconds / unit)}{name}"
    return f"{seconds} s"


def one_line(text: str, limit: int = 200) -> str:
    """Whitespace (newlines included) collapsed to single spaces; at most ``limit`` chars."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 1] + "\u2026"


def hold_url(public_url: str, hold_id: int) -> str:
    return public_url.rstrip("/") + HOLD_PAGE.format(id=hold_id)


def _hold_data(h: Hold, public_url: str) -> dict:
    """The webhook's view of a hold: no names, no reason, no note."""
    t = lambda us: iso(us) if us is not None else None  # noqa: E731
    return {"id": h.id, "state": h.state, "incident": h.incident, "cameras": list(h.cameras),
            "start": iso(h.start_us), "end": iso(h.end_us), "grace_until": t(h.grace_until_us),
            "review_at": t(h.review_us), "court_order": h.court_order_ref is not None,
            "url": hold_url(public_url, h.id)}


def _hold_event(h: Hold, kind: str, key_tail: str, at_us: int, subject: str, lines: list[str],
                public_url: str, library: str) -> Event:
    url = hold_url(public_url, h.id)
    # One line whatever was typed: a newline in a header would inject another header.
    subject = one_line(f"[{library}] Hold {h.id} ({h.incident}): {subject}")
    text = "\n".join([*lines, "", f"Cameras: {', '.join(h.cameras)}",
                      f"Footage window: {when(h.start_us)} to {when(h.end_us)}", "",
                      f"The hold: {url}", "",
                      "This message names no person and carries no footage; sign in to see more.",
                      ""])
    data = {"event": kind, "key": f"hold:{h.id}:{key_tail}", "at": iso(at_us),
            "hold": _hold_data(h, public_url)}
    return Event(f"hold:{h.id}:{key_tail}", kind, at_us, subject, text, data)


def hold_events(h: Hold, now_us: int, rules: Rules, public_url: str,
                library: str = "footage-gateway") -> list[Event]:
    """The events this hold has produced by ``now_us`` (the service drops those already sent)."""
    out: list[Event] = []
    ev = lambda *a: out.append(_hold_event(h, *a, public_url=public_url, library=library))  # noqa: E731
    if h.state == "requested" and now_us < h.grace_until_us:
        ev("hold.requested", "requested", h.requested_us, "preservation requested",
           [f"A preservation hold was requested for incident {h.incident}.",
            f"The footage is kept until {when(h.grace_until_us)}; the request lapses then "
            "unless an approver decides it."])
        warning = lapse_warning(h, now_us, rules.lapse_warnings_s)
        if warning is not None:
            left = h.grace_until_us - now_us
            ev("hold.lapsing", f"lapsing:{warning}", h.grace_until_us - warning * US,
               f"lapses in {span(max(60, left // US))} without a decision",
               [f"The preservation request for incident {h.incident} has no decision yet.",
                f"It lapses at {when(h.grace_until_us)}; after that the footage is destroyed "
                "at its normal deadline and cannot be brought back."])
    if h.state == "lapsed" and h.ended_us is not None:
        ev("hold.lapsed", "lapsed", h.ended_us, "lapsed without a decision",
           [f"The preservation request for incident {h.incident} lapsed at "
            f"{when(h.ended_us)} with no decision.",
            "Its footage now goes at its normal retention deadline."])
    if h.state in ("active", "released", "expired") and h.decided_us is not None:
        ev("hold.approved", "approved", h.decided_us, "approved",
           [f"The preservation hold for incident {h.incident} was approved at "
            f"{when(h.decided_us)}.",
            *([f"It is reviewed by {when(h.review_us)}."] if h.review_us else [])])
    if h.state == "denied" and h.decided_us is not None:
        ev("hold.denied", "denied", h.decided_us, "denied",
           [f"The preservation request for incident {h.incident} was denied at "
            f"{when(h.decided_us)}.",
            "Its footage goes at its normal retention deadline."])
    if h.state == "active" and h.review_us is not None and rules.review_warning_s > 0:
        due_at = h.review_us - rules.review_warning_s * US
        started = h.decided_us if h.decided_us is not None else h.requested_us
        if due_at <= now_us < h.review_us and due_at > started:
            ev("hold.review_due", f"review:{h.review_us // US}", due_at, "review coming due",
               [f"The preservation hold for incident {h.incident} reaches its review date "
                f"at {when(h.review_us)}.",
                "Renew it, record a court order or release it; unrenewed, it expires then "
                "and its footage goes at its normal deadline."])
    if h.state == "expired" and h.ended_us is not None:
        ev("hold.expired", "expired", h.ended_us, "expired at its review date",
           [f"The preservation hold for incident {h.incident} reached its review date "
            f"at {when(h.ended_us)} without renewal and expired.",
            "Its footage now goes at its normal retention deadline."])
    return out


def lapse_warning(h: Hold, now_us: int, warnings_s: Sequence[int]) -> int | None:
    """The one warning due now: the shortest ``w`` with the lapse at most ``w`` away.

    A warning longer than the request's whole grace period never applies (it
    would arrive with the request itself). Only the shortest due warning is
    sent, so a gateway that was down does not send 24 h and 2 h at once.
    """
    left = h.grace_until_us - now_us
    grace = h.grace_until_us - h.requested_us
    due = [w for w in warnings_s if w * US < grace and left <= w * US]
    return min(due) if due and left > 0 else None


def due_events(holds: Iterable[Hold], now_us: int, since_us: int, rules: Rules,
               public_url: str, library: str = "footage-gateway") -> list[Event]:
    """Every hold event due now that happened after ``since_us`` and is not stale."""
    floor = max(since_us, now_us - STALE_US)
    return [e for h in holds for e in hold_events(h, now_us, rules, public_url, library)
            if e.at_us >= floor]


# ------------------------------------------------------------------ footage past deadline

def track_onsets(onsets: Mapping[str, int], counts: Mapping[str, int],
                 now_us: int) -> dict[str, int]:
    """Since when each camera has had footage past its deadline (cameras at 0 drop out)."""
    return {cam: onsets.get(cam, now_us) for cam, n in counts.items() if n > 0}


def past_deadline_events(counts: Mapping[str, int], onsets: Mapping[str, int], now_us: int,
                         rules: Rules, public_url: str,
                         library: str = "footage-gateway") -> list[Event]:
    """One event per camera and UTC day while its footage stays past its deadline
    longer than ``past_deadline_after`` (the alert's ``for``)."""
    out = []
    for cam in sorted(counts):
        n, since = counts[cam], onsets.get(cam)
        if n <= 0 or since is None or now_us - since < rules.past_deadline_after_s * US:
            continue
        day = to_datetime(now_us).strftime("%Y-%m-%d")
        subject = one_line(f"[{library}] Camera {cam}: {n} segment(s) kept past their deadline")
        text = "\n".join([
            f"Camera {cam} has {n} segment(s) past their retention deadline that no hold "
            f"preserves and that are not destroyed, since {when(since)}.",
            "The purge is failing or stopped: footage is being kept longer than the policy "
            "allows.",
            "", f"What to do: {PAST_DEADLINE_RUNBOOK}",
            f"The gateway: {public_url.rstrip('/')}/", "",
            "At most one such message per camera and day while it lasts.", ""])
        data = {"event": "footage.past_deadline", "key": f"past-deadline:{cam}:{day}",
                "at": iso(now_us), "camera": cam, "segments": n, "since": iso(since),
                "runbook": PAST_DEADLINE_RUNBOOK}
        out.append(Event(f"past-deadline:{cam}:{day}", "footage.past_deadline", now_us,
                         subject, text, data))
    return out
