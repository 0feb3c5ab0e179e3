"""What one upload, and all uploads together, may cost, refused before decoding (issue 10, 3)."""

from __future__ import annotations

import pytest

from conftest import auth
from gateway.config import parse_settings
from gateway.media import synth
from gateway.media.probe import read_header
from gateway.web.appkeys import RUNTIME

CLIP = synth.make_segment(1.0, 5, 160, 96)  # 160 x 96 x 5 frames = 76,800 pixel-frames


def garbled(data: bytes) -> bytes:
    """The same headers, every byte of video data replaced: it cannot decode at all."""
    start = data.index(b"mdat") + 4
    size = int.from_bytes(data[start - 8:start - 4], "big") - 8
    return data[:start] + b"\x5a" * size + data[start + size:]


def settings_with(make_settings, **media):
    base = make_settings()
    return parse_settings({**base.model_dump(mode="python", exclude={"media"}),
                           "media": media})


def stored(tmp_path) -> list:
    return list((tmp_path / "data" / "segments").rglob("*.fgs"))


def test_the_header_is_read_without_decoding():
    head = read_header(garbled(CLIP), 4096 * 4096)
    assert (head.width, head.height, head.frames) == (160, 96, 5)


@pytest.mark.parametrize("media,code,words", [
    ({"max_frame_pixels": 100 * 90}, "frame_too_large", "media.max_frame_pixels"),
    ({"max_segment_pixel_frames": 160 * 96 * 4}, "too_much_video",
     "media.max_segment_pixel_frames"),
])
async def test_an_upload_over_budget_is_413_before_any_frame_is_decoded(
        gateway_client, make_settings, tmp_path, media, code, words):
    client, app = await gateway_client(settings_with(make_settings, **media))
    # Undecodable video data: a decode would answer 400 corrupt_video; the budget answers first.
    r = await client.post("/api/v1/cameras/lobby/segments", data=garbled(CLIP), headers=auth())
    assert r.status == 413, await r.text()
    err = (await r.json())["error"]
    assert err["code"] == code and words in err["message"] and "nothing was decoded" in err["message"]
    assert stored(tmp_path) == []
    assert app[RUNTIME].pixel_frames.used == 0


async def test_uploads_in_flight_share_one_pixel_budget(gateway_client, make_settings, tmp_path):
    settings = settings_with(make_settings, max_segment_pixel_frames=160 * 96 * 5,
                             max_pixel_frames_in_flight=160 * 96 * 5)
    client, app = await gateway_client(settings)
    budget = app[RUNTIME].pixel_frames
    assert budget.take(1)  # another upload is being decoded
    r = await client.post("/api/v1/cameras/lobby/segments", data=CLIP, headers=auth())
    assert r.status == 503 and r.headers["Retry-After"] == "5"
    assert "media.max_pixel_frames_in_flight" in (await r.json())["error"]["message"]
    assert stored(tmp_path) == []
    budget.give(1)  # it finished
    r = await client.post("/api/v1/cameras/lobby/segments", data=CLIP, headers=auth())
    assert r.status == 201, await r.text()
    assert budget.used == 0


def test_budgets_must_fit_one_upload():
    from gateway.errors import ConfigError
    with pytest.raises(ConfigError, match="max_pixel_frames_in_flight must be at least"):
        parse_settings({"storage": {"path": "/tmp/x"},
                        "media": {"max_segment_pixel_frames": 10_000,
                                  "max_pixel_frames_in_flight": 9_000}})
