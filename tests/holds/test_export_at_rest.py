"""Export packages hold no plaintext footage at rest, and the CLI writes only where told.

They used to sit in STORAGE/exports as plain (masked) MP4 in a zip for up to
24 h, and ``export create --out`` copied first and chmod'ed after, through any
symlink at the destination (issue 10, 8).
"""

from __future__ import annotations

import asyncio
import io
import os
import zipfile
from pathlib import Path

from click.testing import CliRunner

from gateway.app import create_app
from gateway.cli import main
from gateway.clock import SystemClock
from gateway.holds import exports as ex
from gateway.holds import package as pkg
from gateway.segments.read import read_plaintext
from holds_env import active_hold, build


async def test_the_package_on_disk_is_sealed_and_the_download_decrypts_it(env, tmp_path):
    hold, segs = await active_hold(env)
    status, export = await build(env, hold["id"])
    assert status == 201
    at_rest = ex.export_path(env.svc, export["id"]).read_bytes()
    assert b"PK\x03\x04" not in at_rest and b"ftyp" not in at_rest and b"manifest" not in at_rest
    _, clip = await read_plaintext(env.svc, segs[0].uid)
    assert clip[:4096] not in at_rest
    r = await env.client.get(export["download"], headers=env.h("dana"))
    assert r.status == 200
    body = await r.read()
    with zipfile.ZipFile(io.BytesIO(body)) as z:
        assert any(clip == z.read(n) for n in z.namelist() if n.endswith(".mp4"))
    z = tmp_path / "p.zip"
    z.write_bytes(body)
    assert pkg.verify_package(z).ok


async def test_after_a_restart_the_undecryptable_package_is_deleted_and_gone(
        env, aiohttp_client):
    hold, _ = await active_hold(env)
    _, export = await build(env, hold["id"])
    path = ex.export_path(env.svc, export["id"])
    await env.client.close()  # the gateway stops: the package's key is gone with it
    app = create_app(env.svc.settings, clock=env.clock, run_loops=False)
    client = await aiohttp_client(app)
    assert not path.exists()
    r = await client.get(export["download"], headers=env.h("dana"))
    assert r.status == 410
    await client.close()


def _config(env, tmp_path: Path) -> Path:
    s = env.svc.settings
    cams = "".join(f'[[cameras]]\nid = "{c.id}"\nname = "{c.name}"\npolicy = "{c.policy}"\n'
                   f'zone = "{c.zone}"\npurpose = "{c.purpose}"\n'
                   f'push_token = "{c.push_token.get_secret_value()}"\n' for c in s.cameras)
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'policies_dir = "{s.policies_dir}"\n[storage]\npath = "{s.storage.path}"\n'
                   + cams)
    return cfg


async def test_export_create_out_refuses_a_symlink_and_writes_0600(env, tmp_path):
    env.clock.t = SystemClock().now_us()  # the CLI reads the real clock
    hold, _ = await active_hold(env, base=env.clock.t)
    cfg = _config(env, tmp_path)
    victim = tmp_path / "victim.zip"
    link = tmp_path / "out.zip"
    link.symlink_to(victim)  # dangling: `exists()` says False, a copy would follow it
    args = ["export", "create", str(hold["id"]), "--as", "dana", "--ground", "court_order",
            "--reference", "CO-2024-117", "--recipient", "law_enforcement", "--counsel", "J. Doe",
            "--reason", "order served", "--config", str(cfg), "--out"]
    r = await asyncio.to_thread(CliRunner().invoke, main, args + [str(link)])
    assert r.exit_code == 1 and "already exists" in r.output
    assert not victim.exists()
    old = os.umask(0)  # the file must be private whatever the umask
    try:
        out = tmp_path / "new.zip"
        r = await asyncio.to_thread(CliRunner().invoke, main, args + [str(out)])
    finally:
        os.umask(old)
    assert r.exit_code == 0, r.output
    assert os.stat(out).st_mode & 0o777 == 0o600
    assert pkg.verify_package(out).ok
