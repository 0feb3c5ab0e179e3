"""``footage-gateway demo``: an embedded default a new user can watch work.

SQLite catalog, local storage and a generated key ring under DIR, one
simulated camera (a reading room: shelves and a public computer in view) that
pushes a synthetic H.264 segment every few seconds over the real HTTP push
API, and a demonstration policy that destroys footage 30 seconds after it
ends. Logins are printed. Nothing here is used by ``serve``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import signal
from pathlib import Path

import aiohttp
from aiohttp import web

from .app import create_app
from .catalog import Catalog
from .catalog import users as users_sql
from .clock import SystemClock, iso
from .config import load_settings
from .media import synth
from .policy_check import check as check_policies
from .web.accesslog import PrivateAccessLogger

log = logging.getLogger("gateway.demo")

CAMERA = "reading-room"
DEMO_POLICY = "demo"

CONFIG = """\
# footage-gateway demo configuration (written by `footage-gateway demo`).
# A real deployment: see deploy/config.example.toml and README.md.
[server]
listen = "127.0.0.1:{port}"

[storage]
path = "data"            # ciphertext segments + catalog.sqlite3 (+ keyring)

[library]
name = "Demo Public Library"
contact = "the library director (director@example.org)"

[[cameras]]
id = "{camera}"
name = "Reading room"
policy = "{policy}"
zone = "reading_area"
purpose = "physical security of the reading room"
push_token_file = "{camera}.token"

[[cameras.masks]]
zone = "shelves"
polygon = {shelf}
mode = "fill"

[[cameras.masks]]
zone = "screen"
polygon = {screen}
mode = "pixelate"
"""


def _poly(p) -> str:
    return "[" + ", ".join(f"[{x}, {y}]" for x, y in p) + "]"


def prepare(directory: Path, port: int) -> Path:
    """Write config, token and policy choice under DIR (kept across runs)."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    cfg = directory / "config.toml"
    token = directory / f"{CAMERA}.token"
    if not token.exists():
        fd = os.open(token, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.write(fd, secrets.token_urlsafe(32).encode())
        os.close(fd)
    cfg.write_text(CONFIG.format(port=port, camera=CAMERA, policy=DEMO_POLICY,
                                 shelf=_poly(synth.SHELF_REGION), screen=_poly(synth.SCREEN_REGION)))
    return cfg


def ensure_users(settings) -> dict[str, str]:
    """One login per role; returns name -> fresh API token (printed for the user)."""
    db = Catalog.open(settings.catalog_path)
    now = SystemClock().now_us()
    out = {}
    try:
        for name, role in (("director", "director"), ("staff", "staff"), ("auditor", "auditor")):
            row = users_sql.get_user(db, name)
            uid = row[0] if row else users_sql.add_user(db, name, role, None, now)
            token = secrets.token_urlsafe(32)
            users_sql.add_token(db, uid, token, now)
            out[name] = token
    finally:
        db.close()
    return out


async def camera_loop(base: str, token: str, interval: float, first_png: Path | None) -> None:
    """The simulated camera: encode a 2 s segment, push it, repeat."""
    loop = asyncio.get_running_loop()
    n = 0
    async with aiohttp.ClientSession() as http:
        while True:
            start = iso(SystemClock().now_us() - 2_000_000)
            data = await loop.run_in_executor(None, lambda: synth.make_segment(
                2.0, 15, 640, 360, start_text=start, seed=n))
            async with http.post(f"{base}/api/v1/cameras/{CAMERA}/segments", data=data,
                                 headers={"Authorization": f"Bearer {token}",
                                          "Content-Type": "video/mp4",
                                          "X-Segment-Start": start}) as resp:
                body = await resp.json()
            if resp.status == 201:
                log.info("camera pushed %d bytes -> stored %s (masked, sealed: %d bytes); "
                         "destroyed at %s", len(data), body["id"], body["bytes"], body["deadline"])
            else:
                log.warning("camera push refused: %s %s", resp.status, body)
            n += 1
            await asyncio.sleep(interval)


async def _main(directory: Path, port: int, interval: float, duration: float | None) -> None:
    cfg = prepare(directory, port)
    settings = load_settings(cfg)
    violations = check_policies(settings)
    if violations:  # the demo follows the same rules as `serve`
        raise SystemExit("demo config breaks its policy:\n" + "\n".join(map(str, violations)))
    app = create_app(settings)
    runner = web.AppRunner(app, access_log_class=PrivateAccessLogger)
    await runner.setup()  # opens catalog + key ring (created 0600 on first start)
    tokens = ensure_users(settings)
    site = web.TCPSite(runner, settings.server.host, settings.server.port)
    await site.start()
    base = f"http://{settings.server.host}:{settings.server.port}"
    print(f"""
footage-gateway demo on {base}
  data (ciphertext only):   {settings.storage_path}
  key ring (0600):          {settings.keyring_path}
  public notice (no login): {base}/notice
  metrics:                  curl -H 'Authorization: Bearer <token>' {base}/metrics
  API tokens (one per role; also in {directory / 'tokens.txt'}):""")
    lines = [f"    {name:9s} {tok}" for name, tok in tokens.items()]
    print("\n".join(lines))
    tf = directory / "tokens.txt"
    tf.touch(mode=0o600)
    tf.write_text("\n".join(f"{n} {t}" for n, t in tokens.items()) + "\n")
    print(f"""  camera '{CAMERA}' pushes a segment every {interval:g} s: shelves are filled,
  the public screen pixelated, then each segment is encrypted and destroyed
  30 s after it ends (demo policy). Watch the log; Ctrl-C stops.
""")
    token = (directory / f"{CAMERA}.token").read_text().strip()
    cam = asyncio.create_task(camera_loop(base, token, interval, None))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await asyncio.wait_for(stop.wait(), timeout=duration)
    except asyncio.TimeoutError:
        pass
    cam.cancel()
    await runner.cleanup()


def run_demo(directory: Path, port: int, interval: float, duration: float | None) -> None:
    logging.getLogger().setLevel(logging.INFO)
    asyncio.run(_main(directory, port, interval, duration))
