"""The synthetic camera: what every media test and the demo build on must be right."""

from __future__ import annotations

import io

import av
import numpy as np
import pytest
from mediafixtures import SCREEN, SHELF, bitmap, decode, planes, segment

from gateway.media import synth


def test_default_segment_is_h264_yuv420p_mp4_of_the_requested_shape():
    data = segment()
    with av.open(io.BytesIO(data)) as c:
        assert c.format.name.startswith("mov,mp4")
        stream = c.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert not c.streams.audio
        frames = list(c.decode(stream))
    assert len(frames) == 30  # 2 s at 15 fps
    assert {(f.width, f.height) for f in frames} == {(640, 360)}
    assert {f.format.name for f in frames} == {"yuv420p"}
    # One frame every 1/15 s, starting at 0.
    times = [float(f.pts * f.time_base) for f in frames]
    assert times[0] == 0.0
    assert np.allclose(np.diff(times), 1 / 15)


def test_consecutive_frames_differ_and_the_clock_moves():
    frames = decode(segment())
    lumas = [planes(f)[0] for f in frames]
    assert all(not np.array_equal(a, b) for a, b in zip(lumas, lumas[1:]))


@pytest.mark.parametrize("region", [SHELF, SCREEN], ids=["shelf", "screen"])
def test_regions_hold_high_contrast_text(region):
    y = planes(decode(segment())[0])[0]
    inside = y[bitmap(region, 640, 360)]
    # Black glyphs on white: both ends of the range are well represented.
    assert (inside < 50).mean() > 0.05
    assert (inside > 200).mean() > 0.2


def test_gop_sets_the_keyframe_interval():
    frames = decode(segment(seconds=2.0, fps=15, gop=10))
    assert [i for i, f in enumerate(frames) if f.key_frame] == [0, 10, 20]


def test_mpegts_container():
    with av.open(io.BytesIO(segment(container="mpegts"))) as c:
        assert c.format.name == "mpegts"
        assert len(list(c.decode(video=0))) == 30


def test_audio_only_when_asked():
    with av.open(io.BytesIO(segment(with_audio=True))) as c:
        assert [s.type for s in c.streams] == ["video", "audio"]
        assert c.streams.audio[0].codec_context.name == "aac"


def test_start_text_sets_creation_time():
    with av.open(io.BytesIO(segment(start_text="2024-05-01T10:00:00Z"))) as c:
        assert c.metadata["creation_time"].startswith("2024-05-01T10:00:00")


def test_size_change_mid_stream():
    frames = decode(segment(size_change_at=1.0))
    sizes = [(f.width, f.height) for f in frames]
    assert sizes[:15] == [(640, 360)] * 15
    assert sizes[15:] == [synth.changed_size(640, 360)] * 15
    assert frames[15].key_frame  # the new size starts on an IDR


def test_same_seed_same_bytes_other_seed_other_titles():
    assert synth.make_segment(seconds=0.5, seed=4) == synth.make_segment(seconds=0.5, seed=4)
    assert synth.shelf_titles(1) != synth.shelf_titles(2)
    assert set(synth.shelf_titles(1)) <= set(synth.SHELF_TITLES)


def test_odd_or_tiny_sizes_are_refused():
    with pytest.raises(ValueError, match="even"):
        synth.make_segment(width=641)
    with pytest.raises(ValueError, match="container"):
        synth.make_segment(container="avi")
