"""library.timezone, human units, the timeline builder and the login limiter (pure parts)."""

from __future__ import annotations

import pytest

from gateway import humanize
from gateway.segments import timeline
from gateway.clock import US
from gateway.config import parse_settings
from gateway.errors import ConfigError
from gateway.models import Hold, PurgeReceipt, Segment
from gateway.users.sessions import LoginLimiter

T = 1_764_590_400 * US  # Mon 1 Dec 2025 12:00 UTC


def test_local_time_carries_its_zone_and_round_trips_a_form_value():
    assert humanize.local(T, "America/Chicago") == "Mon 1 Dec 2025, 06:00 CST"
    assert humanize.local(T, "Europe/Berlin", seconds=True) == "Mon 1 Dec 2025, 13:00:00 CET"
    assert humanize.local(T + 200 * 86400 * US, "America/Chicago").endswith("CDT")  # summer
    assert humanize.from_input(humanize.to_input(T, "America/Chicago"), "America/Chicago") == T
    assert humanize.from_input("2025-12-01T06:00:30", "America/Chicago") == T + 30 * US
    with pytest.raises(ValueError, match="is not a date and time"):
        humanize.from_input("tomorrow", "UTC")


@pytest.mark.parametrize("seconds, text", [(259200, "3 days"), (86400, "1 day"),
                                           (7200, "2 hours"), (90, "90 seconds"),
                                           (60, "1 minute")])
def test_configured_periods_read_as_people_say_them(seconds, text):
    assert humanize.duration(seconds) == text


def test_countdowns_and_sizes():
    assert humanize.span(2 * 3600 + 10 * 60 + 5) == "2 h 10 min"
    assert humanize.span(3 * 86400 + 4 * 3600) == "3 days 4 h"
    assert humanize.span(-5) == "0 s"
    assert humanize.size(1_900_000) == "1.9 MB" and humanize.size(1) == "1 byte"


def test_timezone_must_be_an_iana_name(tmp_path):
    base = {"storage": {"path": str(tmp_path)}}
    assert parse_settings(base | {"library": {"timezone": "America/Chicago"}})
    with pytest.raises(ConfigError, match="library.timezone: unknown time zone 'Mars/Olympus'"):
        parse_settings(base | {"library": {"timezone": "Mars/Olympus"}})


@pytest.mark.parametrize("sessions, message", [
    ({"idle_timeout": "10s"}, "sessions.idle_timeout: must be between 60s and 86400s"),
    ({"absolute_timeout": "30d"}, "sessions.absolute_timeout: must be between"),
    ({"idle_timeout": "2h", "absolute_timeout": "1h"}, "must not be shorter than idle_timeout"),
    ({"login_attempts": 0}, "sessions.login_attempts"),
    ({"remember_me": True}, "sessions.remember_me: unknown key"),
])
def test_session_settings_have_bounds(tmp_path, sessions, message):
    with pytest.raises(ConfigError, match=message):
        parse_settings({"storage": {"path": str(tmp_path)}, "sessions": sessions})


def _seg(i: int, start_s: int, seconds: int = 1, deadline_s: int = 3600) -> Segment:
    return Segment(i, f"{i:032x}", "cam", "p", T + start_s * US, T + (start_s + seconds) * US,
                   T + deadline_s * US, 1000, "", 5, 160, 96, True, "stored", None, T)


def test_timeline_joins_consecutive_segments_and_names_the_gaps():
    segs = [_seg(1, 0), _seg(2, 1), _seg(3, 2), _seg(4, 60), _seg(5, 61)]
    rec = PurgeReceipt("x", "cam", T - 120 * US, T - 119 * US, T, T, "", "deadline")
    tl = timeline.build(segs, [rec], [], T - 300 * US, T + 120 * US, T + 100 * US)
    kinds = [type(r).__name__ for r in tl.rows]
    assert kinds == ["Gap", "Run", "Gap", "Run", "Gap"]
    assert tl.rows[0].destroyed == 1 and tl.rows[2].destroyed == 0
    assert tl.rows[1].segments == 3 and tl.rows[1].bytes == 3000
    assert tl.rows[-1].end_us == T + 100 * US  # never past "now"


def test_timeline_says_a_hold_keeps_footage_past_its_deadline():
    seg = _seg(1, 0, deadline_s=60)
    hold = Hold(7, "active", ("cam",), T - US, T + 5 * US, "INC", "why", "sam", T, T + 7200 * US,
                review_us=T + 86400 * US)
    tl = timeline.build([seg], [], [hold], T, T + 10 * US, T + 120 * US)
    run = tl.rows[0]
    assert run.held_by == {7} and run.first_goes_us == T + 86400 * US


def test_login_limiter_counts_per_key_within_its_window_and_stays_bounded():
    lim = LoginLimiter(attempts=2, window_s=60, max_tracked=3)
    keys = ["user:a", "addr:1"]
    lim.failed(keys, T)
    assert lim.retry_after_s(keys, T) is None
    lim.failed(keys, T + 10 * US)
    assert lim.retry_after_s(keys, T + 10 * US) == 50
    assert lim.retry_after_s(["user:a"], T + 55 * US) == 5
    assert lim.retry_after_s(keys, T + 60 * US) is None
    assert lim.retry_after_s(keys, T + 70 * US) is None
    for i in range(10):
        lim.failed([f"user:{i}"], T)
    assert len(lim._fails) == 3


def test_the_report_shows_the_library_s_local_time(tmp_path):
    from gateway.catalog import Catalog
    from gateway.policy.report import build_report
    settings = parse_settings({"storage": {"path": str(tmp_path)},
                               "library": {"timezone": "America/Chicago"}})
    db = Catalog.open(settings.catalog_path)
    try:
        html = build_report(db, settings, {}, T - 30 * 86400 * US, T, T)
    finally:
        db.close()
    assert "Generated Mon 1 Dec 2025, 06:00:00 CST" in html
    assert "1 Nov 2025 to 1 Dec 2025" in html  # the title: dates only
    assert "2025-12-01T12:00" not in html


def test_the_report_reads_as_people_say_it(tmp_path):
    """Policy labels, not zone ids; '3 days', not '259200s'; sizes in MB."""
    from gateway.catalog import Catalog
    from gateway.policy.loading import camera_policies
    from gateway.policy.report import build_report
    from uienv import write_settings
    settings = write_settings(tmp_path)
    db = Catalog.open(settings.catalog_path)
    try:
        html = build_report(db, settings, camera_policies(settings), T - 86400 * US, T, T)
    finally:
        db.close()
    assert "Reading and study areas" in html and ">reading_area<" not in html
    assert "3 days" in html and "259200s" not in html
    assert "0 bytes" in html
