"""Receipts past their keep period become one audited summary per UTC day; nothing else changes."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

from click.testing import CliRunner

from gateway.audit import verify
from gateway.catalog import Catalog, audit_log
from gateway.catalog.receipt_compaction import ACTION, DAY_US, compact_receipts, digest_rows
from gateway.catalog.segments import receipts
from gateway.cli import main
from gateway.clock import US, SystemClock

NOW = 1_790_000_000 * US
DAY0 = NOW - NOW % DAY_US - 10 * DAY_US  # midnight UTC, ten days before today


def seed(db: Catalog) -> list[tuple]:
    """Receipts on days 0, 1 and 9 (two cameras), one held; purge entries as the gateway's."""
    rows = []
    for i, (day, cam, lag, released) in enumerate([
            (0, "lobby", 40_000, None), (0, "stacks", 90_000, None),
            (0, "lobby", 2 * US, 5 * 3600 * US), (1, "lobby", 10_000, None),
            (9, "stacks", 20_000, None)]):
        deadline = DAY0 + day * DAY_US + 3600 * US + i * US
        base = deadline if released is None else deadline + released
        rows.append((f"{i:032x}", cam, deadline - 90 * US, deadline - 30 * US, deadline,
                     base + lag, "ab" * 32, "retention deadline passed", base))
        audit_log.append(db, base + lag, "system", "system", "purge", f"segment:{i:032x}",
                         "retention deadline passed", {"camera": cam})
    with db.tx() as c:
        c.executemany("INSERT INTO purge_receipts (segment_uid, camera, start_us, end_us, "
                      "deadline_us, destroyed_at_us, sha256, reason, released_us) "
                      "VALUES (?,?,?,?,?,?,?,?,?)", rows)
    return rows


def test_whole_days_before_the_cutoff_are_summarised_and_audited(tmp_path):
    db = Catalog.open(tmp_path / "c.sqlite3")
    db.audit_key = secrets.token_bytes(32)
    rows = seed(db)
    # Cut off in the middle of day 2: days 0 and 1 go, day 9 stays.
    done = compact_receipts(db, DAY0 + 2 * DAY_US + 5 * 3600 * US, NOW)
    assert (done.days, done.receipts) == (2, 4)
    assert [r.segment_uid for r in receipts(db)] == [rows[4][0]]
    entries = [e for e in audit_log.entries(db) if e.action == ACTION]
    assert len(entries) == 3 and all(e.mac for e in entries)  # one per camera and day
    by = {(d["camera"], d["day_start_us"]): d for d in (json.loads(e.detail) for e in entries)}
    assert set(by) == {("lobby", DAY0), ("stacks", DAY0), ("lobby", DAY0 + DAY_US)}
    lobby0 = by[("lobby", DAY0)]
    assert (lobby0["receipts"], lobby0["max_lag_us"], lobby0["held"]) == (2, 2 * US, 1)
    assert lobby0["sha256"] == digest_rows([rows[0], rows[2]])  # a copy can be checked
    assert (by[("stacks", DAY0)]["receipts"], by[("stacks", DAY0)]["held"]) == (1, 0)
    # The per-segment purge entries stay, and the chain still verifies with the key.
    assert sum(1 for e in audit_log.entries(db) if e.action == "purge") == 5
    assert verify(audit_log.entries(db), key=db.audit_key).ok
    # Again: nothing left to do.
    assert compact_receipts(db, DAY0 + 2 * DAY_US + 5 * 3600 * US, NOW).receipts == 0
    db.close()


def test_the_cli_refuses_a_keep_period_a_yearly_report_would_miss(tmp_path: Path):
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[storage]\npath = "{tmp_path / "store"}"\n')
    r = CliRunner().invoke(main, ["receipts", "compact", "--keep-days", "30", "--config", str(cfg)])
    assert r.exit_code == 2 and "400" in r.output


def test_the_cli_compacts_with_the_audit_key(tmp_path: Path):
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[storage]\npath = "{tmp_path / "store"}"\n')
    from gateway.config import load_settings
    from gateway.vault.auditkey import open_audit_key
    settings = load_settings(cfg)
    db = Catalog.open(settings.catalog_path)
    open_audit_key(db, settings.audit_key_path, create=True, now_us=NOW)
    now = SystemClock().now_us()
    with db.tx() as c:  # one receipt four years old, one from yesterday
        for uid, age_days in (("a" * 32, 4 * 365), ("b" * 32, 1)):
            t = now - age_days * DAY_US
            c.execute("INSERT INTO purge_receipts (segment_uid, camera, start_us, end_us, "
                      "deadline_us, destroyed_at_us, sha256, reason, released_us) "
                      "VALUES (?,?,?,?,?,?,?,?,?)", (uid, "lobby", t - 90, t - 30, t, t,
                                                     "0" * 64, "r", t))
    db.close()
    r = CliRunner().invoke(main, ["receipts", "compact", "--config", str(cfg)])
    assert r.exit_code == 0, r.output
    assert "compacted 1 receipt(s) of 1 day(s) older than 1095 days" in r.output
    db = Catalog.open(settings.catalog_path)
    assert [x.segment_uid for x in receipts(db)] == ["b" * 32]
    db.close()
    assert CliRunner().invoke(main, ["audit", "verify", "--config", str(cfg)]).exit_code == 0
