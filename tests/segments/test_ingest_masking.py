"""End to end: masks configured on a camera are burned in before sealing.

The check runs on what is actually stored: the sealed file, decrypted through
the vault (masks that work in live view but not in recordings are a known
failure of other NVRs).
"""

from __future__ import annotations

import numpy as np
import pytest

from conftest import auth, camera
from gateway.media import synth
from gateway.web.appkeys import METRICS, RUNTIME
from gateway.segments.read import read_plaintext
from mediafixtures import SCREEN, SHELF, bitmap, decode, erode, ocr, planes, psnr

MASKS = [{"zone": "shelves", "polygon": [list(p) for p in SHELF], "mode": "fill"},
         {"zone": "screen", "polygon": [list(p) for p in SCREEN], "mode": "pixelate"}]


@pytest.fixture(scope="module")
def source() -> bytes:
    return synth.make_segment(2.0, 15, 640, 360, seed=11)


async def test_stored_segment_is_masked(gateway_client, make_settings, source, tmp_path):
    client, app = await gateway_client(make_settings([camera(masks=MASKS)]))
    r = await client.post("/api/v1/cameras/lobby/segments", data=source, headers=auth())
    assert r.status == 201, await r.text()
    _, stored = await read_plaintext(app[RUNTIME], (await r.json())["id"])

    before, after = decode(source), decode(stored)
    assert len(after) == len(before) == 30
    h, w = 360, 640
    shelf = erode(bitmap(SHELF, w, h), 2)
    screen = bitmap(SCREEN, w, h)
    outside = ~(bitmap(SHELF, w, h) | screen)
    outside = erode(outside, 3)
    for fb, fa in zip(before, after):
        y_b, _, _ = planes(fb)
        y_a, u_a, v_a = planes(fa)
        # fill: every luma pixel inside the shelf polygon is black (16), within encoder noise.
        inside = y_a[shelf].astype(int)
        assert np.abs(inside - 16).max() <= 12 and np.mean(np.abs(inside - 16) <= 3) > 0.99
        # outside the masks the picture is still the camera's.
        assert psnr(y_b[outside], y_a[outside]) > 35

    # OCR: the titles on the shelf and the words on the screen are readable in the
    # input and gone from what was stored.
    y_in = planes(before[0])[0]
    y_out = planes(after[0])[0]
    words = set(synth.SHELF_TITLES) | {"HIV", "TESTING"}
    read_in = ocr(y_in, tmp_path, "in")
    read_out = ocr(y_out, tmp_path, "out")
    assert sum(wd in read_in for wd in words) >= 3, read_in
    assert not [wd for wd in words if wd in read_out], read_out

    metrics = app[METRICS].render().decode()
    assert 'footage_redaction_frames_total{camera="lobby"} 30.0' in metrics
    assert 'footage_redaction_seconds_count{camera="lobby"} 1.0' in metrics


async def test_camera_without_masks_takes_the_remux_fast_path(gateway_client, source):
    client, app = await gateway_client()
    r = await client.post("/api/v1/cameras/lobby/segments", data=source, headers=auth())
    _, stored = await read_plaintext(app[RUNTIME], (await r.json())["id"])
    # Remuxed, not re-encoded: the decoded pictures are bit-identical.
    assert all(np.array_equal(planes(a)[0], planes(b)[0])
               for a, b in zip(decode(source), decode(stored)))
    assert "footage_redaction_frames_total{" not in app[METRICS].render().decode()
