"""The pure part of notifications: which events are due, and what they say (and do not)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from gateway.clock import US
from gateway.config import parse_settings
from gateway.errors import ConfigError
from gateway.models import Hold
from gateway.notify.events import (STALE_US, Rules, due_events, hold_events, lapse_warning,
                                   past_deadline_events, span, track_onsets)
from gateway.notify.service import backoff_s

T0 = 1_700_000_000 * US
URL = "https://cctv.example.org/"
H = 3600
RULES = Rules(lapse_warnings_s=(24 * H, 2 * H), review_warning_s=7 * 86400,
              past_deadline_after_s=300)


def hold(**kw) -> Hold:
    base = dict(id=7, state="requested", cameras=("lobby", "desk"), start_us=T0 - 600 * US,
                end_us=T0 - 60 * US, incident="INC-7", reason="Mary Smith took a bag",
                requested_by="mallory.staff", requested_us=T0, grace_until_us=T0 + 72 * H * US,
                note=None)
    return Hold(**(base | kw))


def kinds(events) -> list[str]:
    return [e.kind for e in events]


def test_a_new_request_is_announced_with_its_link_and_nothing_personal():
    [e] = hold_events(hold(), T0, RULES, URL, "Elm Library")
    assert e.key == "hold:7:requested" and e.kind == "hold.requested"
    assert e.subject == "[Elm Library] Hold 7 (INC-7): preservation requested"
    assert "https://cctv.example.org/holds/7" in e.text and "lobby, desk" in e.text
    assert "2023-11-17 22:13 UTC" in e.text           # when it lapses
    everything = e.subject + e.text + repr(e.data)
    for private in ("Mary Smith", "bag", "mallory"):
        assert private not in everything
    assert e.data["hold"]["url"] == "https://cctv.example.org/holds/7"
    assert set(e.data["hold"]) == {"id", "state", "incident", "cameras", "start", "end",
                                   "grace_until", "review_at", "court_order", "url"}


@pytest.mark.parametrize("left_h, expected", [(72, None), (24.5, None), (24, 24 * H),
                                              (3, 24 * H), (2, 2 * H), (0.1, 2 * H),
                                              (0, None)])
def test_the_nearest_due_lapse_warning(left_h, expected):
    h = hold()
    assert lapse_warning(h, h.grace_until_us - int(left_h * H * US), RULES.lapse_warnings_s) \
        == expected


def test_a_warning_longer_than_the_grace_never_applies():
    short = hold(grace_until_us=T0 + 3 * H * US)      # a 3 h grace: no 24 h warning ever
    assert lapse_warning(short, T0, RULES.lapse_warnings_s) is None
    assert lapse_warning(short, T0 + 1 * H * US + 1, RULES.lapse_warnings_s) == 2 * H
    assert kinds(hold_events(short, T0, RULES, URL)) == ["hold.requested"]


def test_decisions_and_ends():
    approved = hold(state="active", decided_by="dora", decided_us=T0 + H * US,
                    review_us=T0 + 90 * 86400 * US, note="Mary Smith's lawyer called")
    [e] = hold_events(approved, T0 + 2 * H * US, RULES, URL)
    assert e.kind == "hold.approved" and "review" in e.text
    assert "dora" not in e.text and "Mary" not in e.text
    # Still announced once released (approved first), but never as "requested".
    assert kinds(hold_events(replace(approved, state="released", ended_us=T0 + 3 * H * US),
                             T0 + 4 * H * US, RULES, URL)) == ["hold.approved"]
    denied = hold(state="denied", decided_by="dora", decided_us=T0 + H * US,
                  ended_us=T0 + H * US)
    assert kinds(hold_events(denied, T0 + H * US, RULES, URL)) == ["hold.denied"]
    lapsed = hold(state="lapsed", ended_us=T0 + 72 * H * US)
    assert kinds(hold_events(lapsed, T0 + 72 * H * US, RULES, URL)) == ["hold.lapsed"]
    expired = replace(approved, state="expired", ended_us=approved.review_us)
    assert kinds(hold_events(expired, approved.review_us, RULES, URL)) == [
        "hold.approved", "hold.expired"]


def test_review_warning_is_keyed_by_the_review_date():
    review = T0 + 90 * 86400 * US
    active = hold(state="active", decided_by="dora", decided_us=T0, review_us=review)
    before = review - 7 * 86400 * US
    assert kinds(hold_events(active, before - 1, RULES, URL)) == ["hold.approved"]
    events = hold_events(active, before, RULES, URL)
    assert kinds(events) == ["hold.approved", "hold.review_due"]
    assert events[1].key == f"hold:7:review:{review // US}"
    renewed = replace(active, review_us=review + 90 * 86400 * US)
    assert kinds(hold_events(renewed, before, RULES, URL)) == ["hold.approved"]
    assert hold_events(active, review, RULES, URL)[-1].kind == "hold.approved", \
        "at the review date it expires; no warning after the fact"


def test_old_and_pre_existing_events_are_not_announced():
    denied = hold(state="denied", decided_by="d", decided_us=T0, ended_us=T0)
    assert due_events([denied], T0 + 1, since_us=T0 - 1, rules=RULES, public_url=URL)
    assert not due_events([denied], T0 + 1, since_us=T0 + 1, rules=RULES, public_url=URL), \
        "decided before notifications were turned on"
    assert not due_events([denied], T0 + STALE_US + 1, since_us=0, rules=RULES, public_url=URL)


def test_past_deadline_waits_then_reports_once_per_camera_and_day():
    counts = {"lobby": 3, "desk": 0}
    onsets = track_onsets({}, counts, T0)
    assert onsets == {"lobby": T0}
    assert past_deadline_events(counts, onsets, T0 + 299 * US, RULES, URL) == []
    [e] = past_deadline_events(counts, track_onsets(onsets, counts, T0 + 300 * US),
                               T0 + 300 * US, RULES, URL)
    assert e.key == "past-deadline:lobby:2023-11-14" and e.data["segments"] == 3
    assert "docs/operations.md#footagesegmentspastdeadline" in e.text
    assert track_onsets(onsets, {"lobby": 0}, T0 + 400 * US) == {}, "recovered: episode over"


def test_human_spans_and_backoff():
    assert [span(s) for s in (30, 300, 3540, 7200, 86400, 3 * 86400)] == [
        "30 s", "5 min", "59 min", "2 h", "24 h", "3 days"]
    assert [backoff_s(a, 30, 3600) for a in (1, 2, 3, 7, 8, 50)] == [
        30, 60, 120, 1920, 3600, 3600]


# ------------------------------------------------------------------ config

def settings(notify: dict, server: dict | None = None):
    return parse_settings({"server": {"public_url": URL} if server is None else server,
                           "storage": {"path": "/tmp/x"}, "notify": notify})


SMTP = {"smtp_host": "mail.example.org", "sender": "cctv@example.org",
        "recipients": {"director": ["d@example.org"]}}


@pytest.mark.parametrize("notify, server, message", [
    (SMTP, {}, "[notify] needs server.public_url"),
    ({"smtp_host": "mail.example.org", "recipients": {"director": ["d@example.org"]}}, None,
     "smtp_host needs sender"),
    (SMTP | {"recipients": {"patron": ["p@example.org"]}}, None, "unknown role 'patron'"),
    (SMTP | {"recipients": {"director": ["not an address"]}}, None, "is not an email address"),
    (SMTP | {"recipients": {"director": ["a@b.org\nBcc: x@y.org"]}}, None,
     "is not an email address"),
    (SMTP | {"smtp_tls": True}, None, "exclude each other"),
    (SMTP | {"smtp_user": "u"}, None, "set smtp_user and smtp_password_file together"),
    (SMTP | {"smtp_starttls": False, "smtp_user": "u", "smtp_password_file": "p"}, None,
     "never sent over plain text"),
    (SMTP | {"smtp_port": 0}, None, "smtp_port"),
    (SMTP | {"smtp_timeout": "1h"}, None, "between 1 s and 300 s"),
    (SMTP | {"lapse_warnings": ["2h", "120m"]}, None, "different duration"),
    (SMTP | {"audience": {"hold.exploded": ["director"]}}, None, "unknown event"),
    (SMTP | {"smtp_hots": "x"}, None, "unknown key (did you mean 'smtp_host'?)"),
    ({"webhook_url": "ftp://x"}, None, "http:// or https://"),
])
def test_bad_notify_config_names_the_key(notify, server, message):
    with pytest.raises(ConfigError) as err:
        settings(notify, server)
    assert message in err.value.message
    assert "notify" in err.value.message or "public_url" in err.value.message


def test_defaults_and_audience_override():
    s = settings(SMTP | {"audience": {"hold.requested": ["director", "admin"]},
                         "recipients": {"director": ["d@example.org"],
                                        "admin": ["it@example.org", "d@example.org"]}})
    n = s.notify
    assert n.enabled and n.port == 587 and n.smtp_starttls
    assert n.roles_for("hold.requested") == ("director", "admin")
    assert n.roles_for("hold.denied") == ("director", "staff")
    assert n.addresses_for(n.roles_for("hold.requested")) == ["d@example.org", "it@example.org"]
    assert settings({}).notify.enabled is False
    assert settings(SMTP | {"smtp_tls": True, "smtp_starttls": False}).notify.port == 465
