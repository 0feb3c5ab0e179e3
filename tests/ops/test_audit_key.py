"""The keyed audit chain: a rewrite that recomputes every hash is still caught.

The attacker here has the database file but not the audit key beside the key
ring: they drop the triggers, edit an entry and recompute the hash chain from
there, which passed every check before the chain was keyed (issue 10, 5).
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import stat
from pathlib import Path

from click.testing import CliRunner

from gateway.app import create_app
from gateway.audit import entry_hash
from gateway.catalog import Catalog, audit_log
from gateway.cli import main
from gateway.clock import US, FakeClock
from gateway.config import load_settings
from gateway.segments.stats import refresh_stats
from gateway.web.appkeys import RUNTIME

T0 = 1_790_000_000 * US


def config(tmp: Path) -> Path:
    cfg = tmp / "config.toml"
    cfg.write_text(f'[storage]\npath = "{tmp / "store"}"\n')
    return cfg


async def start(aiohttp_client, cfg: Path, entries: int = 0):
    """Start the gateway on ``cfg`` (it keys the chain) and append ``entries`` entries."""
    app = create_app(load_settings(cfg), clock=FakeClock(T0), run_loops=False)
    client = await aiohttp_client(app)
    svc = app[RUNTIME]
    for i in range(entries):
        await svc.catalog.run(audit_log.append, T0 + i * US, "dana", "director", "segment.view",
                              f"segment:{i:032x}", f"reason {i}", {"camera": "lobby"})
    return client, svc


def rewrite(cfg: Path, seq: int, new_reason: str, drop_macs: bool = False) -> None:
    """Edit entry ``seq`` and recompute every hash from it on, as someone without the key would."""
    conn = sqlite3.connect(cfg.parent / "store" / "catalog.sqlite3", isolation_level=None)
    conn.execute("DROP TRIGGER audit_no_update")
    conn.execute("UPDATE audit SET reason = ? WHERE seq = ?", (new_reason, seq))
    rows = conn.execute("SELECT seq, at_us, actor, role, action, object, reason, detail, "
                        "prev_hash FROM audit WHERE seq >= ? ORDER BY seq", (seq,)).fetchall()
    prev = rows[0][8]
    for r in rows:
        h = entry_hash(prev, *r[:8])
        conn.execute("UPDATE audit SET prev_hash = ?, hash = ? WHERE seq = ?", (prev, h, r[0]))
        if drop_macs:
            conn.execute("UPDATE audit SET mac = NULL WHERE seq = ?", (r[0],))
        prev = h
    conn.close()


def cli(*args: str):
    return CliRunner().invoke(main, list(args))


async def test_rewrite_with_recomputed_hashes_fails_verify_check_and_the_gauge(
        aiohttp_client, tmp_path):
    cfg = config(tmp_path)
    client, svc = await start(aiohttp_client, cfg, entries=5)
    key_file = svc.settings.audit_key_path
    assert key_file.parent == svc.settings.keyring_path.parent
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    assert key_file.read_bytes() not in (tmp_path / "store" / "catalog.sqlite3").read_bytes()
    assert cli("audit", "verify", "--config", str(cfg)).exit_code == 0

    rewrite(cfg, 3, "nothing to see")
    r = cli("audit", "verify", "--config", str(cfg))
    assert r.exit_code == 1
    assert "entry 3 fails its MAC" in r.output
    c = cli("check", "--config", str(cfg))
    assert c.exit_code == 1 and "entry 3 fails its MAC" in c.output
    await refresh_stats(svc, reanchor_audit=True)
    assert "footage_audit_chain_verified 0.0" in svc.metrics.render().decode()
    await client.close()


async def test_rewrite_that_drops_every_mac_is_caught(aiohttp_client, tmp_path):
    cfg = config(tmp_path)
    client, _ = await start(aiohttp_client, cfg, entries=4)
    await client.close()
    rewrite(cfg, 1, "nothing to see", drop_macs=True)
    r = cli("audit", "verify", "--config", str(cfg))
    assert r.exit_code == 1 and "no entry carries a MAC" in r.output


async def test_rewrite_that_drops_the_macs_of_the_tail_is_caught(aiohttp_client, tmp_path):
    cfg = config(tmp_path)
    client, _ = await start(aiohttp_client, cfg, entries=4)
    await client.close()
    rewrite(cfg, 3, "nothing to see", drop_macs=True)
    r = cli("audit", "verify", "--config", str(cfg))
    assert r.exit_code == 1 and "entry 3 carries no MAC" in r.output


async def test_upgraded_catalog_is_covered_by_the_first_keyed_entry(aiohttp_client, tmp_path):
    cfg = config(tmp_path)
    # A catalog from before the key: three unkeyed entries.
    db = Catalog.open(tmp_path / "store" / "catalog.sqlite3")
    for i in range(3):
        audit_log.append(db, T0 + i * US, "dana", "director", "segment.view", f"segment:{i}",
                         f"old {i}", {})
    db.close()
    client, svc = await start(aiohttp_client, cfg)
    entries = await svc.catalog.run(lambda c: list(audit_log.entries(c)))
    assert [e.mac is None for e in entries] == [True, True, True, False]
    assert entries[-1].action == "audit.keyed"
    assert "3" in entries[-1].detail  # covers entries 1..3
    await client.close()
    assert cli("audit", "verify", "--config", str(cfg)).exit_code == 0
    # An edit of a pre-key entry breaks the keyed entry's MAC once the hashes are recomputed.
    rewrite(cfg, 2, "rewritten")
    r = cli("audit", "verify", "--config", str(cfg))
    assert r.exit_code == 1 and "entry 4 fails its MAC" in r.output


async def test_a_cli_without_the_key_writes_nothing_to_a_keyed_chain(aiohttp_client, tmp_path):
    cfg = config(tmp_path)
    client, svc = await start(aiohttp_client, cfg, entries=1)
    await client.close()
    svc.settings.audit_key_path.rename(tmp_path / "elsewhere")
    r = await asyncio.to_thread(cli, "users", "add", "eve", "--role", "auditor", "--config",
                                str(cfg))
    assert r.exit_code == 1 and "audit key" in r.output
    db = Catalog.open(tmp_path / "store" / "catalog.sqlite3")
    assert audit_log.head(db)[0] == 1
    db.close()


async def test_verify_by_another_user_checks_the_hashes_and_says_the_macs_were_not(
        aiohttp_client, tmp_path):
    cfg = config(tmp_path)
    client, svc = await start(aiohttp_client, cfg, entries=3)
    await client.close()
    key_file = svc.settings.audit_key_path
    # Another user than the gateway's: root sees a key it does not own, anyone else
    # cannot open it at all (0600 in a 0700 directory).
    if os.geteuid() == 0:
        os.chown(key_file, 4242, -1)
    else:
        os.chmod(key_file, 0)
    r = cli("audit", "verify", "--config", str(cfg))
    assert r.exit_code == 3, r.output  # neither "intact" (0) nor "broken" (1)
    assert "hashes fit" in r.output and "MACs were NOT checked" in r.output
    assert "gateway's user" in r.output and "Traceback" not in r.output

    rewrite(cfg, 2, "nothing to see")  # recomputed hashes: only the MACs would catch it
    assert cli("audit", "verify", "--config", str(cfg)).exit_code == 3  # never 0
    tamper = sqlite3.connect(tmp_path / "store" / "catalog.sqlite3", isolation_level=None)
    tamper.execute("UPDATE audit SET reason = 'edited' WHERE seq = 1")  # triggers dropped
    tamper.close()
    r = cli("audit", "verify", "--config", str(cfg))
    assert r.exit_code == 1 and "entry 1 was edited" in r.output  # the hashes still catch this
    assert "MACs NOT checked" in r.output
