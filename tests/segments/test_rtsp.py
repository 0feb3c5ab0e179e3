"""RTSP pull against a real RTSP server (GStreamer's, scripts/rtsp-camera.py) on 127.0.0.1.

What a user would notice: segments appear with the configured duration and
the masks burned into what is stored (decrypted and checked pixel by pixel);
a camera that goes away and comes back is reconnected and the gap shows in
the catalog with nothing corrupt; wrong credentials and an unreachable host
are named in the log and the metrics and retried with a growing wait, not in
a loop; a resolution change and an audio track are handled; the camera's
password appears nowhere.
"""

from __future__ import annotations

import io
import logging

import av
import numpy as np
import pytest

from conftest import camera
from gateway.app import RTSP_PULLERS
from gateway.catalog import segments as seg_sql
from gateway.clock import US
from gateway.media import synth
from gateway.media.simloop import write_loop
from gateway.segments.rtsp import AUTH_FIRST_WAIT_S, CameraPuller
from gateway.segments.read import read_plaintext
from gateway.web.appkeys import METRICS, RUNTIME
from mediafixtures import SCREEN, SHELF, bitmap, erode, planes
from rtspcamera import RtspCamera, require_gstreamer

pytestmark = [pytest.mark.timeout(90)]

MASKS = [{"zone": "shelves", "polygon": [list(p) for p in SHELF], "mode": "fill"},
         {"zone": "screen", "polygon": [list(p) for p in SCREEN], "mode": "pixelate"}]


@pytest.fixture(scope="module")
def loops(tmp_path_factory):
    require_gstreamer()
    d = tmp_path_factory.mktemp("loops")
    return {
        "scene": write_loop(d / "scene.h264", 4.0, 15, 640, 360, seed=3),
        "resize": write_loop(d / "resize.h264", 2.0, 15, 640, 360, seed=5, size_change_at=1.0),
    }


def rtsp_cam(id: str, url: str, masks=None, **extra) -> dict:
    cam = camera(id, masks=masks, rtsp_url=url, **extra)
    cam.pop("push_token")
    return cam


def settings_for(make_settings, cams, **rtsp):
    s = make_settings(cams)
    return s.model_copy(update={"rtsp": s.rtsp.model_copy(update={
        "segment_seconds": 1, "timeout_seconds": 3, "max_backoff_seconds": 2, **rtsp})})


def decode_all(data: bytes) -> list[av.VideoFrame]:
    with av.open(io.BytesIO(data)) as c:
        assert not c.streams.audio, "an audio track was stored"
        return list(c.decode(video=0))


async def test_masked_camera_segments_have_masks_burned_in(gateway_client, make_settings, loops):
    with RtspCamera({"stacks": str(loops["scene"])}) as sim:
        settings = settings_for(make_settings, [rtsp_cam("stacks", sim.url("stacks"), MASKS)])
        client, app = await gateway_client(settings)
        puller: CameraPuller = app[RTSP_PULLERS][0]
        await puller.wait_for(lambda p: len(p.stored) >= 3, 30)
    svc = app[RUNTIME]
    h, w = 360, 640
    shelf = erode(bitmap(SHELF, w, h), 2)
    outside = erode(~(bitmap(SHELF, w, h) | bitmap(SCREEN, w, h)), 3)
    for row in puller.stored[:3]:
        assert row.masked and (row.width, row.height) == (w, h)
        # 1 s segments at 15 fps: cut on the frame that reaches 1 s of stream time.
        assert 0.9 * US <= row.end_us - row.start_us <= 1.25 * US, row
        _, plain = await read_plaintext(svc, row.uid)
        frames = decode_all(plain)
        assert len(frames) == row.frames and 14 <= row.frames <= 18
        assert frames[0].key_frame  # every segment starts on an IDR
        for f in frames:
            y = planes(f)[0].astype(int)
            inside = y[shelf]
            assert np.abs(inside - 16).max() <= 12 and np.mean(np.abs(inside - 16) <= 3) > 0.99
            # The rest of the scene is still there (not blanked): floor and clock vary.
            assert y[outside].std() > 20
        source = await svc.catalog.run(seg_sql.time_source, row.uid)
        assert source in ("rtcp", "arrival")
    # Consecutive segments follow each other without overlap.
    for a, b in zip(puller.stored, puller.stored[1:]):
        assert b.start_us >= a.end_us - 100_000
    text = app[METRICS].render().decode()
    assert 'footage_segments_ingested_total{camera="stacks"}' in text
    assert 'footage_redaction_frames_total{camera="stacks"}' in text


async def test_camera_restart_reconnects_and_leaves_a_gap(gateway_client, make_settings, loops,
                                                          caplog):
    caplog.set_level(logging.INFO, logger="gateway.segments.rtsp")
    sim = RtspCamera({"door": str(loops["scene"])}, audio=True).start()
    try:
        settings = settings_for(make_settings, [rtsp_cam("door", sim.url("door"))])
        client, app = await gateway_client(settings)
        puller: CameraPuller = app[RTSP_PULLERS][0]
        await puller.wait_for(lambda p: len(p.stored) >= 2, 30)
        assert "footage_camera_up{camera=\"door\"} 1.0" in app[METRICS].render().decode()
        before = len(puller.stored)
        assert sim.stop() == 0  # SIGTERM: the simulator stops cleanly
        # The gateway notices, says so, and retries with a growing wait.
        await puller.wait_for(lambda p: len(p.delays) >= 2, 30)
        text = app[METRICS].render().decode()
        assert 'footage_camera_up{camera="door"} 0.0' in text
        sim.start()
        await puller.wait_for(lambda p: len(p.stored) >= before + 2, 40)
    finally:
        sim.stop()
    rows = puller.stored
    # In the stream's own time where the camera sent RTCP (claimed_start_us);
    # the catalog's start/end are the gateway's receipt times.
    def span(r):
        start = r.claimed_start_us if r.claimed_start_us is not None else r.start_us
        return start, start + (r.end_us - r.start_us)
    gaps = [span(b)[0] - span(a)[1] for a, b in zip(rows, rows[1:])]
    # One gap the length of the outage (>= the waits before reconnecting); the
    # others are back to back.
    outage = gaps[before - 1]
    assert outage >= 1.0 * US, gaps
    assert all(abs(g) < 0.5 * US for i, g in enumerate(gaps) if i != before - 1), gaps
    svc = app[RUNTIME]
    for row in rows:
        assert not row.masked
        _, plain = await read_plaintext(svc, row.uid)
        frames = decode_all(plain)  # decodes whole, and no audio was stored
        assert len(frames) == row.frames > 0 and frames[0].key_frame
    text = app[METRICS].render().decode()
    assert 'footage_camera_reconnects_total{camera="door"}' in text
    assert 'footage_camera_last_frame_age_seconds{camera="door"}' in text
    logged = caplog.text
    assert "camera door: the camera ended the stream [ended]" in logged \
        or "camera door: the stream broke" in logged


class _Sleeps:
    """An injected sleep: records each wait and returns at once (the waits are asserted)."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


async def _run_until(puller: CameraPuller, attempts: int) -> None:
    import asyncio
    task = asyncio.create_task(puller.run())
    try:
        await puller.wait_for(lambda p: len(p.delays) >= attempts, 60)
    finally:
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass


@pytest.fixture
async def services(gateway_client, make_settings):
    async def build(cams, **rtsp):
        settings = settings_for(make_settings, cams, **rtsp)
        client, app = await gateway_client(settings)
        return settings, app
    return build


async def test_wrong_credentials_are_named_and_backed_off(services, loops, tmp_path, caplog):
    caplog.set_level(logging.INFO)
    password, wrong = "s3cret-cam-pass", "not-the-password"
    creds = tmp_path / "cam.creds"
    creds.write_text(f"viewer:{wrong}\n")
    with RtspCamera({"desk": str(loops["scene"])}, user="viewer", password=password) as sim:
        cam = rtsp_cam("desk", sim.url("desk"), rtsp_credentials_file=str(creds))
        settings, app = await services([cam], max_backoff_seconds=30)
        # A second puller for the same camera, with an injected sleep (the app's
        # own one keeps its real waits; both share the metrics).
        sleeps = _Sleeps()
        import random
        puller = CameraPuller(app[RUNTIME], settings.cameras[0], settings.rtsp, sleep=sleeps,
                              rng=random.Random(1))
        await _run_until(puller, 4)
        assert [e.kind for e in puller.errors[:4]] == ["auth"] * 4
        assert "credentials" in puller.errors[0].message
        # No tight loop: the first wait is already 5-10 s, then it doubles up to the cap.
        w = sleeps.waits
        assert AUTH_FIRST_WAIT_S / 2 <= w[0] <= AUTH_FIRST_WAIT_S
        assert 10 <= w[1] <= 20 and all(15 <= x <= 30 for x in w[2:4])
        text = app[METRICS].render().decode()
        assert 'footage_camera_failures_total{camera="desk",reason="auth"}' in text

        # With the right password in the file the same camera records.
        creds.write_text(f"viewer:{password}\n")
        good = CameraPuller(app[RUNTIME], settings.cameras[0], settings.rtsp, sleep=sleeps)
        import asyncio
        task = asyncio.create_task(good.run())
        try:
            await good.wait_for(lambda p: len(p.stored) >= 1, 30)
        finally:
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
    everything = caplog.text + app[METRICS].render().decode() + repr(puller.errors)
    assert password not in everything and wrong not in everything
    assert "camera desk: the camera refused the credentials (401 Unauthorized)" in caplog.text


async def test_unreachable_camera_backs_off_to_the_cap(services, caplog):
    from rtspcamera import free_port
    caplog.set_level(logging.WARNING, logger="gateway.segments.rtsp")
    port = free_port()  # nothing listens there
    url = f"rtsp://admin:hunter2-password@127.0.0.1:{port}/stream1"
    settings, app = await services([rtsp_cam("gone", url)], max_backoff_seconds=8)
    sleeps = _Sleeps()
    import random
    puller = CameraPuller(app[RUNTIME], settings.cameras[0], settings.rtsp, sleep=sleeps,
                          rng=random.Random(2))
    await _run_until(puller, 7)
    assert {e.kind for e in puller.errors} == {"unreachable"}
    w = sleeps.waits
    # 1, 2, 4, 8, 8 ... s, each with jitter in [d/2, d]: growing, never past the cap.
    assert 0.5 <= w[0] <= 1 and 1 <= w[1] <= 2 and 2 <= w[2] <= 4
    assert all(4 <= x <= 8 for x in w[3:7])
    text = app[METRICS].render().decode()
    assert 'footage_camera_failures_total{camera="gone",reason="unreachable"} ' in text
    assert 'footage_camera_up{camera="gone"} 0.0' in text
    assert "camera gone: connection refused" in caplog.text
    assert "hunter2" not in caplog.text + text + repr(puller.errors)


async def test_resolution_change_mid_stream(services, loops):
    with RtspCamera({"hall": str(loops["resize"]), "hall2": str(loops["resize"])}) as sim:
        settings, app = await services([rtsp_cam("hall", sim.url("hall"), MASKS),
                                        rtsp_cam("hall2", sim.url("hall2"))],
                                       segment_seconds=2)
        masked, remuxed = app[RTSP_PULLERS]
        small = synth.changed_size(640, 360)

        def both_sizes(p) -> bool:
            return {(r.width, r.height) for r in p.stored} >= {(640, 360), small}
        await masked.wait_for(both_sizes, 30)
        await remuxed.wait_for(both_sizes, 30)
    svc = app[RUNTIME]
    for p in (masked, remuxed):
        for row in p.stored:
            _, plain = await read_plaintext(svc, row.uid)
            frames = decode_all(plain)
            # Cut at the change: each segment has one size throughout.
            assert {(f.width, f.height) for f in frames} == {(row.width, row.height)}
            assert len(frames) == row.frames
            if p is masked:
                w, h = row.width, row.height
                shelf = erode(bitmap(SHELF, w, h), 2)
                y = planes(frames[-1])[0].astype(int)
                assert np.mean(np.abs(y[shelf] - 16) <= 3) > 0.99


def test_masking_that_falls_behind_drops_whole_segments(loops):
    """The codec thread is held (its hand-off blocks) until the reader has dropped a segment."""
    import threading
    import time

    from gateway.media.masking import masks_from_settings
    from gateway.config import MaskSettings
    from gateway.media.stream import StreamOptions, run_stream

    masks = masks_from_settings([MaskSettings(zone="shelves", polygon=[tuple(p) for p in SHELF])])
    stop, release, dropped = threading.Event(), threading.Event(), []
    segments = []

    def on_segment(seg) -> None:
        segments.append(seg)
        if len(segments) == 1:
            release.wait(30)  # masking "falls behind" while this blocks
        elif len(segments) >= 3:
            stop.set()

    def on_drop(reason: str) -> None:
        dropped.append(reason)
        release.set()

    with RtspCamera({"slow": str(loops["scene"])}) as sim:
        run_stream(sim.url("slow"), masks, StreamOptions(segment_us=1 * US, max_lag_s=2),
                   now_us=lambda: time.time_ns() // 1000, stop=stop, on_segment=on_segment,
                   on_drop=on_drop)
    assert dropped[0] == "behind"
    # The segments after the drop are whole, start on an IDR, and are not one
    # long catch-up: the queue held at most ~2 s of input.
    for seg in segments[1:]:
        frames = decode_all(seg.data)
        assert frames[0].key_frame and len(frames) == seg.frames <= 18
    assert dropped.count("behind") == 1 and set(dropped) <= {"behind", "shutdown"}
    assert segments[1].start_us >= segments[0].end_us + 1.5 * US


@pytest.mark.parametrize("source, kind, words", [
    ("vp8", "codec", "the video codec is vp8, not H.264 or H.265"),
    ("audio-only", "no_video", "no video track"),
    ("nosuchmount", "not_found", "404 Not Found"),
])
def test_streams_the_gateway_cannot_record_are_named(loops, source, kind, words):
    from gateway.media.stream import StreamError, StreamOptions, open_stream
    mounts = {"cam": source} if source != "nosuchmount" else {"other": "vp8"}
    with RtspCamera(mounts) as sim:
        with pytest.raises(StreamError) as err:
            # A roomy timeout: "a quick refusal" (< 0.8 of it) must stay quick on a loaded host.
            open_stream(sim.url("cam"), StreamOptions(open_timeout_s=15, read_timeout_s=5))
    assert err.value.kind == kind and words in err.value.message


async def test_udp_transport(services, loops):
    with RtspCamera({"yard": str(loops["scene"])}) as sim:
        settings, app = await services([rtsp_cam("yard", sim.url("yard"), rtsp_transport="udp")])
        (puller,) = app[RTSP_PULLERS]
        assert puller.opts.transport == "udp"
        await puller.wait_for(lambda p: len(p.stored) >= 2, 30)
    _, plain = await read_plaintext(app[RUNTIME], puller.stored[-1].uid)
    assert len(decode_all(plain)) == puller.stored[-1].frames > 0
