"""Uploads cut mid-stream and containers that do not match their Content-Type (issue 10, 8).

Both used to be stored: FFmpeg reads a cut transport stream or fragmented MP4
as a shorter one (201, half the footage), and any demuxer took any body.
"""

from __future__ import annotations

import functools
import io

import av
import pytest

from conftest import auth, camera
from gateway.catalog import segments as seg_sql
from gateway.clock import US, iso
from gateway.media import synth
from gateway.web.appkeys import RUNTIME


def _remux(data: bytes, fmt: str, **options) -> bytes:
    buf = io.BytesIO()
    with av.open(io.BytesIO(data)) as src, av.open(buf, "w", format=fmt, options=options) as out:
        s = out.add_stream_from_template(src.streams.video[0])
        for p in src.demux(src.streams.video[0]):
            if p.dts is not None:
                p.stream = s
                out.mux(p)
    return buf.getvalue()


@functools.lru_cache(maxsize=None)
def clips() -> dict[str, bytes]:
    mp4 = synth.make_segment(4.0, 15, 320, 180, gop=15)
    ts = synth.make_segment(4.0, 15, 320, 180, container="mpegts", gop=15)
    fmp4 = _remux(mp4, "mp4", movflags="frag_keyframe+empty_moov+default_base_moof")
    return {"mp4": mp4, "ts": ts, "fmp4": fmp4, "mkv": _remux(mp4, "matroska")}


async def post(client, fake_clock, data: bytes, ctype: str):
    return await client.post("/api/v1/cameras/lobby/segments", data=data, headers={
        **auth(), "Content-Type": ctype, "X-Segment-Start": iso(fake_clock.now_us() - 4 * US)})


async def nothing_stored(app) -> bool:
    svc = app[RUNTIME]
    rows = await svc.catalog.run(lambda db: list(seg_sql.all_uids(db)))
    return not rows and not list(svc.storage.uids())


@pytest.mark.parametrize("kind,ctype,cut", [
    ("ts", "video/mp2t", lambda d: d[:len(d) * 6 // 10]),                 # mid-packet
    ("ts", "video/mp2t", lambda d: d[:len(d) * 6 // 10 // 188 * 188]),    # between packets
    ("fmp4", "video/mp4", lambda d: d[:len(d) * 6 // 10]),                # mid-fragment
    ("mp4", "video/mp4", lambda d: d[:len(d) * 6 // 10]),
])
async def test_a_segment_cut_mid_stream_is_refused_and_nothing_is_stored(
        gateway_client, fake_clock, kind, ctype, cut):
    client, app = await gateway_client(clock=fake_clock)
    r = await post(client, fake_clock, cut(clips()[kind]), ctype)
    assert r.status == 400, await r.text()
    assert (await r.json())["error"]["code"] == "corrupt_video"
    assert "cut short" in (await r.json())["error"]["message"]
    assert await nothing_stored(app)
    whole = await post(client, fake_clock, clips()[kind], ctype)
    assert whole.status == 201  # the same stream uncut is fine


async def test_a_ts_cut_between_packets_is_refused_for_a_masked_camera_too(
        gateway_client, make_settings, fake_clock):
    masked = camera(masks=[{"zone": "shelves", "polygon": [[0, 0], [0.5, 0], [0.5, 0.5]],
                            "mode": "fill"}])
    client, app = await gateway_client(make_settings([masked]), clock=fake_clock)
    ts = clips()["ts"]
    r = await post(client, fake_clock, ts[:len(ts) * 6 // 10 // 188 * 188], "video/mp2t")
    assert r.status == 400 and "cut short" in (await r.json())["error"]["message"]
    assert await nothing_stored(app)


@pytest.mark.parametrize("kind,ctype", [("mkv", "video/mp4"), ("mkv", "video/mp2t"),
                                        ("ts", "video/mp4"), ("mp4", "video/mp2t")])
async def test_the_container_must_be_what_the_content_type_says(gateway_client, fake_clock,
                                                                kind, ctype):
    client, app = await gateway_client(clock=fake_clock)
    r = await post(client, fake_clock, clips()[kind], ctype)
    assert r.status == 415, await r.text()
    assert await nothing_stored(app)


async def test_a_fragmented_mp4_cut_at_a_fragment_boundary_is_stored_as_what_it_holds(
        gateway_client, fake_clock):
    # Indistinguishable from a shorter recording (docs/reliability.md, "What is left"):
    # a live fMP4 writer declares no total length (no mehd, no global sidx). What is
    # stored claims no more than the fragments that arrived: 2 s of the 4 s clip, so the
    # timeline shows the gap instead of covering it.
    client, app = await gateway_client(clock=fake_clock)
    whole = clips()["fmp4"]
    boundaries, pos = [], 0
    while pos < len(whole):
        if whole[pos + 4:pos + 8] == b"moof":
            boundaries.append(pos)
        pos += int.from_bytes(whole[pos:pos + 4], "big")
    assert len(boundaries) == 4  # one fragment a keyframe, one a second
    r = await post(client, fake_clock, whole[:boundaries[2]], "video/mp4")
    assert r.status == 201, await r.text()
    seg = await r.json()
    stored = await app[RUNTIME].catalog.run(seg_sql.get_segment, seg["id"])
    assert (stored.end_us - stored.start_us, stored.frames) == (2 * US, 30)
