"""The CLI prints local time with its zone (library.timezone); the API stays RFC 3339."""

from __future__ import annotations

from click.testing import CliRunner

from gateway.catalog import Catalog, holds as holds_sql
from gateway.cli import main
from gateway.clock import US
from gateway.models import Hold

T = 1_764_590_400 * US  # Mon 1 Dec 2025 12:00 UTC = 06:00 in Chicago


def test_holds_list_and_show_print_local_time(tmp_path):
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[storage]\npath = "{tmp_path / "data"}"\n'
                   '[library]\ntimezone = "America/Chicago"\n')
    db = Catalog.open(tmp_path / "data" / "catalog.sqlite3")
    try:
        holds_sql.insert_hold(db, Hold(0, "requested", ("lobby",), T - 600 * US, T, "INC-1",
                                       "why", "sam", T, T + 7200 * US))
    finally:
        db.close()
    listed = CliRunner().invoke(main, ["holds", "list", "--config", str(cfg)])
    assert listed.exit_code == 0, listed.output
    assert "Mon 1 Dec 2025, 05:50:00 CST to Mon 1 Dec 2025, 06:00:00 CST" in listed.output
    assert "Mon 1 Dec 2025, 08:00:00 CST" in listed.output  # preserves until
    shown = CliRunner().invoke(main, ["holds", "show", "1", "--config", str(cfg)])
    assert shown.exit_code == 0, shown.output
    assert "grace_until      Mon 1 Dec 2025, 08:00:00 CST" in shown.output
    assert "2025-12-01T" not in shown.output
