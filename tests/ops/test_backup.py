"""Backups: the catalog (holds, receipts, audit log) survives the host; no data key does.

``backup`` runs while the gateway does; ``restore`` puts the copy on a new host
(issue 10, "Backups").
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import stat
from pathlib import Path

from click.testing import CliRunner

from gateway.app import create_app
from gateway.catalog import audit_log
from gateway.catalog import segments as seg_sql
from gateway.catalog.backup import LOST_REASON
from gateway.cli import main
from gateway.clock import US
from gateway.segments.purge import purge_once
from gateway.web.appkeys import RUNTIME
from holds_env import T0, active_hold, make_env, make_settings


def config(root: Path) -> Path:
    cfg = root / "config.toml"
    cfg.write_text(f'[storage]\npath = "{root / "store"}"\n')
    return cfg


def cli(*args: str):
    return CliRunner().invoke(main, list(args))


async def lived(aiohttp_client, tmp_path):
    """A gateway with an active hold over two segments, one unheld segment and one receipt."""
    env = await make_env(aiohttp_client, tmp_path)
    hold, segs = await active_hold(env)
    gone = await env.ingest("desk", T0 - 600 * US, seed=5)
    env.clock.advance(3600)
    await purge_once(env.svc)  # the desk segments outside the hold are past their deadline
    assert await env.svc.catalog.run(seg_sql.get_receipt, gone.uid) is not None
    return env, hold, segs


async def test_backup_while_running_holds_no_data_key_and_restores_on_a_new_host(
        aiohttp_client, tmp_path):
    env, hold, segs = await lived(aiohttp_client, tmp_path)
    keys = [await env.svc.catalog.run(seg_sql.get_data_key, s.id) for s in segs]
    out = tmp_path / "backup.sqlite3"
    # The gateway is running (its writer holds the catalog open) while the backup is taken.
    r = await asyncio.to_thread(cli, "backup", "--config", str(config(tmp_path)), "--out",
                                str(out))
    assert r.exit_code == 0, r.output
    assert "0 data keys" in r.output
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
    raw = out.read_bytes()
    for k in keys:
        assert k.wrapped not in raw and k.wrapped[:16] not in raw
    assert not list(tmp_path.glob("backup.sqlite3-*")), "one self-contained file"
    # Nothing of the key material is in it either.
    assert env.svc.settings.audit_key_path.read_bytes() not in raw
    ring = env.svc.settings.keyring_path.read_bytes()
    assert b'"kek-' not in raw and ring[-40:] not in raw
    # Footage is still being taken in: the gateway did not stop for it.
    assert await env.ingest("lobby", env.clock.now_us() - 10 * US, seed=7)

    host2 = tmp_path / "host2"
    host2.mkdir()
    cfg2 = config(host2)
    r = cli("restore", "--config", str(cfg2), "--from", str(out))
    assert r.exit_code == 0, r.output
    assert "2 segment(s) lost" in r.output  # the two held lobby segments
    assert stat.S_IMODE(os.stat(host2 / "store" / "catalog.sqlite3").st_mode) == 0o600
    assert cli("audit", "verify", "--config", str(cfg2)).exit_code == 0
    # The new host makes its key ring at its first start (`check` needs one).
    settings2 = make_settings(host2)
    app = create_app(settings2, run_loops=False)
    client = await aiohttp_client(app)
    svc = app[RUNTIME]
    restored = await svc.catalog.run(lambda db: db.conn.execute(
        "SELECT id, state, incident FROM holds").fetchall())
    assert [(h[0], h[1], h[2]) for h in restored] == [(hold["id"], "active", "INC-42")]
    for s in segs:  # held footage is gone with the host, and says so
        assert await svc.catalog.run(seg_sql.get_segment, s.uid) is None
        receipt = await svc.catalog.run(seg_sql.get_receipt, s.uid)
        assert receipt.reason == LOST_REASON
    entries = await svc.catalog.run(lambda db: list(audit_log.entries(db)))
    actions = [e.action for e in entries]
    assert "hold.approve" in actions and actions[-2:] == ["audit.rekeyed", "catalog.restored"]
    await client.close()
    check = cli("check", "--config", str(cfg2))
    assert check.exit_code == 0, check.output


async def test_restore_with_the_old_audit_key_refuses_a_rewritten_backup(aiohttp_client,
                                                                          tmp_path):
    env, hold, _ = await lived(aiohttp_client, tmp_path)
    out = tmp_path / "backup.sqlite3"
    assert (await asyncio.to_thread(cli, "backup", "--config", str(config(tmp_path)), "--out",
                                    str(out))).exit_code == 0
    old_key = env.svc.settings.audit_key_path
    conn = sqlite3.connect(out, isolation_level=None)
    conn.execute("DROP TRIGGER audit_no_update")
    conn.execute("UPDATE audit SET mac = NULL WHERE seq = (SELECT max(seq) FROM audit)")
    conn.close()
    host2 = tmp_path / "host2"
    host2.mkdir()
    r = cli("restore", "--config", str(config(host2)), "--from", str(out), "--audit-key",
            str(old_key))
    assert r.exit_code == 1 and "nothing restored" in r.output
    assert not (host2 / "store" / "catalog.sqlite3").exists()


async def test_backup_never_overwrites_or_follows_a_symlink(aiohttp_client, tmp_path):
    await make_env(aiohttp_client, tmp_path)
    victim = tmp_path / "victim"
    victim.write_text("keep me")
    link = tmp_path / "link.sqlite3"
    link.symlink_to(victim)
    for dest in (victim, link):
        r = await asyncio.to_thread(cli, "backup", "--config", str(config(tmp_path)), "--out",
                                    str(dest))
        assert r.exit_code == 1 and "already exists" in r.output
    assert victim.read_text() == "keep me"


async def test_restore_refuses_to_replace_a_live_catalog(aiohttp_client, tmp_path):
    await make_env(aiohttp_client, tmp_path)
    out = tmp_path / "backup.sqlite3"
    assert (await asyncio.to_thread(cli, "backup", "--config", str(config(tmp_path)), "--out",
                                    str(out))).exit_code == 0
    r = cli("restore", "--config", str(config(tmp_path)), "--from", str(out))
    assert r.exit_code == 1 and "exists" in r.output


async def test_a_backup_is_audited_in_the_live_catalog_with_a_mac(aiohttp_client, tmp_path):
    from gateway.audit import verify
    from gateway.vault.auditkey import read_key

    env = await make_env(aiohttp_client, tmp_path)
    out = tmp_path / "backup.sqlite3"
    r = await asyncio.to_thread(cli, "backup", "--config", str(config(tmp_path)), "--out",
                                str(out))
    assert r.exit_code == 0, r.output
    entries = await env.svc.catalog.run(lambda db: list(audit_log.entries(db)))
    last = entries[-1]
    assert (last.action, last.object, last.role) == ("catalog.backup", "catalog", "operator")
    assert last.actor.startswith("cli:")
    import hashlib
    import json
    detail = json.loads(last.detail)
    assert detail["path"] == str(out) and detail["rows"]["data_keys"] == 0
    assert detail["sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()
    # The copy ends at the entry before this one: the backup is not in itself.
    assert detail["audit_head_seq"] == last.seq - 1
    assert detail["audit_head_hash"] == entries[-2].hash
    key = read_key(env.svc.settings.audit_key_path)
    assert last.mac is not None and key.hex() not in last.detail
    assert verify(entries, key=key).ok  # MACed like every entry


async def test_no_backup_is_kept_when_it_cannot_be_audited(aiohttp_client, tmp_path):
    env = await make_env(aiohttp_client, tmp_path)
    key_path = env.svc.settings.audit_key_path
    key_path.rename(key_path.with_name("elsewhere"))  # not the gateway's user: no key here
    out = tmp_path / "backup.sqlite3"
    r = await asyncio.to_thread(cli, "backup", "--config", str(config(tmp_path)), "--out",
                                str(out))
    assert r.exit_code == 1 and "no backup was made" in r.output, r.output
    assert not out.exists()
