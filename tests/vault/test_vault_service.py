"""Reading through the vault fails closed; keys rotate without touching video; check and purge CLI."""

from __future__ import annotations

import hashlib

import pytest
from click.testing import CliRunner

from conftest import auth, write_policy
from gateway.catalog import Catalog
from gateway.catalog import segments as seg_sql
from gateway.cli import main
from gateway.clock import US, iso
from gateway.errors import IntegrityError
from gateway.media import synth
from gateway.web.appkeys import CATALOG, RUNTIME
from gateway.keys.epochs import retire_keks, rotate_if_due, rotate_keys
from gateway.segments.read import read_plaintext

CLIPS = [synth.make_segment(1.0, 15, 320, 180, seed=s) for s in range(4)]
_next = iter(range(10**6))


async def ingest(client, cam="lobby", start=None) -> str:
    """Push a distinct clip (the same bytes again would be recognised as a retry)."""
    headers = auth() if start is None else {**auth(), "X-Segment-Start": start}
    data = CLIPS[next(_next) % len(CLIPS)]
    r = await client.post(f"/api/v1/cameras/{cam}/segments", data=data, headers=headers)
    assert r.status == 201, await r.text()
    return (await r.json())["id"]


def write_config(tmp_path, policies="policies") -> str:
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'policies_dir = "{policies}"\n[storage]\npath = "data"\n'
                   '[[cameras]]\nid = "lobby"\nname = "Lobby"\npolicy = "test5s"\n'
                   'zone = "entrance"\npurpose = "physical security"\n'
                   'push_token = "test-camera-token-0123456789abcdef"\n')
    return str(cfg)


@pytest.mark.parametrize("damage", ["flip_byte", "truncate", "append", "swap_file"])
async def test_tampered_segment_fails_closed_and_is_marked(gateway_client, tmp_path, damage):
    client, app = await gateway_client()
    uid, other = await ingest(client), await ingest(client)
    svc = app[RUNTIME]
    path = svc.storage.path(uid)
    blob = path.read_bytes()
    if damage == "flip_byte":
        blob = blob[:500] + bytes([blob[500] ^ 1]) + blob[501:]
    elif damage == "truncate":
        blob = blob[: len(blob) - 100]
    elif damage == "append":
        blob = blob + b"\0"
    else:
        blob = svc.storage.path(other).read_bytes()  # a valid file of another segment
    path.write_bytes(blob)
    with pytest.raises(IntegrityError):
        await read_plaintext(svc, uid)
    assert (await app[CATALOG].run(seg_sql.get_segment, uid)).state == "corrupt"
    # The other segment still reads.
    _, plain = await read_plaintext(svc, other)
    assert plain[4:8] == b"ftyp"


async def test_keys_rotate_rewraps_without_touching_video(gateway_client, tmp_path):
    client, app = await gateway_client()
    uids = [await ingest(client) for _ in range(3)]
    svc = app[RUNTIME]
    files_before = {u: hashlib.sha256(svc.storage.path(u).read_bytes()).hexdigest() for u in uids}
    mtimes = {u: svc.storage.path(u).stat().st_mtime_ns for u in uids}
    old_kek = svc.keyring.current_id
    out = await rotate_keys(svc)
    assert out["rewrapped"] == 3 and out["kek"] != old_kek
    for u in uids:
        seg = await app[CATALOG].run(seg_sql.get_segment, u)
        key = await app[CATALOG].run(seg_sql.get_data_key, seg.id)
        assert key.kek_id == out["kek"]
        assert hashlib.sha256(svc.storage.path(u).read_bytes()).hexdigest() == files_before[u]
        assert svc.storage.path(u).stat().st_mtime_ns == mtimes[u]
        _, plain = await read_plaintext(svc, u)
        assert plain[4:8] == b"ftyp"
    # Once the grace has passed, the old KEK is destroyed: nothing references it.
    svc.clock = type("C", (), {"now_us": lambda self: 2**62})()
    assert await retire_keks(svc) == [old_kek]
    assert old_kek not in svc.keyring.ids()


async def test_check_and_purge_dry_run_cli(gateway_client, make_settings, tmp_path):
    client, app = await gateway_client()
    now = app[RUNTIME].clock.now_us()
    due = await ingest(client, start=iso(now - 1 * US))        # deadline in 5 s
    await ingest(client)
    cfg = write_config(tmp_path)
    runner = CliRunner()

    res = runner.invoke(main, ["check", "--config", cfg])
    assert res.exit_code == 0, res.output
    assert "2 segments, 2 files, 0 problems" in res.output

    res = runner.invoke(main, ["purge", "--dry-run", "--config", cfg])
    assert res.exit_code == 0, res.output
    assert "0 due now" in res.output and "retention 5 s" in res.output

    # Damage storage: check must name each problem and exit 1.
    svc = app[RUNTIME]
    svc.storage.path(due).write_bytes(b"garbage")
    (svc.storage.root / "ab").mkdir(exist_ok=True)
    (svc.storage.root / "ab" / ("ab" * 16 + ".fgs")).write_bytes(b"x")
    (svc.storage.root / "ab" / "stray.bin").write_bytes(b"?")
    res = runner.invoke(main, ["check", "--config", cfg])
    assert res.exit_code == 1
    assert f"segment {due}: file is 7 bytes" in res.output
    assert "no catalog row" in res.output
    assert "unexpected file" in res.output and "stray.bin" in res.output
    assert "3 problems" in res.output


def test_purge_dry_run_explains_due_and_held(tmp_path):
    write_policy(tmp_path / "policies")
    cfg = write_config(tmp_path)
    db = Catalog.open(tmp_path / "data" / "catalog.sqlite3")
    from gateway.models import Hold, Segment
    import time
    now = time.time_ns() // 1000
    for i, start_s in enumerate([100, 50]):  # only the first overlaps the hold's window
        seg_sql.insert_segment(db, Segment(0, f"{i:032x}", "lobby", "test5s", now - start_s * US,
                                           now - (start_s - 10) * US, now - 30 * US, 10, "0" * 64, 1, 2, 2,
                                           False, "stored", None, now), b"k" * 16, "kek", b"w")
    from gateway.catalog import holds as holds_sql
    holds_sql.insert_hold(db, Hold(0, "requested", ("lobby",), now - 100 * US, now - 95 * US,
                                   "INC-9", "theft", "staff", now, now + 3600 * US))
    db.close()
    res = CliRunner().invoke(main, ["purge", "--dry-run", "--config", cfg])
    assert res.exit_code == 0, res.output
    assert "1 due now, 1 held past deadline" in res.output
    assert f"DESTROY {1:032x}" in res.output and f"KEEP    {0:032x}" in res.output


async def test_key_epoch_rotates_on_schedule_and_old_kek_is_destroyed(gateway_client, fake_clock):
    client, app = await gateway_client(clock=fake_clock)
    uid = await ingest(client)
    svc = app[RUNTIME]
    first = svc.keyring.current_id
    assert await rotate_if_due(svc) is None              # the epoch (1 day) has not passed
    fake_clock.advance(86400)
    out = await rotate_if_due(svc)
    assert out is not None and out["rewrapped"] == 1
    assert await rotate_if_due(svc) is None
    fake_clock.advance(601)                               # past the retirement grace
    assert await retire_keks(svc) == [first]
    assert first not in svc.keyring.ids()
    _, plain = await read_plaintext(svc, uid)              # still readable under the new KEK
    assert plain[4:8] == b"ftyp"


async def test_keys_rotate_cli(gateway_client, tmp_path):
    import asyncio

    client, app = await gateway_client()
    uid = await ingest(client)
    cfg = write_config(tmp_path)
    res = await asyncio.to_thread(CliRunner().invoke, main, ["keys", "rotate", "--config", cfg])
    assert res.exit_code == 0, res.output
    assert "re-wrapped 1 data keys" in res.output
    _, plain = await read_plaintext(app[RUNTIME], uid)  # the running gateway still reads it
    assert plain[4:8] == b"ftyp"
