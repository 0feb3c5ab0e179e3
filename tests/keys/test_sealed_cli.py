"""Sealed mode from the shell: enroll, migrate there and back (re-wrap only, with a dry run),
and unlock / status / lock against the running gateway's API."""

from __future__ import annotations

import asyncio
import hashlib
import socket
from pathlib import Path

from click.testing import CliRunner

from gateway.users import service as users
from gateway.app import create_app
from gateway.catalog import Catalog
from gateway.cli import main
from gateway.clock import US
from gateway.config import load_settings
from gateway.errors import Conflict
from gateway.models import Actor
from gateway.segments.ingest import ingest
from gateway.segments.read import read_plaintext
from gateway.web.appkeys import RUNTIME

from holds_env import POLICY, clip
from test_sealed_mode import FAST_KDF, PASS

RUNNER = CliRunner()
KDF_ARGS = ["--kdf-time-cost", str(FAST_KDF["time_cost"]), "--kdf-memory-kib",
            str(FAST_KDF["memory_kib"]), "--kdf-parallelism", str(FAST_KDF["parallelism"])]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_config(tmp: Path, mode: str, port: int, quorum: int = 1) -> str:
    (tmp / "policies").mkdir(exist_ok=True)
    (tmp / "policies" / "test-policy.toml").write_text(POLICY)
    cfg = tmp / "config.toml"
    cfg.write_text(f'policies_dir = "policies"\n[server]\nlisten = "127.0.0.1:{port}"\n'
                   '[storage]\npath = "store"\nmin_free_bytes = 0\n'
                   f'[keys]\nmode = "{mode}"\nunlock_quorum = {quorum}\n'
                   '[[cameras]]\nid = "lobby"\nname = "Lobby"\npolicy = "test-policy"\n'
                   'zone = "entrance"\npurpose = "physical security"\n'
                   'push_token = "lobby-token-0123456789"\n')
    return str(cfg)


def secret_file(tmp: Path, name: str, text: str) -> str:
    p = tmp / name
    p.write_text(text + "\n")
    p.chmod(0o600)
    return str(p)


def cli(*args: str):
    return RUNNER.invoke(main, list(args), catch_exceptions=False)


def video_hashes(tmp: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in (tmp / "store" / "segments").rglob("*") if p.is_file()}


def wrapping_keys(tmp: Path) -> list[str]:
    db = Catalog.open(tmp / "store" / "catalog.sqlite3")
    try:
        return sorted(r[0] for r in db.conn.execute("SELECT kek_id FROM data_keys"))
    finally:
        db.close()


async def run_app(aiohttp_client, cfg: str):
    app = create_app(load_settings(cfg), run_loops=False)
    client = await aiohttp_client(app)
    return client, app[RUNTIME]


async def add_directors(svc) -> dict[str, str]:
    root, tokens = Actor("root", "operator"), {}
    for name in ("dana", "dee"):
        try:
            await users.add_user(svc.catalog, svc.clock, name, "director", None, root)
        except Conflict:
            pass
        tokens[name] = await users.issue_token(svc.catalog, svc.clock, name, root)
    return tokens


async def test_migration_there_and_back_keeps_every_segment_and_every_video_byte(
        aiohttp_client, tmp_path):
    port = free_port()
    cfg = write_config(tmp_path, "ring", port)
    client, svc = await run_app(aiohttp_client, cfg)
    await add_directors(svc)
    cam = svc.settings.camera("lobby")
    now = svc.clock.now_us()
    segs = [await ingest(svc, cam, clip(i), start_hint_us=now - (60 - i) * US) for i in range(3)]
    plain = {s.uid: (await read_plaintext(svc, s.uid))[1] for s in segs}
    await client.close()
    videos = video_hashes(tmp_path)
    assert len(videos) == 3 and all(k.startswith("kek-") for k in wrapping_keys(tmp_path))

    files = {n: secret_file(tmp_path, f"{n}.pass", PASS[n]) for n in ("dana", "dee")}
    for name in ("dana", "dee"):
        r = cli("keys", "enroll", "--config", cfg, "--director", name, "--passphrase-file",
                files[name], *KDF_ARGS)
        assert r.exit_code == 0, r.output
    sealed = tmp_path / "store" / "sealed"
    assert {oct(p.stat().st_mode & 0o777) for p in (sealed, sealed / "directors")} == {"0o700"}
    assert oct((sealed / "directors" / "dana.key").stat().st_mode & 0o777) == "0o600"
    r = cli("keys", "enroll", "--config", cfg, "--director", "dana", "--passphrase-file",
            files["dana"], *KDF_ARGS)
    assert r.exit_code == 1 and "already enrolled" in r.output

    r = cli("keys", "migrate", "--to", "sealed", "--config", cfg)
    assert r.exit_code == 1 and 'set keys.mode = "sealed"' in r.output
    cfg = write_config(tmp_path, "sealed", port)
    r = cli("keys", "migrate", "--to", "sealed", "--dry-run", "--config", cfg)
    assert r.exit_code == 0 and "3 data key(s) open and would be re-wrapped" in r.output, r.output
    assert (tmp_path / "store-keys" / "keyring").exists(), "a dry run changes nothing"
    assert all(k.startswith("kek-") for k in wrapping_keys(tmp_path))

    with socket.socket() as busy:  # something answers on server.listen: refuse
        busy.bind(("127.0.0.1", port))
        busy.listen()
        r = cli("keys", "migrate", "--to", "sealed", "--config", cfg)
        assert r.exit_code == 1 and "stop the gateway" in r.output
    r = cli("keys", "migrate", "--to", "sealed", "--config", cfg)
    assert r.exit_code == 0 and "re-wrapped 3 data key(s) to sealed" in r.output, r.output
    assert not (tmp_path / "store-keys" / "keyring").exists(), "the key ring must be destroyed"
    assert all(k.startswith("seal-") for k in wrapping_keys(tmp_path))
    assert video_hashes(tmp_path) == videos, "migration must not touch a byte of video"
    again = cli("keys", "migrate", "--to", "sealed", "--config", cfg)
    assert again.exit_code == 1 and "no key ring" in again.output

    client, svc = await run_app(aiohttp_client, cfg)
    tokens = await add_directors(svc)
    for s in segs:
        r = await client.get(f"/api/v1/segments/{s.uid}/video?reason=check",
                             headers={"Authorization": f"Bearer {tokens['dana']}"})
        assert r.status == 423
    r = await client.post("/api/v1/keys/unlock", json={"passphrase": PASS["dana"]},
                          headers={"Authorization": f"Bearer {tokens['dana']}"})
    assert r.status == 200
    assert {s.uid: (await read_plaintext(svc, s.uid))[1] for s in segs} == plain
    await client.close()

    cfg = write_config(tmp_path, "ring", port)
    r = cli("keys", "migrate", "--to", "ring", "--config", cfg, "--director", "dana",
            "--passphrase-file", files["dee"])
    assert r.exit_code == 1 and "wrong passphrase" in r.output
    r = cli("keys", "migrate", "--to", "ring", "--dry-run", "--config", cfg, "--director",
            "dana", "--passphrase-file", files["dana"])
    assert r.exit_code == 0 and "3 data key(s) open" in r.output
    r = cli("keys", "migrate", "--to", "ring", "--config", cfg, "--director", "dana",
            "--passphrase-file", files["dana"])
    assert r.exit_code == 0 and "re-wrapped 3 data key(s) to ring" in r.output, r.output
    assert not list((tmp_path / "store" / "sealed" / "epochs").glob("*.epoch"))
    assert all(k.startswith("kek-") for k in wrapping_keys(tmp_path))
    assert video_hashes(tmp_path) == videos
    client, svc = await run_app(aiohttp_client, cfg)
    assert {s.uid: (await read_plaintext(svc, s.uid))[1] for s in segs} == plain
    await client.close()


async def test_migration_to_ring_needs_the_quorum(aiohttp_client, tmp_path):
    port = free_port()
    cfg = write_config(tmp_path, "ring", port)
    client, svc = await run_app(aiohttp_client, cfg)
    await add_directors(svc)
    await client.close()
    files = {n: secret_file(tmp_path, f"{n}.pass", PASS[n]) for n in ("dana", "dee")}
    for name in ("dana", "dee"):
        assert cli("keys", "enroll", "--config", cfg, "--director", name, "--passphrase-file",
                   files[name], *KDF_ARGS).exit_code == 0
    cfg = write_config(tmp_path, "sealed", port, quorum=2)
    assert cli("keys", "migrate", "--to", "sealed", "--config", cfg).exit_code == 0
    cfg = write_config(tmp_path, "ring", port, quorum=2)
    r = cli("keys", "migrate", "--to", "ring", "--config", cfg, "--director", "dana",
            "--passphrase-file", files["dana"])
    assert r.exit_code == 1 and "2 distinct directors" in r.output
    r = cli("keys", "migrate", "--to", "ring", "--config", cfg, "--director", "dana",
            "--passphrase-file", files["dana"], "--director", "dee", "--passphrase-file",
            files["dee"])
    assert r.exit_code == 0, r.output


async def test_unlock_status_lock_from_the_shell(aiohttp_client, tmp_path):
    port = free_port()
    cfg = write_config(tmp_path, "ring", port)
    client, svc = await run_app(aiohttp_client, cfg)
    tokens = await add_directors(svc)
    await client.close()
    pw = secret_file(tmp_path, "dana.pass", PASS["dana"])
    assert cli("keys", "enroll", "--config", cfg, "--director", "dana", "--passphrase-file", pw,
               *KDF_ARGS).exit_code == 0
    cfg = write_config(tmp_path, "sealed", port)
    client, svc = await run_app(aiohttp_client, cfg)
    url = str(client.make_url("")).rstrip("/")
    token = secret_file(tmp_path, "token", tokens["dana"])
    wrong = secret_file(tmp_path, "wrong.pass", "not dana's passphrase")

    async def shell(*args):
        return await asyncio.to_thread(RUNNER.invoke, main, [*args, "--config", cfg, "--url",
                                                            url, "--token-file", token])
    r = await shell("keys", "status")
    assert r.exit_code == 0 and "sealed key: locked" in r.output
    r = await shell("keys", "unlock", "--passphrase-file", wrong)
    assert r.exit_code == 1 and "403: wrong passphrase for director dana" in r.output
    r = await shell("keys", "unlock", "--passphrase-file", pw)
    assert r.exit_code == 1 and "429" in r.output and "retry after 1 s" in r.output
    svc.clock = svc.keyring.clock = _Later(svc.clock, 2)
    r = await shell("keys", "unlock", "--passphrase-file", pw)
    assert r.exit_code == 0 and "sealed key: unlocked by dana" in r.output, r.output
    r = await shell("keys", "status")
    assert "unlocked by dana" in r.output and "locks by" in r.output
    r = await shell("keys", "lock")
    assert r.exit_code == 0 and "sealed key: locked" in r.output
    assert PASS["dana"] not in r.output


class _Later:
    """The system clock, moved forward (the back-off waits on the injected clock)."""

    def __init__(self, clock, seconds: float) -> None:
        self.clock, self.offset = clock, int(seconds * US)

    def now_us(self) -> int:
        return self.clock.now_us() + self.offset


async def test_an_interrupted_migration_is_finished_by_running_it_again(aiohttp_client, tmp_path,
                                                                       monkeypatch):
    from gateway.catalog import segments as seg_sql
    from gateway.errors import ConfigError
    from gateway.keys import migrate as mig
    from gateway.cli.common import cli_actor

    port = free_port()
    cfg = write_config(tmp_path, "ring", port)
    client, svc = await run_app(aiohttp_client, cfg)
    await add_directors(svc)
    now = svc.clock.now_us()
    segs = [await ingest(svc, svc.settings.camera("lobby"), clip(i),
                             start_hint_us=now - (60 - i) * US) for i in range(3)]
    plain = {s.uid: (await read_plaintext(svc, s.uid))[1] for s in segs}
    await client.close()
    pw = secret_file(tmp_path, "dana.pass", PASS["dana"])
    assert cli("keys", "enroll", "--config", cfg, "--director", "dana", "--passphrase-file", pw,
               *KDF_ARGS).exit_code == 0
    cfg = write_config(tmp_path, "sealed", port)
    real, calls = seg_sql.replace_wrapped, []

    def power_cut_on_second_batch(db, updates):
        calls.append(len(updates))
        if len(calls) == 2:
            raise OSError("power cut")
        real(db, updates)
    monkeypatch.setattr(mig, "BATCH", 1)
    monkeypatch.setattr(seg_sql, "replace_wrapped", power_cut_on_second_batch)
    try:
        mig.migrate(load_settings(cfg), "sealed", dry_run=False, actor=cli_actor())
    except OSError:
        pass
    else:
        raise AssertionError("the injected failure did not happen")
    monkeypatch.setattr(seg_sql, "replace_wrapped", real)
    kinds = [k.split("-")[0] for k in wrapping_keys(tmp_path)]
    assert sorted(kinds) == ["kek", "kek", "seal"]
    assert (tmp_path / "store-keys" / "keyring").exists(), "the ring goes only when nothing needs it"
    try:  # half-migrated: the gateway refuses to start and says what to run
        await run_app(aiohttp_client, cfg)
    except ConfigError as err:
        assert "keys migrate --to sealed" in err.message
    else:
        raise AssertionError("started over ring-wrapped keys in sealed mode")
    r = cli("keys", "migrate", "--to", "sealed", "--config", cfg)
    assert r.exit_code == 0 and "re-wrapped 2 data key(s)" in r.output, r.output
    assert not (tmp_path / "store-keys" / "keyring").exists()
    client, svc = await run_app(aiohttp_client, cfg)
    tokens = await add_directors(svc)
    r = await client.post("/api/v1/keys/unlock", json={"passphrase": PASS["dana"]},
                          headers={"Authorization": f"Bearer {tokens['dana']}"})
    assert r.status == 200
    assert {s.uid: (await read_plaintext(svc, s.uid))[1] for s in segs} == plain
    await client.close()
    r = cli("check", "--config", cfg)
    assert r.exit_code == 0 and "3 segments, 3 files, 0 problems" in r.output, r.output
