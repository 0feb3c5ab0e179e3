"""The privacy-audit report: rendered from a seeded catalog, its numbers match it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from gateway.catalog import Catalog
from gateway.catalog.audit_log import append, head
from gateway.catalog.exports import ExportRow, insert_export
from gateway.catalog.holds import insert_hold, save_hold
from gateway.catalog.segments import (
    camera_stats, finish_purge, get_segment, insert_segment, receipts, shred,
)
from gateway.cli.report import report_command
from gateway.clock import US
from gateway.config import parse_settings
from gateway.models import Hold, Segment
from gateway.policy.loading import camera_policies
from gateway.policy.report import build_report, lag_histogram, percentile

T0 = 1_700_000_000 * US  # "now" and the end of the reported period
D, H = 86400 * US, 3600 * US
SINCE = T0 - 10 * D
PERSONAL = ("Jane Doe", "jane.doe@example.org", "alice.staff", "dr.director", "Officer Bob Smith")
SHELVES = {"zone": "shelves", "polygon": [[0.1, 0.1], [0.5, 0.1], [0.5, 0.9]]}


def make_settings(tmp_path: Path):
    return parse_settings({
        "storage": {"path": str(tmp_path / "store")},
        "library": {"name": "Springfield PL", "contact": "privacy@springfield.example"},
        "cameras": [
            {"id": "lobby", "name": "Lobby", "zone": "entrance",
             "purpose": "physical security of the entrance",
             "push_token_file": "/etc/footage-gateway/lobby.token"},
            {"id": "stacks", "name": "Stacks", "zone": "stacks", "masks": [SHELVES],
             "purpose": "physical security of the collection",
             "rtsp_url": "rtsp://192.0.2.21/stream1"},
        ]})


def _segment(db: Catalog, uid: str, camera: str, start_us: int, deadline_us: int) -> int:
    end = start_us + 60 * US
    seg = Segment(0, uid, camera, "ala-baseline", start_us, end, deadline_us, 1000, "0" * 64, 10,
                  64, 48, False, "stored", None, start_us)
    return insert_segment(db, seg, uid.encode(), "kek-1", b"wrapped")


def _purged(db: Catalog, uid: str, camera: str, deadline_us: int, lag_us: int) -> None:
    seg_id = _segment(db, uid, camera, deadline_us - 3 * D, deadline_us)
    shred(db, seg_id, deadline_us + lag_us)
    finish_purge(db, get_segment(db, uid), "retention deadline passed", deadline_us)


def _hold(db: Catalog, state: str, cameras, start_us, end_us, requested_us, **after) -> int:
    h = Hold(0, "requested", tuple(cameras), start_us, end_us, "Patron Jane Doe shoplifting",
             "jane.doe@example.org saw it", "alice.staff", requested_us, requested_us + 3 * D)
    hid = insert_hold(db, h)
    if state != "requested":
        save_hold(db, Hold(**{**h.__dict__, "id": hid, "state": state, "decided_by": "dr.director",
                              "decided_us": requested_us + H, **after}))
    return hid


@pytest.fixture
def seeded(tmp_path):
    """A catalog with known purges, stored footage, holds, exports and audit entries."""
    db = Catalog.open(tmp_path / "catalog.sqlite3")
    # Purges in the period: lags 0.5 s, 2 s, 30 s, 2 h (late, no hold), -10 s (early).
    for i, lag in enumerate((US // 2, 2 * US, 30 * US, 2 * H, -10 * US)):
        _purged(db, f"lobby-p{i}", "lobby", T0 - 5 * D + i * H, lag)
    # Purged 3 days after its deadline because a hold preserved it: not late.
    held_start = T0 - 14 * D
    _hold(db, "released", ["stacks"], held_start - H, held_start + H, T0 - 12 * D,
          review_us=T0 + 60 * D, ended_us=T0 - 8 * D)
    seg_id = _segment(db, "stacks-p0", "stacks", held_start, T0 - 11 * D)
    shred(db, seg_id, T0 - 8 * D)
    # Released when the hold ended (T0 - 8 d): destroyed at once, so its lag is 0.
    finish_purge(db, get_segment(db, "stacks-p0"), "hold released", T0 - 8 * D)
    # Purged before the period: not counted.
    _purged(db, "lobby-old", "lobby", T0 - 20 * D, US)
    # Stored now: one in retention, one overdue, one overdue but under an active hold.
    _segment(db, "lobby-s0", "lobby", T0 - H, T0 + 2 * D)
    _segment(db, "lobby-s1", "lobby", T0 - 4 * D, T0 - D)
    _segment(db, "lobby-s2", "lobby", T0 - 6 * D, T0 - 3 * D)
    active = _hold(db, "active", ["lobby"], T0 - 6 * D - H, T0 - 6 * D + H, T0 - 5 * D,
                   review_us=T0 + 30 * D, court_order_ref="Case 2024-CR-17")
    _segment(db, "stacks-s0", "stacks", T0 - H, T0 + 2 * D)
    _segment(db, "old-cam-s0", "old-cam", T0 - H, T0 + 2 * D)  # camera no longer configured
    # A hold denied long before the period: not listed.
    _hold(db, "denied", ["lobby"], T0 - 41 * D, T0 - 40 * D, T0 - 40 * D, ended_us=T0 - 39 * D)
    for ground, ref in (("court_order", "Case 2024-CR-17"), ("voluntary_no_materials", "none")):
        insert_export(db, ExportRow(0, active, "ready", ("lobby",), T0 - 6 * D - H, T0 - 6 * D,
                                    ground, ref, "law_enforcement", "for Officer Bob Smith",
                                    "dr.director", T0 - 2 * D, T0 + 5 * D))
    for i in range(3):
        append(db, T0 - D + i, "dr.director", "director", "hold.approve", f"hold:{i}", "reason")
    yield db
    db.close()


def figure(html: str, id_: str) -> str:
    m = re.search(rf'id="{re.escape(id_)}"[^>]*>([^<]*)<', html)
    assert m, f"no element with id {id_}"
    return m.group(1).strip()


def render(db, tmp_path) -> str:
    s = make_settings(tmp_path)
    return build_report(db, s, camera_policies(s), SINCE, T0, T0)


def test_report_numbers_match_the_catalog(seeded, tmp_path):
    html = render(seeded, tmp_path)
    in_period = receipts(seeded, SINCE, T0)
    assert figure(html, "purged-total") == str(len(in_period)) == "6"
    assert figure(html, "purged-lobby") == "5" and figure(html, "purged-stacks") == "1"
    assert figure(html, "purged-early") == "1"
    assert figure(html, "purged-late") == "1"
    assert figure(html, "stored-total") == str(sum(c.segments for c in camera_stats(seeded))) == "5"
    assert figure(html, "stored-lobby") == "3" and figure(html, "stored-stacks") == "1"
    assert figure(html, "overdue-count") == "1"
    assert figure(html, "holds-count") == "2"
    assert figure(html, "exports-count") == "2"
    assert figure(html, "chain-status") == "intact"
    assert figure(html, "chain-head") == head(seeded)[1]
    assert "3 entries verified" in html
    assert figure(html, "cameras-count") == "2" and figure(html, "cameras-violating") == "0"


def test_report_lists_the_late_and_early_purges_and_the_unconfigured_camera(seeded, tmp_path):
    html = render(seeded, tmp_path)
    assert "Destroyed late with no hold (1)" in html and "Destroyed before the deadline (1)" in html
    assert "old-cam (1 segment)" in html


def test_report_checks_export_grounds_against_the_policy(seeded, tmp_path):
    html = render(seeded, tmp_path)
    assert "policy ala-baseline does not allow voluntary_no_materials for law_enforcement" in html
    assert html.count('<span class="ok">allowed</span>') == 1
    assert "Case 2024-CR-17" in html


def test_report_has_an_inline_svg_plot_and_no_external_assets(seeded, tmp_path):
    html = render(seeded, tmp_path)
    assert html.count("<svg") == 1 and html.count("<rect") == 8
    assert "<script" not in html and "src=" not in html and "<link" not in html


def test_report_contains_no_personal_data(seeded, tmp_path):
    html = render(seeded, tmp_path)
    for text in PERSONAL:
        assert text not in html


def test_report_shows_a_broken_audit_chain(seeded, tmp_path):
    # Simulate tampering below the catalog API: the append-only triggers are bypassed on purpose.
    seeded.conn.execute("DROP TRIGGER audit_no_update")
    seeded.conn.execute("UPDATE audit SET reason = 'edited' WHERE seq = 2")
    html = render(seeded, tmp_path)
    assert figure(html, "chain-status") == "BROKEN"
    assert "Broken</span> at entry 2" in html


def test_report_flags_a_violating_camera(seeded, tmp_path):
    s = make_settings(tmp_path)
    s = s.model_copy(update={"cameras": [s.cameras[0].model_copy(update={"audio": True})]})
    html = build_report(seeded, s, camera_policies(s), SINCE, T0, T0)
    assert figure(html, "cameras-violating") == "1"
    assert "audio-forbidden" in html


def test_lag_histogram_and_percentiles():
    lags = [-5.0, 0.0, 0.5, 2.0, 30.0, 120.0, 1800.0, 7200.0, 172800.0]
    assert [n for _, n in lag_histogram(lags)] == [1, 2, 1, 1, 1, 1, 1, 1]
    assert percentile(sorted(lags), 50) == 30.0
    assert percentile(sorted(lags), 100) == 172800.0
    assert percentile([], 95) is None


def _config(tmp_path: Path) -> str:
    p = tmp_path / "config.toml"
    p.write_text(f'[storage]\npath = "{tmp_path / "store"}"\n\n[[cameras]]\nid = "lobby"\n'
                 'name = "Lobby"\nzone = "entrance"\npurpose = "physical security of the lobby"\n')
    return str(p)


def test_cli_writes_the_report(tmp_path):
    cfg = _config(tmp_path)
    Catalog.open(tmp_path / "store" / "catalog.sqlite3").close()
    out = tmp_path / "report.html"
    r = CliRunner().invoke(report_command, ["--config", cfg, "--out", str(out), "--since", "7"])
    assert r.exit_code == 0, r.output
    html = out.read_text()
    assert "Privacy audit report" in html and figure(html, "purged-total") == "0"


def test_cli_without_a_catalog_fails_cleanly(tmp_path):
    r = CliRunner().invoke(report_command, ["--config", _config(tmp_path), "--out",
                                            str(tmp_path / "r.html")])
    assert r.exit_code == 1 and "no catalog" in r.output and "Traceback" not in r.output


@pytest.mark.parametrize("seconds,text", [
    (None, "-"), (0.5, "0.5 s"), (-10, "-10.0 s"), (119, "119.0 s"), (7200, "2.0 h"),
    (259200, "3.0 days"), (176340, "2.0 days")])
def test_approx_durations(seconds, text):
    from gateway.policy.report import approx
    assert approx(seconds) == text


def test_every_bar_leaves_room_for_its_count_above_it():
    from gateway.policy.report import svg_bars
    bars = svg_bars([("a", 5), ("b", 1), ("c", 0)])
    assert min(b.y for b in bars) - 4 >= 16      # a 12 px label sits whole inside the plot
    assert bars[0].height > bars[1].height > bars[2].height == 0
