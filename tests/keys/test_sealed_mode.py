"""Sealed mode, end to end: a locked gateway runs its whole life (ingest, purge, epochs)
without a private key; a copy of the host decrypts nothing; only an unlocked session views
or exports; unlock is per director, rate limited and audited; M-of-N needs M people."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import shutil
import sqlite3
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from gateway.users import service as users
from gateway.app import create_app
from gateway.catalog import audit_log
from gateway.catalog import segments as seg_sql
from gateway.clock import US, FakeClock
from gateway.errors import ConfigError, Conflict
from gateway.models import Actor
from gateway.keys.epochs import retire_keks, rotate_keys
from gateway.segments.purge import purge_once
from gateway.vault import format as fmt
from gateway.vault.keyring import unwrap_key
from gateway.vault.sealed import new_director_key, open_data_key, private_bytes
from gateway.vault.sealed_store import SealedKeys
from gateway.web.appkeys import RUNTIME

from holds_env import RETENTION_S, T0, Env, ROLE_USERS, make_settings

PASS = {"dana": "dana: a long sealed-key passphrase", "dee": "dee: another long passphrase"}
FAST_KDF = {"time_cost": 1, "memory_kib": 8192, "parallelism": 1}
LOCKED = "the key is locked: a director must unlock (footage-gateway keys unlock)"


def sealed_settings(tmp: Path, mode: str = "sealed", **keys):
    base = make_settings(tmp)
    limits = {"unlock_idle": "10m", "unlock_max": "1h"} | keys
    return base.model_copy(update={"keys": base.keys.model_copy(update={"mode": mode, **limits})})


def enroll(settings, names=("dana", "dee")) -> None:
    keys = SealedKeys(settings.sealed_path, settings.keys.unlock_quorum, 1, 1)
    for name in names:
        keys.enroll(new_director_key(name, PASS[name], **FAST_KDF))


async def start(aiohttp_client, settings, clock: FakeClock) -> Env:
    app = create_app(settings, clock=clock, run_loops=False)
    client = await aiohttp_client(app)
    svc = app[RUNTIME]
    root = Actor("root", "operator")
    tokens = {}
    for name, role in ROLE_USERS.items():
        try:
            await users.add_user(svc.catalog, clock, name, role, None, root)
        except Conflict:
            pass  # a restart over the same catalog
        tokens[name] = await users.issue_token(svc.catalog, clock, name, root)
    return Env(client, app, clock, tokens)


@pytest.fixture
async def sealed(aiohttp_client, tmp_path) -> Env:
    settings = sealed_settings(tmp_path)
    enroll(settings)
    return await start(aiohttp_client, settings, FakeClock(T0))


async def unlock(env: Env, who: str = "dana", passphrase: str | None = None):
    return await env.post(who, "/api/v1/keys/unlock",
                          {"passphrase": PASS[who] if passphrase is None else passphrase})


async def view(env: Env, uid: str, who: str = "dana"):
    return await env.client.get(f"/api/v1/segments/{uid}/video?reason=incident INC-42",
                                headers=env.h(who))


async def actions(env: Env) -> list[str]:
    return [e.action for e in await env.svc.catalog.read(lambda db: list(audit_log.entries(db)))]


# ------------------------------------------------------------------ the stolen host


_TOKEN = re.compile(rb"[A-Za-z0-9+/]{40,}={0,2}|[0-9a-fA-F]{64}")


def _secrets_in(value) -> set[bytes]:
    """Every 32-byte string this value could hold: raw, in base64 or hex, or inside a blob."""
    out: set[bytes] = set()
    if isinstance(value, str):
        value = value.encode()
    if not isinstance(value, bytes):
        return out
    if len(value) == 32:
        out.add(value)
    if 32 < len(value) <= 256:  # a wrapped key or a share: every window
        out |= {value[i:i + 32] for i in range(len(value) - 31)}
    for tok in _TOKEN.findall(value):
        for decode in (lambda t: base64.b64decode(t, validate=True), bytes.fromhex):
            try:
                raw = decode(tok.decode())
            except ValueError:
                continue
            if len(raw) >= 32:
                out |= {raw[i:i + 32] for i in range(len(raw) - 31)}
    return out


def try_every_key(root: Path, extra: tuple[bytes, ...] = ()) -> int:
    """How many of the copy's segments open with key material found anywhere in the copy.

    Every 32-byte candidate (from every key file, config and policy file, and every value
    of every catalog table) is tried as a key-ring KEK, as an X25519 private key and as a
    data key, against every segment.
    """
    catalog = next(root.rglob("catalog.sqlite3"))
    con = sqlite3.connect(catalog)
    rows = con.execute("SELECT s.uid, d.key_id, d.kek_id, d.wrapped FROM data_keys d "
                       "JOIN segments s ON s.id = d.segment_id").fetchall()
    candidates: set[bytes] = set(extra)
    for (table,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall():
        for row in con.execute(f"SELECT * FROM {table}"):
            for v in row:
                candidates |= _secrets_in(v)
    con.close()
    blobs = {p.name: p for p in root.rglob("*") if p.is_file()}
    for p in root.rglob("*"):
        if p.is_file() and not p.name.startswith("catalog.sqlite3") and p.suffix != ".seg":
            candidates |= _secrets_in(p.read_bytes())
    assert len(candidates) > 50, "the harness found suspiciously little to try"
    opened = 0
    for uid, key_id, kek_id, wrapped in rows:
        key_id, wrapped = bytes(key_id), bytes(wrapped)
        blob = next(p for name, p in blobs.items() if uid in name).read_bytes()
        if _opens(blob, key_id, kek_id, wrapped, candidates):
            opened += 1
    return opened


def _opens(blob, key_id, kek_id, wrapped, candidates) -> bool:
    for c in candidates:
        keys = [c]
        try:
            keys.append(unwrap_key(c, kek_id, wrapped, key_id=key_id))
        except Exception:
            pass
        try:
            keys.append(open_data_key(X25519PrivateKey.from_private_bytes(c), kek_id, wrapped,
                                      key_id))
        except Exception:
            pass
        for k in keys:
            try:
                fmt.open_sealed(blob, k, expected_key_id=key_id)
                return True
            except Exception:
                pass
    return False


async def test_a_copy_of_the_whole_host_taken_while_locked_decrypts_nothing(sealed, tmp_path):
    env = sealed
    segs = [await env.ingest("lobby", T0 - (60 - i) * US, seed=i) for i in range(3)]
    # A director unlocks, views, locks: nothing of the session may reach the disk.
    assert (await unlock(env)).status == 200
    r = await view(env, segs[0].uid)
    assert r.status == 200
    plaintext = await r.read()
    epoch_key = private_bytes(next(iter(env.svc.keyring.session.keys.values())))
    assert (await env.post("dana", "/api/v1/keys/lock")).status == 200
    (tmp_path / "config.json").write_text(env.svc.settings.model_dump_json())

    stolen = tmp_path.parent / f"{tmp_path.name}-stolen"
    shutil.copytree(tmp_path, stolen)
    files = [p for p in stolen.rglob("*") if p.is_file()]
    assert any(p.suffix == ".epoch" for p in files) and any(p.suffix == ".key" for p in files)
    assert not any(p.name == "keyring" for p in files), "sealed mode must not create a key ring"
    needle = plaintext[len(plaintext) // 2:len(plaintext) // 2 + 64]
    assert not any(needle in p.read_bytes() for p in files), "plaintext footage on disk"
    assert try_every_key(stolen) == 0
    # The harness is able to find keys: given the epoch key it opens every segment.
    assert try_every_key(stolen, extra=(epoch_key,)) == len(segs)


async def test_the_same_harness_opens_a_key_ring_host(aiohttp_client, tmp_path):
    """Control: in ring mode a copy of the host with its key ring decrypts everything."""
    env = await start(aiohttp_client, sealed_settings(tmp_path, mode="ring"), FakeClock(T0))
    for i in range(2):
        await env.ingest("lobby", T0 - (60 - i) * US, seed=i)
    stolen = tmp_path.parent / f"{tmp_path.name}-stolen"
    shutil.copytree(tmp_path, stolen)
    assert try_every_key(stolen) == 2


# ------------------------------------------------------------------ unlock, view, lock


async def test_unlock_view_lock_then_view_is_refused_with_a_clear_message(sealed):
    env = sealed
    seg = await env.ingest("lobby", T0 - 60 * US)
    r = await view(env, seg.uid)
    assert r.status == 423
    assert (await r.json())["error"] == {"code": "key_locked", "message": LOCKED}
    assert "segment.view" not in await actions(env), "a refused view is not a view"

    r = await env.client.get("/api/v1/keys/status", headers=env.h("aud"))
    assert (await r.json())["state"] == "locked"
    r = await unlock(env)
    body = await r.json()
    assert r.status == 200 and body["state"] == "unlocked" and body["unlocked_by"] == ["dana"]
    r = await view(env, seg.uid)
    assert r.status == 200 and r.headers["Content-Type"] == "video/mp4"
    assert (await r.read())[4:8] == b"ftyp"
    r = await env.post("dana", "/api/v1/keys/lock")
    assert r.status == 200 and (await r.json())["state"] == "locked"
    r = await view(env, seg.uid)
    assert r.status == 423 and LOCKED in (await r.json())["error"]["message"]
    metrics = (await (await env.client.get("/metrics", headers=env.h("adm"))).read()).decode()
    assert "footage_key_unlocked 0.0" in metrics
    log = await actions(env)
    assert log.count("keys.unlock") == 1 and log.count("keys.lock") == 1
    assert log.count("segment.view") == 1


async def test_the_key_locks_itself_when_idle_and_at_its_absolute_limit(sealed):
    env = sealed
    seg = await env.ingest("lobby", T0 - 60 * US)
    await unlock(env)
    env.clock.advance(9 * 60)
    assert (await view(env, seg.uid)).status == 200  # a use restarts the idle time
    env.clock.advance(9 * 60)
    assert (await view(env, seg.uid)).status == 200
    env.clock.advance(10 * 60 + 1)                   # unused for longer than unlock_idle
    assert (await view(env, seg.uid)).status == 423
    entries = await env.svc.catalog.read(lambda db: list(audit_log.entries(db)))
    auto = [e for e in entries if e.action == "keys.lock"]
    assert auto and auto[-1].actor == "system" and json.loads(auto[-1].detail)["why"] == "idle"

    await unlock(env)
    for _ in range(7):                               # used every 9 minutes for 63 minutes
        env.clock.advance(9 * 60)
        status = (await view(env, seg.uid)).status
    assert status == 423, "unlock_max (1h) ends a session however busy it is"
    entries = await env.svc.catalog.read(lambda db: list(audit_log.entries(db)))
    assert json.loads([e for e in entries if e.action == "keys.lock"][-1].detail)["why"] == "limit"


async def test_wrong_passphrase_is_refused_rate_limited_and_audited(sealed):
    env = sealed
    r = await unlock(env, passphrase="not the passphrase at all")
    assert r.status == 403 and (await r.json())["error"]["code"] == "bad_passphrase"
    r = await unlock(env)                            # even the right one, too soon
    assert r.status == 429 and r.headers["Retry-After"] == "1"
    assert env.svc.keyring.session is None
    env.clock.advance(1)
    assert (await unlock(env, passphrase="still not the passphrase")).status == 403
    env.clock.advance(1)
    r = await unlock(env)
    assert r.status == 429 and r.headers["Retry-After"] == "1", "the back-off doubles: 2 s"
    env.clock.advance(1)
    assert (await unlock(env)).status == 200
    log = await actions(env)
    assert log.count("keys.unlock_failed") == 2 and log.count("keys.unlock_refused") == 2
    metrics = (await (await env.client.get("/metrics", headers=env.h("adm"))).read()).decode()
    assert "footage_key_unlock_failures_total 2.0" in metrics
    assert "footage_key_unlocked 1.0" in metrics
    assert log[-1] == "keys.unlock"
    entries = await env.svc.catalog.read(lambda db: list(audit_log.entries(db)))
    assert all("passphrase" not in (e.detail or "") and "passphrase" not in e.reason
               for e in entries if e.action.startswith("keys."))
    # After a success the count starts again: one wrong attempt waits 1 s, not 4.
    await env.post("dana", "/api/v1/keys/lock")
    await unlock(env, passphrase="wrong once more, sorry")
    env.clock.advance(1)
    assert (await unlock(env)).status == 200
    # Roles: only directors unlock or lock; anyone signed in may see the status.
    for who in ("sam", "aud", "adm"):
        r = await env.post(who, "/api/v1/keys/unlock", {"passphrase": "x" * 20})
        assert r.status == 403
        assert (await env.post(who, "/api/v1/keys/lock")).status == 403


async def test_the_back_off_survives_a_restart(aiohttp_client, tmp_path):
    settings = sealed_settings(tmp_path)
    enroll(settings)
    clock = FakeClock(T0)
    env = await start(aiohttp_client, settings, clock)
    for wait in (1, 2, 0):                           # three wrong: the next waits 4 s
        assert (await unlock(env, passphrase="a wrong passphrase here")).status == 403
        clock.advance(wait)
    await env.client.close()
    env = await start(aiohttp_client, settings, clock)
    r = await unlock(env)
    assert r.status == 429, "restarting the gateway must not reset the back-off"
    clock.advance(4)
    assert (await unlock(env)).status == 200


async def test_m_of_n_needs_m_distinct_directors(aiohttp_client, tmp_path):
    settings = sealed_settings(tmp_path, unlock_quorum=2)
    enroll(settings)
    env = await start(aiohttp_client, settings, FakeClock(T0))
    seg = await env.ingest("lobby", T0 - 60 * US)
    r = await unlock(env, "dana")
    assert r.status == 202 and (await r.json())["need"] == 1
    r = await unlock(env, "dana")                    # the same director twice is still one
    assert r.status == 202 and (await r.json())["given_by"] == ["dana"]
    assert (await view(env, seg.uid)).status == 423
    r = await unlock(env, "dee")
    body = await r.json()
    assert r.status == 200 and body["unlocked_by"] == ["dana", "dee"]
    assert (await view(env, seg.uid)).status == 200
    # One share on its own does not open the epoch key: 2-of-2 shares differ from the key.
    epoch = env.svc.keyring.epoch(env.svc.keyring.current_id)
    assert epoch.quorum == 2 and len(epoch.slots) == 2
    # A share left waiting is dropped after unlock_idle (and audited).
    await env.post("dana", "/api/v1/keys/lock")
    await unlock(env, "dana")
    env.clock.advance(10 * 60 + 1)
    r = await unlock(env, "dee")
    assert r.status == 202 and (await r.json())["given_by"] == ["dee"]


# ------------------------------------------------------------------ the locked gateway's normal life


async def test_purges_stay_on_time_and_old_epochs_are_destroyed_while_locked(sealed):
    env = sealed
    keys = env.svc.keyring
    first = keys.current_id
    old = await env.ingest("lobby", T0 - 600 * US)
    env.clock.advance(590)                           # deadlines run from receipt (issue 10)
    rotated = await rotate_keys(env.svc)            # a new epoch, made while locked
    assert rotated["kek"] != first and rotated["rewrapped"] == 0
    new = await env.ingest("lobby", T0 - 10 * US, seed=1)
    row = await env.svc.catalog.run(seg_sql.get_data_key, new.id)
    assert row.kek_id == rotated["kek"]
    assert (keys.epochs_dir / f"{first}.epoch").exists(), "the old epoch still has a segment"

    env.clock.advance(RETENTION_S - 300)             # past the first segment's deadline only
    out = await purge_once(env.svc)
    assert [s.uid for s in out.destroyed] == [old.uid] and keys.session is None
    assert await env.svc.catalog.run(seg_sql.get_data_key, old.id) is None
    assert await retire_keks(env.svc) == [first]
    assert not (keys.epochs_dir / f"{first}.epoch").exists()
    assert (keys.epochs_dir / f"{rotated['kek']}.epoch").exists()
    env.clock.advance(300)
    assert [s.uid for s in (await purge_once(env.svc)).destroyed] == [new.uid]


async def test_rotation_while_unlocked_rewraps_kept_keys_to_the_new_epoch(sealed):
    env = sealed
    seg = await env.ingest("lobby", T0 - 60 * US)
    await unlock(env)
    first = env.svc.keyring.current_id
    out = await rotate_keys(env.svc)
    assert out["rewrapped"] == 1
    env.clock.advance(300)
    assert (await view(env, seg.uid)).status == 200
    env.clock.advance(301)                           # past the retirement grace (10 min)
    assert await retire_keks(env.svc) == [first]
    assert (await view(env, seg.uid)).status == 200, "the new epoch's key joined the session"


async def test_export_while_locked_is_refused_with_a_clear_message(sealed):
    from holds_env import EXPORT, active_hold, build
    env = sealed
    hold, segs = await active_hold(env)
    status, body = await build(env, hold["id"])
    assert (status, body["error"]["message"]) == (423, LOCKED)
    log = await actions(env)
    assert "export.create" not in log
    await unlock(env)
    status, body = await build(env, hold["id"])
    assert status == 201 and body["clips"] == len(segs), body
    assert EXPORT["reference"] == body["reference"]


async def test_startup_refuses_sealed_mode_without_directors_or_over_ring_keys(aiohttp_client,
                                                                               tmp_path):
    settings = sealed_settings(tmp_path)
    with pytest.raises(ConfigError, match="enrolled director"):
        await aiohttp_client(create_app(settings, clock=FakeClock(T0), run_loops=False))
    ring = await start(aiohttp_client, sealed_settings(tmp_path, mode="ring"), FakeClock(T0))
    await ring.ingest("lobby", T0 - 60 * US)
    await ring.client.close()
    enroll(settings)
    with pytest.raises(ConfigError, match="keys migrate --to sealed"):
        await aiohttp_client(create_app(settings, clock=FakeClock(T0), run_loops=False))



async def test_a_readable_key_file_stops_the_gateway(aiohttp_client, tmp_path):
    settings = sealed_settings(tmp_path)
    enroll(settings, ("dana",))
    path = settings.sealed_path / "directors" / "dana.key"
    path.chmod(0o644)
    with pytest.raises(ConfigError, match=r"dana.key has mode 0644.*chmod 600"):
        await aiohttp_client(create_app(settings, clock=FakeClock(T0), run_loops=False))


async def test_the_loop_locks_an_idle_key_without_any_request_and_at_shutdown(aiohttp_client,
                                                                             tmp_path):
    from gateway.catalog import Catalog
    settings = sealed_settings(tmp_path)
    enroll(settings, ("dana",))
    clock = FakeClock(T0)
    app = create_app(settings, clock=clock, run_loops=True)  # as `serve` runs it
    client = await aiohttp_client(app)
    svc = app[RUNTIME]
    await users.add_user(svc.catalog, clock, "dana", "director", None, Actor("root", "operator"))
    token = await users.issue_token(svc.catalog, clock, "dana", Actor("root", "operator"))
    h = {"Authorization": f"Bearer {token}"}

    async def settle(until) -> None:
        for _ in range(400):
            if until():
                return
            await asyncio.sleep(0.01)
        raise AssertionError("the loop did not get there")

    def last_lock():
        entries = [e for e in svc_entries() if e.action == "keys.lock"]
        return entries[-1] if entries else None

    def svc_entries():
        db = Catalog.open(settings.catalog_path)
        try:
            return list(audit_log.entries(db))
        finally:
            db.close()

    assert (await client.post("/api/v1/keys/unlock", json={"passphrase": PASS["dana"]},
                              headers=h)).status == 200
    await settle(lambda: clock.sleepers >= 4)        # purge, stats, key epochs, unlock expiry
    clock.advance(9 * 60)
    await asyncio.sleep(0.1)
    assert svc.keyring.session is not None, "not idle long enough yet"
    clock.advance(60 + 15)                           # past unlock_idle: the next expiry tick
    await settle(lambda: last_lock() is not None)    # the audit entry is written after the drop
    assert svc.keyring.session is None
    lock = last_lock()
    assert (lock.actor, json.loads(lock.detail)["why"]) == ("system", "idle")

    assert (await client.post("/api/v1/keys/unlock", json={"passphrase": PASS["dana"]},
                              headers=h)).status == 200
    await client.close()                             # the server stops while unlocked
    lock = last_lock()
    assert (lock.actor, json.loads(lock.detail)["why"]) == ("system", "shutdown")


async def test_a_director_enrolled_after_the_epoch_holds_no_share(aiohttp_client, tmp_path):
    settings = sealed_settings(tmp_path)
    enroll(settings, ("dana",))
    env = await start(aiohttp_client, settings, FakeClock(T0))
    seg = await env.ingest("lobby", T0 - 60 * US)
    enroll(settings, ("dee",))                       # joins after the first epoch
    r = await unlock(env, "dee")
    assert r.status == 409 and (await r.json())["error"]["code"] == "no_share"
    await rotate_keys(env.svc)                      # the next epoch includes dee
    assert (await unlock(env, "dee")).status == 200
    r = await view(env, seg.uid)                     # but not the old epoch's segment
    assert r.status == 423 and "not unlocked in this session" in (await r.json())["error"]["message"]
    await env.post("dana", "/api/v1/keys/lock")
    assert (await unlock(env, "dana")).status == 200
    assert (await view(env, seg.uid)).status == 200
