"""Audit checkpoints: the start-up and hourly checks read only the entries after the
newest checkpoint, and a checkpoint is trusted only through its MAC under the audit key.

The attacker here can write the catalog (drop the triggers, insert and edit
rows) but does not hold the audit key beside the key ring.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from gateway.app import create_app
from gateway.audit import CHECKPOINT, canonical_detail, entry_hash, entry_mac
from gateway.catalog import audit_log
from gateway.cli import main
from gateway.clock import US, FakeClock
from gateway.config import load_settings
from gateway.segments import stats
from gateway.segments.stats import refresh_stats
from gateway.web.appkeys import RUNTIME

T0 = 1_790_000_000 * US
EVERY = 20


@pytest.fixture
def small_checkpoints(monkeypatch):
    monkeypatch.setattr(stats, "CHECKPOINT_EVERY", EVERY)


@pytest.fixture
def rows_read(monkeypatch):
    """Counts the audit rows the chain checks read (every walk goes through entries())."""
    count = {"rows": 0}
    real = audit_log.entries

    def counting(db, since_seq=0, limit=-1):
        for e in real(db, since_seq, limit):
            count["rows"] += 1
            yield e
    monkeypatch.setattr(audit_log, "entries", counting)
    return count


def config(tmp: Path) -> Path:
    cfg = tmp / "config.toml"
    cfg.write_text(f'[storage]\npath = "{tmp / "store"}"\n')
    return cfg


async def start(aiohttp_client, cfg: Path):
    app = create_app(load_settings(cfg), clock=FakeClock(T0), run_loops=False)
    client = await aiohttp_client(app)
    return client, app[RUNTIME]


async def add(svc, n: int) -> None:
    for i in range(n):
        await svc.catalog.run(audit_log.append, T0 + i * US, "dana", "director", "segment.view",
                              f"segment:{i:032x}", f"reason {i}", {"camera": "lobby"})


def gauge(svc) -> str:
    return next(line for line in svc.metrics.render().decode().splitlines()
                if line.startswith("footage_audit_chain_verified "))


def connect(cfg: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(cfg.parent / "store" / "catalog.sqlite3", isolation_level=None)
    conn.execute("DROP TRIGGER IF EXISTS audit_no_update")
    conn.execute("DROP TRIGGER IF EXISTS audit_no_delete")
    return conn


def forge_checkpoint(conn: sqlite3.Connection, mac_key: bytes | None) -> int:
    """Append a checkpoint vouching for the whole chain, hashes right, MAC under ``mac_key``."""
    seq, prev = conn.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
    detail = canonical_detail({"verified_seq": seq, "verified_hash": prev, "full_walk": True})
    new = seq + 1
    h = entry_hash(prev, new, T0, "system", "system", CHECKPOINT, "audit", "chain verified",
                   detail)
    mac = entry_mac(mac_key, new, h) if mac_key else None
    conn.execute("INSERT INTO audit (seq, at_us, actor, role, action, object, reason, detail, "
                 "prev_hash, hash, mac) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                 (new, T0, "system", "system", CHECKPOINT, "audit", "chain verified", detail,
                  prev, h, mac))
    return new


def cli(*args: str):
    return CliRunner().invoke(main, list(args))


def checkpoints(svc) -> list[dict]:
    rows = svc.catalog.catalog.conn.execute(
        "SELECT detail FROM audit WHERE action = ? ORDER BY seq", (CHECKPOINT,)).fetchall()
    return [json.loads(r[0]) for r in rows]


async def test_reanchor_records_a_checkpoint_then_reads_only_new_entries(
        aiohttp_client, tmp_path, small_checkpoints, rows_read):
    client, svc = await start(aiohttp_client, config(tmp_path))
    await add(svc, 3 * EVERY)
    rows_read["rows"] = 0
    await refresh_stats(svc, reanchor_audit=True)  # no checkpoint yet: the whole chain
    head = audit_log.head(svc.catalog.catalog)[0]
    assert rows_read["rows"] == head - 1  # every entry but the checkpoint just appended
    [cp] = checkpoints(svc)
    assert cp["verified_seq"] == head - 1 and cp["full_walk"] is True

    await add(svc, 7)
    rows_read["rows"] = 0
    await refresh_stats(svc, reanchor_audit=True)  # what start-up and the hourly pass do
    assert rows_read["rows"] == 8  # the checkpoint entry and the 7 after it, not 60+
    assert gauge(svc).endswith(" 1.0")
    assert len(checkpoints(svc)) == 1  # 8 entries past it: too few for a new one

    rows_read["rows"] = 0
    await refresh_stats(svc)  # the 10 s pass: nothing new since the last one
    assert rows_read["rows"] == 0 and gauge(svc).endswith(" 1.0")
    await client.close()

    r = cli("audit", "verify", "--since-checkpoint", "--config", str(tmp_path / "config.toml"))
    assert r.exit_code == 0, r.output
    assert f"vouched for by checkpoint entry {head}" in r.output


async def test_a_restart_resumes_from_the_checkpoint(aiohttp_client, tmp_path,
                                                     small_checkpoints, rows_read):
    cfg = config(tmp_path)
    client, svc = await start(aiohttp_client, cfg)
    await add(svc, 2 * EVERY)
    await refresh_stats(svc, reanchor_audit=True)
    await client.close()
    rows_read["rows"] = 0
    client, svc = await start(aiohttp_client, cfg)  # start-up re-anchors
    assert rows_read["rows"] == 1  # the checkpoint entry itself: it came after what it vouches
    assert gauge(svc).endswith(" 1.0")
    await client.close()


@pytest.mark.parametrize("mac_key", [None, secrets.token_bytes(32)], ids=["no-mac", "other-key"])
async def test_a_forged_checkpoint_is_refused(aiohttp_client, tmp_path, small_checkpoints,
                                              mac_key):
    cfg = config(tmp_path)
    client, svc = await start(aiohttp_client, cfg)
    await add(svc, 2 * EVERY)
    await client.close()
    conn = connect(cfg)
    # Edit an entry, then vouch for the whole chain with a checkpoint made without the key.
    conn.execute("UPDATE audit SET reason = 'nothing to see' WHERE seq = 5")
    forged = forge_checkpoint(conn, mac_key)
    conn.close()

    r = cli("audit", "verify", "--since-checkpoint", "--config", str(cfg))
    assert r.exit_code == 1
    assert f"entry {forged} ({CHECKPOINT}) fails its MAC" in r.output
    r = cli("audit", "verify", "--config", str(cfg))  # the whole walk finds the edit first
    assert r.exit_code == 1 and "entry 5 was edited" in r.output

    client, svc = await start(aiohttp_client, cfg)  # start-up refuses it too
    assert gauge(svc).endswith(" 0.0")
    await client.close()


async def test_an_edited_checkpoint_is_refused(aiohttp_client, tmp_path, small_checkpoints):
    cfg = config(tmp_path)
    client, svc = await start(aiohttp_client, cfg)
    await add(svc, 2 * EVERY)
    await refresh_stats(svc, reanchor_audit=True)
    cp_seq = audit_log.head(svc.catalog.catalog)[0]
    await client.close()
    conn = connect(cfg)
    detail = json.loads(conn.execute("SELECT detail FROM audit WHERE seq = ?",
                                     (cp_seq,)).fetchone()[0])
    detail["verified_seq"] -= 1  # any edit of what it vouches for
    conn.execute("UPDATE audit SET detail = ? WHERE seq = ?", (canonical_detail(detail), cp_seq))
    conn.close()
    r = cli("audit", "verify", "--since-checkpoint", "--config", str(cfg))
    assert r.exit_code == 1 and f"entry {cp_seq} ({CHECKPOINT}) was edited" in r.output


async def test_an_edit_before_the_checkpoint_is_found_by_the_full_walk(
        aiohttp_client, tmp_path, small_checkpoints):
    cfg = config(tmp_path)
    client, svc = await start(aiohttp_client, cfg)
    await add(svc, 2 * EVERY)
    await refresh_stats(svc, reanchor_audit=True)
    await client.close()
    conn = connect(cfg)
    conn.execute("UPDATE audit SET reason = 'nothing to see' WHERE seq = 3")
    conn.close()
    # The checkpoint vouches for entry 3: reading only what follows it cannot see the edit ...
    assert cli("audit", "verify", "--since-checkpoint", "--config", str(cfg)).exit_code == 0
    # ... the whole walk does, and so does the audit page's "check the whole chain".
    r = cli("audit", "verify", "--config", str(cfg))
    assert r.exit_code == 1 and "entry 3 was edited" in r.output
    client, svc = await start(aiohttp_client, cfg)
    assert not await stats.verify_audit(svc, full=True)
    assert gauge(svc).endswith(" 0.0")
    await client.close()


async def test_entries_cut_off_the_end_are_caught_by_the_next_pass(aiohttp_client, tmp_path):
    cfg = config(tmp_path)
    client, svc = await start(aiohttp_client, cfg)
    await add(svc, 6)
    await refresh_stats(svc)
    assert gauge(svc).endswith(" 1.0")
    svc.catalog.catalog.conn.execute("DROP TRIGGER audit_no_delete")
    svc.catalog.catalog.conn.execute("DELETE FROM audit WHERE seq > 4")
    await refresh_stats(svc)  # nothing after the verified head: the head itself is gone
    assert gauge(svc).endswith(" 0.0")
    await client.close()


async def test_a_checkpoint_needs_the_key_and_a_rekey_retires_it(aiohttp_client, tmp_path,
                                                                 small_checkpoints, rows_read):
    cfg = config(tmp_path)
    client, svc = await start(aiohttp_client, cfg)
    await add(svc, 2 * EVERY)
    await refresh_stats(svc, reanchor_audit=True)
    db = svc.catalog.catalog
    # A rekey after the checkpoint: the checkpoint's MAC is under the old key, so the walk
    # starts at the first entry again (the rekey's own MAC vouches for what came before).
    await svc.catalog.run(audit_log.append, T0, "system", "system", "audit.rekeyed", "audit",
                          "restore", {})
    rows_read["rows"] = 0
    check = await svc.catalog.read(lambda c: audit_log.check_chain(c, db.audit_key,
                                                                   since_checkpoint=True))
    assert check.result.ok and check.checkpoint_seq is None
    assert rows_read["rows"] == audit_log.head(db)[0]
    await client.close()
    # Without the key (a user who cannot read it), --since-checkpoint refuses to trust one.
    r = cli("audit", "verify", "--since-checkpoint", "--config", str(cfg))
    assert r.exit_code == 0  # the test runs as the gateway's user: the key is readable
    svc.settings.audit_key_path.rename(tmp_path / "elsewhere")
    r = cli("audit", "verify", "--since-checkpoint", "--config", str(cfg))
    assert r.exit_code == 1 and "needs the audit key" in r.output
