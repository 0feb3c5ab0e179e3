"""``footage-gateway demo``: an embedded default a new user can watch work.

SQLite catalog, local storage and a generated key ring under DIR, one
simulated camera (a reading room: shelves and a public computer in view) and
a demonstration policy that destroys footage 30 seconds after it ends. When
GStreamer's RTSP server is installed (scripts/install-system-deps.sh) the
camera is a real RTSP server (scripts/rtsp-camera.py) that the gateway pulls,
as it pulls an IP camera; otherwise the camera pushes a synthetic H.264
segment every few seconds over the real HTTP push API. Logins are printed.
Nothing here is used by ``serve``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import signal
import socket
import subprocess
from pathlib import Path

import aiohttp
from aiohttp import web

from .app import RTSP_PULLERS, create_app
from .catalog import users as users_sql
from .clock import SystemClock, iso
from .config import load_settings
from .media import synth
from .media.simloop import write_loop
from .models import OPERATOR_ROLE, Actor
from .policy.check import check as check_policies
from .users.service import add_user, issue_token, set_password
from .vault.keyring import move_legacy_ring
from .web.accesslog import PrivateAccessLogger
from .web.appkeys import CATALOG, CLOCK

log = logging.getLogger("gateway.demo")

CAMERA = "reading-room"
DEMO_POLICY = "demo"

CONFIG = """\
# footage-gateway demo configuration (written by `footage-gateway demo`).
# A real deployment: see deploy/config.example.toml and README.md.
[server]
listen = "127.0.0.1:{port}"

[storage]
path = "data"            # ciphertext segments + catalog.sqlite3

[keys]
path = "keys/keyring"    # never beside the footage: a copy of data/ alone decrypts nothing

[rtsp]
segment_seconds = {segment}

[library]
name = "Demo Public Library"
contact = "the library director (director@example.org)"
timezone = "UTC"         # IANA name, e.g. "America/Chicago": pages and reports show local time

[[cameras]]
id = "{camera}"
name = "Reading room"
policy = "{policy}"
zone = "reading_area"
purpose = "physical security of the reading room"
{source}

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


def prepare(directory: Path, port: int, rtsp_url: str | None = None,
            segment_seconds: int = 4) -> Path:
    """Write config, token and policy choice under DIR (kept across runs)."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    # Demo dirs made by early releases kept the ring in data/: move it where the config says.
    move_legacy_ring(directory / "data" / "keyring", directory / "keys" / "keyring")
    cfg = directory / "config.toml"
    token = directory / f"{CAMERA}.token"
    if not token.exists():
        fd = os.open(token, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.write(fd, secrets.token_urlsafe(32).encode())
        os.close(fd)
    source = (f'rtsp_url = "{rtsp_url}"    # the simulated RTSP camera' if rtsp_url
              else f'push_token_file = "{CAMERA}.token"')
    cfg.write_text(CONFIG.format(port=port, camera=CAMERA, policy=DEMO_POLICY, source=source,
                                 segment=segment_seconds, shelf=_poly(synth.SHELF_REGION),
                                 screen=_poly(synth.SCREEN_REGION)))
    return cfg


async def ensure_users(app: web.Application, directory: Path) -> dict[str, str]:
    """One login per role; name -> API token (kept in DIR/tokens.txt across restarts)."""
    db, clock = app[CATALOG], app[CLOCK]
    saved = directory / "tokens.txt"
    if saved.exists():
        tokens = dict(line.split(" ", 1) for line in saved.read_text().split("\n") if " " in line)
        # (An ``all(await ... for ...)`` here was an async generator, which
        # all() cannot iterate: the second start of the demo crashed.)
        valid = [await db.run(users_sql.identity_for_token, t, clock.now_us())
                 for t in tokens.values()]
        if len(tokens) == 3 and all(valid):
            return tokens
    demo = Actor("demo", OPERATOR_ROLE)  # the host's shell, like the users CLI
    tokens = {}
    for name in ("director", "staff", "auditor"):
        if await db.run(users_sql.get_user, name) is None:
            await add_user(db, clock, name, name, None, demo)  # the password comes below
        tokens[name] = await issue_token(db, clock, name, demo)
    fd = os.open(saved, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write("".join(f"{n} {t}\n" for n, t in tokens.items()))
    return tokens


DEMO_ROLES = ("director", "staff", "auditor", "admin")


async def ensure_logins(app: web.Application, directory: Path) -> dict[str, str]:
    """A web sign-in per role (user name = role); name -> password, kept in DIR/logins.txt."""
    db, clock = app[CATALOG], app[CLOCK]
    saved = directory / "logins.txt"
    logins: dict[str, str] = {}
    if saved.exists():
        logins = dict(line.split(" ", 1) for line in saved.read_text().split("\n") if " " in line)
    demo = Actor("demo", OPERATOR_ROLE)
    changed = False
    for role in DEMO_ROLES:
        if role in logins and await db.run(users_sql.get_user, role) is not None:
            continue
        logins[role] = secrets.token_urlsafe(12)  # 16 characters
        if await db.run(users_sql.get_user, role) is None:
            await add_user(db, clock, role, role, logins[role], demo)
        else:
            await set_password(db, clock, role, logins[role], demo)
        changed = True
    if changed:
        fd = os.open(saved, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write("".join(f"{n} {p}\n" for n, p in logins.items()))
    return logins


async def camera_loop(base: str, token: str, interval: float, director_token: str) -> None:
    """The simulated camera: every ``interval`` seconds, push the segment just recorded."""
    loop = asyncio.get_running_loop()
    n = 0
    async with aiohttp.ClientSession() as http:
        while True:
            start = iso(SystemClock().now_us() - int(interval * 1_000_000))
            data = await loop.run_in_executor(None, lambda: synth.make_segment(
                interval, 15, 640, 360, start_text=start, seed=n))
            async with http.post(f"{base}/api/v1/cameras/{CAMERA}/segments", data=data,
                                 headers={"Authorization": f"Bearer {token}",
                                          "Content-Type": "video/mp4",
                                          "X-Segment-Start": start}) as resp:
                body = await resp.json()
            if resp.status == 201 and n == 0:
                print(f"\n  See what was stored (decrypted for you, masked as stored; the view "
                      f"is audited):\n  curl -H 'Authorization: Bearer {director_token}' "
                      f"'{base}/api/v1/segments/{body['id']}/video?reason=demo' -o masked.mp4"
                      "\n", flush=True)
            if resp.status == 201:
                log.info("camera pushed %d bytes -> stored %s (masked, sealed: %d bytes); "
                         "to be destroyed at %s", len(data), body["id"], body["bytes"],
                         body["deadline"])
            else:
                log.warning("camera push refused: %s %s", resp.status, body)
            n += 1
            await asyncio.sleep(interval)


SIMULATOR = Path(__file__).resolve().parents[1] / "scripts" / "rtsp-camera.py"
SYSTEM_PYTHON = "/usr/bin/python3"


def rtsp_simulator_missing() -> str | None:
    """Why the RTSP camera simulator cannot run here, or None."""
    if not SIMULATOR.exists():
        return f"{SIMULATOR} is not here (not a source checkout)"
    probe = ("import gi; gi.require_version('Gst', '1.0'); "
             "gi.require_version('GstRtspServer', '1.0'); "
             "from gi.repository import GstRtspServer")
    try:
        r = subprocess.run([SYSTEM_PYTHON, "-c", probe], capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as err:
        return f"{SYSTEM_PYTHON}: {err}"
    return None if r.returncode == 0 else "GStreamer's RTSP server is not installed"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_rtsp_camera(directory: Path) -> tuple[subprocess.Popen, str]:
    """The simulated camera: the demo scene served over RTSP; (process, URL)."""
    loop_file = directory / "camera-scene.h264"  # synthetic: nobody is in it
    if not loop_file.exists():
        write_loop(loop_file, 4.0, 15, 640, 360, seed=1)
    port = _free_port()
    proc = subprocess.Popen([SYSTEM_PYTHON, str(SIMULATOR), "--port", str(port), "--mount",
                             f"{CAMERA}={loop_file}"], stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline() if proc.stdout else ""
    if not line.startswith("ready"):
        proc.terminate()
        raise RuntimeError(f"the RTSP camera simulator did not start: {line!r}")
    return proc, f"rtsp://127.0.0.1:{port}/{CAMERA}"


async def rtsp_camera_log(app: web.Application, base: str, director_token: str) -> None:
    """Log each segment the gateway stored from the RTSP camera, as the push camera does."""
    puller = app[RTSP_PULLERS][0]
    seen = 0
    while True:
        try:
            await puller.wait_for(lambda p: len(p.stored) > seen, 60)
        except TimeoutError:
            continue  # the puller logs why it records nothing
        for row in puller.stored[seen:]:
            if seen == 0:
                print(f"\n  See what was stored (decrypted for you, masked as stored; the view "
                      f"is audited):\n  curl -H 'Authorization: Bearer {director_token}' "
                      f"'{base}/api/v1/segments/{row.uid}/video?reason=demo' -o masked.mp4"
                      "\n", flush=True)
            log.info("camera streamed %.1f s over RTSP -> stored %s (masked, sealed: %d bytes); "
                     "to be destroyed at %s", (row.end_us - row.start_us) / 1e6, row.uid,
                     row.bytes, iso(row.deadline_us))
            seen += 1


async def _main(directory: Path, port: int, interval: float, duration: float | None) -> None:
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    missing = rtsp_simulator_missing()
    sim: subprocess.Popen | None = None
    rtsp_url = None
    if missing is None:
        sim, rtsp_url = start_rtsp_camera(directory)
    else:
        log.info("no RTSP camera simulator (%s); the camera pushes segments instead", missing)
    try:
        await _serve(directory, port, interval, duration, rtsp_url)
    finally:
        if sim is not None:
            sim.send_signal(signal.SIGTERM)
            sim.wait(10)


async def _serve(directory: Path, port: int, interval: float, duration: float | None,
                 rtsp_url: str | None) -> None:
    cfg = prepare(directory, port, rtsp_url, max(1, round(interval)))
    settings = load_settings(cfg)
    violations = check_policies(settings)
    if violations:  # the demo follows the same rules as `serve`
        raise SystemExit("demo config breaks its policy:\n" + "\n".join(map(str, violations)))
    app = create_app(settings)
    runner = web.AppRunner(app, access_log_class=PrivateAccessLogger)
    await runner.setup()  # opens catalog + key ring (created 0600 on first start)
    tokens = await ensure_users(app, directory)
    logins = await ensure_logins(app, directory)
    site = web.TCPSite(runner, settings.server.host, settings.server.port)
    try:
        await site.start()
    except OSError as err:
        await runner.cleanup()
        raise SystemExit(f"cannot listen on {settings.server.listen}: {err.strerror or err} "
                         "(is another demo running? try --port)") from None
    base = f"http://{settings.server.host}:{settings.server.port}"
    print(f"""
footage-gateway demo on {base}
  data (ciphertext only):   {settings.storage_path}
  key ring (0600):          {settings.keyring_path}  (kept apart from the data)
  public notice (no login): {base}/notice
  web UI: open {base}/ and sign in (user and password; also in {directory / 'logins.txt'}):""")
    print("\n".join(f"    user {name:9s} password {pw}" for name, pw in logins.items()))
    print(f"""  metrics:                  curl -H 'Authorization: Bearer <token>' {base}/metrics
  API tokens (one per role; also in {directory / 'tokens.txt'}):""")
    print("\n".join(f"    {name:9s} {tok}" for name, tok in tokens.items()))
    how = (f"is a simulated RTSP camera ({rtsp_url}); the gateway pulls it and cuts a "
           f"{max(1, round(interval))} s segment" if rtsp_url else
           f"pushes a {interval:g} s segment every {interval:g} s")
    print(f"""  camera '{CAMERA}' {how}: shelves are
  filled, the public screen pixelated, then each segment is encrypted and
  destroyed 30 s after it ends (demo policy). Watch the log; Ctrl-C stops.
  Try: curl -s -H 'Authorization: Bearer {tokens["auditor"]}' {base}/metrics | grep footage_
""")
    if rtsp_url:
        cam = asyncio.create_task(rtsp_camera_log(app, base, tokens["director"]))
    else:
        token = (directory / f"{CAMERA}.token").read_text().strip()
        cam = asyncio.create_task(camera_loop(base, token, interval, tokens["director"]))
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
