"""`footage-gateway push`: the NVR-on-the-host client, against the real gateway over HTTP.

The plaintext source file goes only after the gateway stored it (201, or 200
for a retry); on a 4xx/5xx it stays and the command says why. A 503 is
retried after its Retry-After. The MediaMTX hook line from
docs/operations.md is run as MediaMTX runs it (MTX_SEGMENT_PATH in the
environment, a fragmented MP4 as MediaMTX records by default).
"""

from __future__ import annotations

import asyncio
import io
import os
import subprocess
import sys
from pathlib import Path

import av
import pytest

from conftest import CAMERA_TOKEN, camera
from gateway.cli.push import push_file
from gateway.web.push import UPLOAD_SLOTS
from gateway.media import synth
from gateway.web.appkeys import RUNTIME
from gateway.catalog import segments as seg_sql


@pytest.fixture(scope="module")
def clip() -> bytes:
    return synth.make_segment(1.0, 15, 320, 180, seed=4)


def fragmented(mp4: bytes) -> bytes:
    """The same clip as a fragmented MP4 (MediaMTX's default record format)."""
    out = io.BytesIO()
    with av.open(io.BytesIO(mp4)) as src, av.open(
            out, "w", format="mp4", options={"movflags": "frag_keyframe+empty_moov"}) as dst:
        vin = src.streams.video[0]
        vout = dst.add_stream_from_template(vin)
        for p in src.demux(vin):
            if p.dts is None:
                continue
            p.stream = vout
            dst.mux(p)
    return out.getvalue()


@pytest.fixture
async def gateway(aiohttp_server, make_settings, fake_clock):
    from gateway.app import create_app
    app = create_app(make_settings([camera(masks=[])], ), run_loops=False)
    server = await aiohttp_server(app)
    return f"http://127.0.0.1:{server.port}", app


async def test_removes_source_only_after_201(gateway, clip, tmp_path):
    base, app = gateway
    f = tmp_path / "seg.mp4"
    f.write_bytes(clip)
    out = await asyncio.to_thread(push_file, f, "lobby", base, CAMERA_TOKEN, remove=True)
    assert out.status == 201 and out.removed and not f.exists()
    seg = await app[RUNTIME].catalog.run(seg_sql.get_segment, out.body["id"])
    assert seg is not None and seg.frames == 15
    # The same bytes again (a retry after a lost answer): 200, stored once, removed.
    f.write_bytes(clip)
    again = await asyncio.to_thread(push_file, f, "lobby", base, CAMERA_TOKEN, remove=True)
    assert again.status == 200 and again.body["id"] == out.body["id"] and not f.exists()


@pytest.mark.parametrize("case", ["wrong token", "unknown camera", "not a video"])
async def test_keeps_source_on_4xx(gateway, clip, tmp_path, case):
    base, app = gateway
    f = tmp_path / "seg.mp4"
    f.write_bytes(clip if case != "not a video" else b"\x00\x00\x00\x18ftypisom" + b"x" * 500)
    token = "wrong-token-0123456789" if case == "wrong token" else CAMERA_TOKEN
    cam = "nosuch" if case == "unknown camera" else "lobby"
    sleeps: list[float] = []
    out = await asyncio.to_thread(push_file, f, cam, base, token, remove=True,
                                  sleep=sleeps.append)
    assert out.status in (400, 401, 404, 415) and not out.removed
    assert f.exists() and f.read_bytes()[:4] == (clip if case != "not a video" else b"\0\0\0\x18")[:4]
    assert "the file was kept" in out.message and f"gateway answered {out.status}" in out.message
    assert sleeps == [] and out.attempts == 1  # a 4xx is final: no retry


async def test_503_is_retried_after_retry_after(aiohttp_server, make_settings, clip, tmp_path):
    from gateway.app import create_app
    settings = make_settings([camera(masks=[])])
    settings = settings.model_copy(update={"server": settings.server.model_copy(
        update={"max_concurrent_uploads": 1})})
    app = create_app(settings, run_loops=False)
    server = await aiohttp_server(app)
    base = f"http://127.0.0.1:{server.port}"
    slots = app[UPLOAD_SLOTS]
    assert slots.take(1)  # another upload is being processed
    loop = asyncio.get_running_loop()
    waits: list[float] = []

    def sleep(seconds: float) -> None:  # the other upload finishes while we wait
        waits.append(seconds)
        loop.call_soon_threadsafe(slots.give, 1)

    f = tmp_path / "seg.mp4"
    f.write_bytes(clip)
    out = await asyncio.to_thread(push_file, f, "lobby", base, CAMERA_TOKEN, remove=True,
                                  sleep=sleep)
    assert waits == [5.0]  # the gateway's Retry-After
    assert out.status == 201 and out.attempts == 2 and not f.exists()


def test_unreachable_gateway_keeps_the_file_after_retries(clip, tmp_path):
    from rtspcamera import free_port
    f = tmp_path / "seg.mp4"
    f.write_bytes(clip)
    waits: list[float] = []
    out = push_file(f, "lobby", f"http://127.0.0.1:{free_port()}", CAMERA_TOKEN, remove=True,
                    retries=4, sleep=waits.append)
    assert out.status is None and f.exists() and out.attempts == 5
    assert waits == [1, 2, 4, 8]
    assert "cannot reach the gateway" in out.message


async def test_mediamtx_hook_line(gateway, clip, tmp_path):
    """docs/operations.md's runOnRecordSegmentComplete line, run the way MediaMTX runs it."""
    base, app = gateway
    token = tmp_path / "lobby.token"
    token.write_text(CAMERA_TOKEN)
    seg = tmp_path / "rec" / "lobby" / "2026-12-01_10-00-00-000000.mp4"
    seg.parent.mkdir(parents=True)
    seg.write_bytes(fragmented(clip))
    hook = _hook_line()
    exe = Path(sys.executable).parent / "footage-gateway"
    assert hook.startswith("footage-gateway push ")
    cmd = (str(exe) + hook.removeprefix("footage-gateway")).replace(
        "/etc/footage-gateway/tokens/$MTX_PATH.token", str(tmp_path / "$MTX_PATH.token")).replace(
        "http://127.0.0.1:8080", base)
    env = {**os.environ, "MTX_SEGMENT_PATH": str(seg), "MTX_PATH": "lobby"}
    r = await asyncio.to_thread(subprocess.run, cmd, shell=True, env=env, capture_output=True,
                                text=True, timeout=60)
    assert r.returncode == 0, r.stderr + r.stdout
    assert not seg.exists()
    assert "stored as" in r.stdout


def _hook_line() -> str:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "operations.md").read_text()
    for line in doc.splitlines():
        if line.strip().startswith("runOnRecordSegmentComplete:"):
            return line.split(":", 1)[1].strip().strip("'")
    raise AssertionError("docs/operations.md has no runOnRecordSegmentComplete line")
