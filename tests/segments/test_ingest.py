"""HTTP push ingest: a real H.264 segment in, ciphertext only on disk; bad input stores nothing."""

from __future__ import annotations

import io
import time
from pathlib import Path

import av
import numpy as np
import pytest

from conftest import CAMERA_TOKEN, auth, camera
from gateway.catalog import segments as seg_sql
from gateway.clock import US
from gateway.media import synth
from gateway.web.appkeys import CATALOG, METRICS, RUNTIME
from gateway.segments.read import read_plaintext


@pytest.fixture(scope="module")
def segment() -> bytes:
    return synth.make_segment(2.0, 15, 640, 360, seed=1)


def decode_frames(data: bytes) -> list[np.ndarray]:
    with av.open(io.BytesIO(data)) as c:
        return [f.to_ndarray(format="yuv420p") for f in c.decode(video=0)]


def stored_files(root: Path) -> list[Path]:
    return [p for p in (root / "segments").rglob("*") if p.is_file()]


def all_bytes_under(root: Path) -> bytes:
    return b"".join(p.read_bytes() for p in root.rglob("*") if p.is_file())


async def test_ingest_stores_only_ciphertext_and_reads_back_identical(gateway_client, segment,
                                                                      make_settings, tmp_path):
    client, app = await gateway_client()
    resp = await client.post("/api/v1/cameras/lobby/segments", data=segment, headers=auth())
    assert resp.status == 201, await resp.text()
    body = await resp.json()
    assert set(body) == {"id", "camera", "start", "end", "deadline", "bytes", "camera_start"}
    assert body["camera"] == "lobby"

    data_dir = tmp_path / "data"
    files = stored_files(data_dir)
    assert len(files) == 1
    loose = [p for p in data_dir.rglob("*") if p.stat().st_mode & 0o077]
    assert loose == [], "files and directories under storage must be private (0600/0700)"
    on_disk = all_bytes_under(data_dir)  # segment files, catalog, WAL, key ring: everything
    assert b"ftyp" not in on_disk and b"mdat" not in on_disk and b"avc1" not in on_disk
    for off in range(0, len(segment) - 64, 997):  # no 64-byte window of the input anywhere
        assert segment[off:off + 64] not in on_disk

    seg, plain = await read_plaintext(app[RUNTIME], body["id"])
    original, restored = decode_frames(segment), decode_frames(plain)
    assert len(restored) == len(original) == 30
    assert all(np.array_equal(a, b) for a, b in zip(original, restored))
    # Duration comes from the stream: 30 frames at 15 fps.
    assert seg.end_us - seg.start_us == 2_000_000


async def test_a_start_in_the_future_is_stored_for_display_and_times_come_from_receipt(
        gateway_client, segment):
    # Finding 2 of issue 10: a camera whose clock is ahead used to have every segment refused.
    client, app = await gateway_client()
    before = time.time_ns() // 1000
    resp = await client.post("/api/v1/cameras/lobby/segments", data=segment,
                             headers={**auth(), "X-Segment-Start": "2030-01-01T00:00:00Z"})
    assert resp.status == 201, await resp.text()
    body = await resp.json()
    assert body["camera_start"] == "2030-01-01T00:00:00.000Z"
    seg = await app[CATALOG].run(seg_sql.get_segment, body["id"])
    assert before <= seg.end_us <= time.time_ns() // 1000  # the end is the receipt
    assert seg.end_us - seg.start_us == 2_000_000 and seg.deadline_us == seg.end_us + 5 * US


async def test_mpegts_is_accepted_and_stored_as_mp4(gateway_client):
    client, app = await gateway_client()
    ts = synth.make_segment(1.0, 15, 320, 180, container="mpegts")
    resp = await client.post("/api/v1/cameras/lobby/segments", data=ts,
                             headers={**auth(), "Content-Type": "video/mp2t"})
    assert resp.status == 201, await resp.text()
    _, plain = await read_plaintext(app[RUNTIME], (await resp.json())["id"])
    assert plain[4:8] == b"ftyp"
    assert len(decode_frames(plain)) == 15


async def test_audio_is_dropped(gateway_client):
    client, app = await gateway_client()
    data = synth.make_segment(1.0, 15, 320, 180, with_audio=True)
    resp = await client.post("/api/v1/cameras/lobby/segments", data=data, headers=auth())
    assert resp.status == 201
    _, plain = await read_plaintext(app[RUNTIME], (await resp.json())["id"])
    with av.open(io.BytesIO(plain)) as c:
        assert [s.type for s in c.streams] == ["video"]


def _jpeg() -> bytes:
    import cv2
    ok, buf = cv2.imencode(".jpg", np.full((64, 64, 3), 128, np.uint8))
    return buf.tobytes()


BAD_UPLOADS = [
    ("corrupt_mp4", lambda s: s[: len(s) // 3], "video/mp4", 400),
    ("jpeg_as_mp4", lambda s: _jpeg(), "video/mp4", 415),
    ("text_as_mp4", lambda s: b"hello, this is not a video\n" * 50, "video/mp4", 415),
    ("zero_bytes", lambda s: b"", "video/mp4", 415),
    ("random_bytes", lambda s: bytes(range(256)) * 40, "video/mp4", 415),
    ("wrong_content_type", lambda s: s, "image/jpeg", 415),
    ("no_content_type", lambda s: s, "application/octet-stream", 415),
]


@pytest.mark.parametrize("name,make,ctype,status", BAD_UPLOADS, ids=[b[0] for b in BAD_UPLOADS])
async def test_bad_uploads_are_refused_and_store_nothing(gateway_client, segment, tmp_path,
                                                         name, make, ctype, status):
    client, app = await gateway_client()
    resp = await client.post("/api/v1/cameras/lobby/segments", data=make(segment),
                             headers={**auth(), "Content-Type": ctype})
    assert resp.status == status, await resp.text()
    err = (await resp.json())["error"]
    assert err["code"] and err["message"]
    assert stored_files(tmp_path / "data") == []
    assert await app[CATALOG].run(seg_sql.camera_stats) == []
    metrics = app[METRICS].render().decode()
    assert f'footage_ingest_rejected_total{{camera="lobby",reason="{err["code"]}"}} 1.0' in metrics


@pytest.mark.parametrize("name,make,ctype,status", BAD_UPLOADS[:5], ids=[b[0] for b in BAD_UPLOADS[:5]])
async def test_bad_uploads_to_a_masked_camera_store_nothing(gateway_client, make_settings, segment,
                                                            tmp_path, name, make, ctype, status):
    """The masking path decodes every frame itself: the same refusals, nothing stored."""
    masks = [{"zone": "shelves", "polygon": [[0.1, 0.1], [0.5, 0.1], [0.5, 0.9], [0.1, 0.9]]}]
    client, app = await gateway_client(make_settings([camera(masks=masks)]))
    resp = await client.post("/api/v1/cameras/lobby/segments", data=make(segment),
                             headers={**auth(), "Content-Type": ctype})
    assert resp.status == status, await resp.text()
    assert stored_files(tmp_path / "data") == []


async def test_unknown_camera_is_404(gateway_client, segment, tmp_path):
    client, _ = await gateway_client()
    resp = await client.post("/api/v1/cameras/attic/segments", data=segment, headers=auth())
    assert resp.status == 404
    assert (await resp.json())["error"]["code"] == "not_found"
    assert stored_files(tmp_path / "data") == []


@pytest.mark.parametrize("path", [
    "/api/v1/cameras/..%2F..%2Fetc/segments",
    "/api/v1/cameras/%2e%2e/segments",
    "/api/v1/cameras/LOBBY/segments",
    "/api/v1/cameras/lobby%00/segments",
    "/api/v1/cameras/" + "a" * 40 + "/segments",
])
async def test_camera_path_tricks_are_404(gateway_client, segment, tmp_path, path):
    client, _ = await gateway_client()
    resp = await client.post(path, data=segment, headers=auth())
    assert resp.status in (401, 404)
    assert stored_files(tmp_path / "data") == []


@pytest.mark.parametrize("headers", [
    {"Content-Type": "video/mp4"},
    {"Content-Type": "video/mp4", "Authorization": "Bearer wrong-token-wrong-token-1234"},
    {"Content-Type": "video/mp4", "Authorization": f"Basic {CAMERA_TOKEN}"},
    {"Content-Type": "video/mp4", "Authorization": f"Bearer {CAMERA_TOKEN}x"},
])
async def test_missing_or_wrong_token_is_401(gateway_client, segment, tmp_path, headers):
    client, _ = await gateway_client()
    resp = await client.post("/api/v1/cameras/lobby/segments", data=segment, headers=headers)
    assert resp.status == 401
    assert stored_files(tmp_path / "data") == []


async def test_token_of_another_camera_is_refused(gateway_client, make_settings, segment):
    settings = make_settings([camera("lobby"), camera("stacks", push_token="stacks-token-0123456789")])
    client, _ = await gateway_client(settings)
    resp = await client.post("/api/v1/cameras/stacks/segments", data=segment, headers=auth())
    assert resp.status == 401


async def test_oversize_body_is_413_without_reading_it_all(gateway_client, make_settings, tmp_path):
    client, _ = await gateway_client(make_settings(max_segment_bytes=100_000))
    sent = 0

    async def body():
        nonlocal sent
        for _ in range(10_000):  # would be 640 MB if the server read it all
            sent += 65536
            yield b"\0" * 65536

    resp = await client.post("/api/v1/cameras/lobby/segments", data=body(),
                             headers={**auth(), "Content-Type": "video/mp4"})
    assert resp.status == 413
    assert (await resp.json())["error"]["code"] == "too_large"
    assert sent < 1000 * 65536  # stopped early: socket buffers hold a few MB, not 640
    assert stored_files(tmp_path / "data") == []


async def test_declared_oversize_is_413(gateway_client, make_settings, segment):
    client, _ = await gateway_client(make_settings(max_segment_bytes=1000))
    resp = await client.post("/api/v1/cameras/lobby/segments", data=segment, headers=auth())
    assert resp.status == 413


async def test_storage_full_is_507(gateway_client, make_settings, segment, tmp_path):
    client, _ = await gateway_client(make_settings(min_free_bytes=2**62))
    resp = await client.post("/api/v1/cameras/lobby/segments", data=segment, headers=auth())
    assert resp.status == 507
    assert stored_files(tmp_path / "data") == []


async def test_health_is_public_and_metrics_need_auth(gateway_client):
    client, _ = await gateway_client()
    assert (await client.get("/healthz")).status == 200
    resp = await client.get("/metrics")
    assert resp.status == 401
    assert (await resp.json())["error"]["code"] == "unauthorized"


@pytest.mark.parametrize("masked", [False, True])
async def test_corrupted_mdat_is_refused(gateway_client, make_settings, segment, tmp_path, masked):
    from mediafixtures import corrupt_mdat

    masks = [{"zone": "shelves", "polygon": [[0.1, 0.1], [0.5, 0.1], [0.5, 0.9], [0.1, 0.9]]}]
    client, _ = await gateway_client(make_settings([camera(masks=masks if masked else [])]))
    resp = await client.post("/api/v1/cameras/lobby/segments", data=corrupt_mdat(segment),
                             headers=auth())
    assert resp.status == 400
    assert (await resp.json())["error"]["code"] == "corrupt_video"
    assert stored_files(tmp_path / "data") == []


async def test_uploads_beyond_the_limit_get_503_without_being_read(gateway_client, make_settings,
                                                                   segment, tmp_path):
    import asyncio

    from gateway.config import parse_settings
    base = make_settings()
    settings = parse_settings({**base.model_dump(mode="python", exclude={"cameras"}),
                               "server": {"max_concurrent_uploads": 1},
                               "cameras": [camera()]})
    client, app = await gateway_client(settings)
    release = asyncio.Event()

    async def slow_body():
        yield segment[:1000]
        await release.wait()  # the first upload holds the only slot
        yield segment[1000:]

    first = asyncio.create_task(client.post("/api/v1/cameras/lobby/segments", data=slow_body(),
                                            headers=auth()))
    from gateway.web.push import UPLOAD_SLOTS
    for _ in range(500):  # until the first request holds the slot (bounded)
        if app[UPLOAD_SLOTS].full():
            break
        await asyncio.sleep(0.01)
    assert app[UPLOAD_SLOTS].full()
    busy = await client.post("/api/v1/cameras/lobby/segments", data=segment, headers=auth())
    assert busy.status == 503 and busy.headers["Retry-After"] == "5"
    assert (await busy.json())["error"]["code"] == "busy"
    release.set()
    assert (await first).status == 201
    other = synth.make_segment(1.0, 15, 320, 180, seed=9)
    again = await client.post("/api/v1/cameras/lobby/segments", data=other, headers=auth())
    assert again.status == 201  # the slot is free again


async def test_disk_full_during_the_write_is_507_and_leaves_nothing(gateway_client, segment,
                                                                    tmp_path, monkeypatch):
    import errno
    import os

    from gateway.vault import storage as storage_mod

    client, app = await gateway_client()

    class FullDisk:  # the storage module's view of os: every write fails as on a full disk
        def __getattr__(self, name):
            return getattr(os, name)

        def write(self, fd, data):
            raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(storage_mod, "os", FullDisk())
    resp = await client.post("/api/v1/cameras/lobby/segments", data=segment, headers=auth())
    assert resp.status == 507
    assert (await resp.json())["error"]["code"] == "storage_full"
    assert [p for p in (tmp_path / "data" / "segments").rglob("*") if p.is_file()] == []
    assert await app[CATALOG].run(seg_sql.camera_stats) == []


async def test_a_failed_commit_leaves_no_file(gateway_client, segment, tmp_path, monkeypatch):
    import sqlite3

    from gateway.catalog import segments as seg_mod

    client, _ = await gateway_client()

    def fail(*args):
        raise sqlite3.OperationalError("database or disk is full")
    monkeypatch.setattr(seg_mod, "insert_segment", fail)
    resp = await client.post("/api/v1/cameras/lobby/segments", data=segment, headers=auth())
    assert resp.status == 500
    assert stored_files(tmp_path / "data") == []


async def test_a_retried_upload_is_stored_once(gateway_client, segment, tmp_path):
    """A camera that retries after a timeout sends the same bytes again: 200, same id."""
    client, _ = await gateway_client()
    first = await client.post("/api/v1/cameras/lobby/segments", data=segment, headers=auth())
    again = await client.post("/api/v1/cameras/lobby/segments", data=segment, headers=auth())
    assert (first.status, again.status) == (201, 200)
    assert (await first.json()) == (await again.json())
    assert len(stored_files(tmp_path / "data")) == 1
