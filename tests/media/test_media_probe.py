"""probe() and remux(): what ingest learns about an upload, and which uploads it refuses."""

from __future__ import annotations

import random

import pytest
from mediafixtures import (
    audio_only_mp4,
    corrupt_mdat,
    decode,
    ffprobe,
    fragmented_mp4,
    jpeg_bytes,
    segment,
    top_level_boxes,
)

from gateway.errors import BadRequest, UnsupportedMedia
from gateway.media import probe as probe_mod
from gateway.media.probe import creation_time_us, probe, remux, sniff_container
from gateway.media.redact import Mask, redact

START_US = 1_714_557_600_000_000  # 2024-05-01T10:00:00Z


def test_probe_describes_an_mp4():
    info = probe(segment(start_text="2024-05-01T10:00:00Z", with_audio=True))
    assert info == probe_mod.VideoInfo(
        container="mp4", codec="h264", width=640, height=360, frames=30,
        duration_us=2_000_000, has_audio=True, keyframes=(0, 15), creation_time_us=START_US)


def test_probe_describes_mpegts_without_creation_time():
    info = probe(segment(container="mpegts", gop=10))
    assert (info.container, info.frames, info.duration_us) == ("mpegts", 30, 2_000_000)
    assert info.keyframes == (0, 10, 20)
    assert info.creation_time_us is None


def test_probe_reports_the_first_size_of_a_stream_that_changes_size():
    info = probe(segment(size_change_at=1.0))
    assert (info.width, info.height, info.frames) == (640, 360, 30)


@pytest.mark.parametrize("value, expected", [
    ("2024-05-01T10:00:00.000000Z", START_US),
    ("2024-05-01T12:00:00+02:00", START_US),
    ("2024-05-01T10:00:00", START_US),  # FFmpeg writes UTC without a zone
    ("1904-01-01T00:00:00Z", None),  # an MP4 whose camera clock was never set
    ("1970-01-01T00:00:00Z", None),
    ("not a time", None),
    ("", None),
    (None, None),
])
def test_creation_time_parsing(value, expected):
    assert creation_time_us(value) == expected


@pytest.mark.parametrize("head, kind", [
    (b"\x00\x00\x00\x18ftypisom", "mp4"),
    (b"\x00\x00\x00\x08free", "mp4"),
    (b"\x1a\x45\xdf\xa3\x01", "matroska"),
    (b"G" + b"\x00" * 187 + b"G" + b"\x00" * 187 + b"G", "mpegts"),
    (b"G" + b"\x00" * 187 + b"X" + b"\x00" * 187, None),  # one sync byte is a coincidence
    (b"GET / HTTP/1.1\r\n", None),
    (b"\xff\xd8\xff\xe0", None),  # JPEG
    (b"ID3\x03", None),  # MP3
    (b"", None),
])
def test_sniff_container(head, kind):
    assert sniff_container(head) == kind


NOT_VIDEO = {
    "zero bytes": lambda: b"",
    "random bytes": lambda: random.Random(7).randbytes(50_000),
    "jpeg": jpeg_bytes,
    "text": lambda: b"Library board minutes\n" * 500,
    # 0x47 is "G", the MPEG-TS sync byte: one at offset 0 is not enough.
    "text starting with G": lambda: b"Good morning, patrons.\n" * 100,
}
CORRUPT_VIDEO = {
    "truncated mp4 (first half)": lambda: segment()[: len(segment()) // 2],
    "mp4 with a corrupted mdat": lambda: corrupt_mdat(segment()),
    "audio-only mp4": audio_only_mp4,
    "mp4 header only": lambda: segment()[:40],
}


@pytest.mark.parametrize("make", NOT_VIDEO.values(), ids=NOT_VIDEO.keys())
def test_not_a_video_is_415(make):
    with pytest.raises(UnsupportedMedia) as err:
        probe(make())
    assert err.value.status == 415


@pytest.mark.parametrize("make", CORRUPT_VIDEO.values(), ids=CORRUPT_VIDEO.keys())
def test_a_video_that_does_not_decode_is_400_corrupt_video(make):
    with pytest.raises(BadRequest) as err:
        probe(make())
    assert (err.value.status, err.value.code) == (400, "corrupt_video")


ALL_BAD = {**NOT_VIDEO, **CORRUPT_VIDEO}
# The remux fast path copies packets without decoding them, so a damaged
# bitstream inside a sound container gets through it; ingest probes first.
REMUX_BAD = {k: v for k, v in ALL_BAD.items() if k != "mp4 with a corrupted mdat"}
A_MASK = [Mask(((0.1, 0.1), (0.5, 0.1), (0.5, 0.5)))]


def _same_error(data: bytes, masks) -> None:
    with pytest.raises((UnsupportedMedia, BadRequest)) as expected:
        probe(data)
    with pytest.raises((UnsupportedMedia, BadRequest)) as got:
        redact(data, masks)
    assert (type(got.value), got.value.code) == (type(expected.value), expected.value.code)


@pytest.mark.parametrize("make", ALL_BAD.values(), ids=ALL_BAD.keys())
def test_redact_with_masks_raises_what_probe_raises(make):
    _same_error(make(), A_MASK)


@pytest.mark.parametrize("make", REMUX_BAD.values(), ids=REMUX_BAD.keys())
def test_redact_without_masks_raises_what_probe_raises(make):
    _same_error(make(), [])


def test_remux_keeps_frames_timestamps_and_keyframes(tmp_path):
    source = segment(gop=7)
    out = remux(source, keep_audio=False)
    before, after = decode(source), decode(out)
    assert [f.pts for f in after] == [f.pts for f in before]
    assert [f.key_frame for f in after] == [f.key_frame for f in before]
    assert probe(out).duration_us == 2_000_000
    info = ffprobe(out, tmp_path)
    assert int(info["streams"][0]["nb_read_frames"]) == 30


@pytest.mark.parametrize("keep_audio", [False, True])
def test_remux_drops_audio_unless_kept(keep_audio):
    out = remux(segment(with_audio=True), keep_audio=keep_audio)
    assert probe(out).has_audio is keep_audio


def test_remux_turns_mpegts_into_mp4(tmp_path):
    out = remux(segment(container="mpegts", with_audio=True), keep_audio=True)
    info = probe(out)
    assert (info.container, info.frames, info.duration_us, info.has_audio) == ("mp4", 30, 2_000_000,
                                                                              True)
    probed = ffprobe(out, tmp_path)
    assert [s["codec_name"] for s in probed["streams"]] == ["h264", "aac"]


def test_remux_unfragments_a_fragmented_mp4():
    fragmented = fragmented_mp4(segment())
    assert "moof" in top_level_boxes(fragmented)
    out = remux(fragmented, keep_audio=False)
    boxes = top_level_boxes(out)
    assert "moof" not in boxes and "moov" in boxes and "mdat" in boxes
    assert probe(out).frames == 30


def test_remux_keeps_creation_time():
    out = remux(segment(start_text="2024-05-01T10:00:00Z"), keep_audio=False)
    assert probe(out).creation_time_us == START_US


@pytest.mark.parametrize("container", ["mp4", "mpegts"])
def test_a_body_read_into_a_bytearray_is_taken_as_bytes_are(container):
    # The push handler reads a body with a Content-Length into one bytearray, which
    # the demuxer reads through a memoryview (io.BytesIO would copy it).
    data = segment(container=container)
    assert sniff_container(bytearray(data)) == container
    assert probe(bytearray(data)) == probe(data)
    assert remux(bytearray(data), False) == remux(data, False)
    with pytest.raises(BadRequest):
        probe(bytearray(data[: len(data) // 2]))
