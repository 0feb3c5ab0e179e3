"""Masking at ingest: what is under a mask is gone in the stored file, the rest is intact.

Pixel checks on the *encoded* output allow for two effects, and only those:

* EDGE_PX = 2: H.264 quantises 4x4/8x8 transform blocks; a block that straddles
  a mask edge (black fill next to white book covers) rings a few pixels into
  the mask, and a 4:2:0 chroma sample spans 2 luma pixels. So the strict
  checks run on the polygon eroded by 2 px.
* FILL_TOLERANCE = 12 levels (of 219 between black 16 and white 235) for that
  ringing; measured at most 9 at crf 23. Text under the mask would show as
  differences of ~200; and 99 % of the pixels must be within 3.

The exact (pre-encoder) behaviour is tested on planes directly, without
tolerance, in the masking tests below.
"""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner
from mediafixtures import (
    SCREEN,
    SHELF,
    bitmap,
    crop,
    decode,
    dilate,
    erode,
    ffprobe,
    ocr,
    planes,
    psnr,
    segment,
)

from gateway.cli.redact import parse_mask_spec, redact_command
from gateway.media import synth
from gateway.media.masking import (
    FILL_C,
    FILL_Y,
    Mask,
    block_size,
    chroma_bitmap,
    masks_from_settings,
    plan_for,
    rasterise,
)
from gateway.media.probe import probe
from gateway.media.redact import RedactResult, draw_preview, redact

EDGE_PX = 2
FILL_TOLERANCE = 12
SHELF_FILL = Mask(SHELF, "fill", "shelves")
SCREEN_FILL = Mask(SCREEN, "fill", "screen")


def assert_filled(y, u, v, polygon, where: str = "") -> None:
    """Every pixel of the eroded polygon is black (Y 16, U/V 128) within the tolerance."""
    h, w = y.shape
    inside = erode(bitmap(polygon, w, h), EDGE_PX)
    assert inside.any()
    dev = np.abs(y[inside].astype(int) - FILL_Y)
    assert dev.max() <= FILL_TOLERANCE, f"{where}: luma off by {dev.max()} inside the mask"
    assert np.percentile(dev, 99) <= 3, where
    # Chroma: samples whose whole 2x2 luma block is inside the eroded polygon.
    inside_c = chroma_bitmap(erode(inside, 1).astype(np.uint8)).astype(bool)
    inside_c &= ~chroma_bitmap((~erode(inside, 1)).astype(np.uint8)).astype(bool)
    for plane in (u, v):
        cdev = np.abs(plane[inside_c].astype(int) - FILL_C)
        assert cdev.max() <= FILL_TOLERANCE, f"{where}: chroma off by {cdev.max()}"


def outside_psnr(before, after, masks, width, height) -> float:
    """Luma PSNR of the output vs the input decode, outside the masks (and their edge band)."""
    covered = np.zeros((height, width), bool)
    for mask in masks:
        covered |= bitmap(mask.polygon, width, height)
    outside = ~dilate(covered, 8)  # one 8x8 transform block of ringing outside
    return psnr(before[outside], after[outside])


# ---------------------------------------------------------------- end to end


@pytest.fixture(scope="module")
def filled():
    """A 2 s 640x360 clip with shelf and screen filled, and its decodes."""
    source = segment()
    result = redact(source, [SHELF_FILL, SCREEN_FILL])
    return source, result, decode(source), decode(result.data)


def test_fill_blacks_out_every_frame_inside_both_masks(filled):
    _, _, _, after = filled
    for i, frame in enumerate(after):
        y, u, v = planes(frame)
        assert_filled(y, u, v, SHELF, f"frame {i} shelf")
        assert_filled(y, u, v, SCREEN, f"frame {i} screen")


def test_the_input_was_not_black_there(filled):
    # Guards the test above: the same check fails on the unmasked input.
    _, _, before, _ = filled
    with pytest.raises(AssertionError):
        assert_filled(*planes(before[0]), SHELF)


def test_outside_the_masks_the_picture_is_kept(filled):
    _, _, before, after = filled
    for b, a in zip(before, after):
        score = outside_psnr(planes(b)[0], planes(a)[0], [SHELF_FILL, SCREEN_FILL], 640, 360)
        assert score > 35, score


def test_frames_timestamps_keyframes_and_duration_are_kept(filled):
    source, result, before, after = filled
    assert isinstance(result, RedactResult) and result.reencoded
    assert (result.frames, result.width, result.height) == (30, 640, 360)
    assert result.duration_us == probe(source).duration_us == 2_000_000
    assert [f.pts for f in after] == [f.pts for f in before]
    assert [f.key_frame for f in after] == [f.key_frame for f in before]
    info = probe(result.data)
    assert (info.codec, info.container, info.keyframes) == ("h264", "mp4", (0, 15))


def test_ffprobe_reads_the_output(filled, tmp_path):
    _, result, _, _ = filled
    info = ffprobe(result.data, tmp_path)
    (stream,) = info["streams"]
    assert (stream["codec_name"], stream["pix_fmt"]) == ("h264", "yuv420p")
    assert int(stream["nb_read_frames"]) == 30
    assert float(info["format"]["duration"]) == pytest.approx(2.0, abs=0.001)


def test_ocr_reads_the_titles_before_and_nothing_after(filled, tmp_path):
    _, _, before, after = filled
    raw = before[3].to_ndarray(format="gray")
    words = set(synth.shelf_titles(0)) | {"SEARCH", "TESTING"}
    seen_before = {w for w in words if w in ocr(raw, tmp_path, "before")}
    assert len(seen_before) >= 5, seen_before  # the text is readable to begin with
    masked = after[3].to_ndarray(format="gray")
    text_after = ocr(masked, tmp_path, "after")
    assert not {w for w in words if w in text_after}, text_after
    assert "2024-01-01" in text_after.replace(" ", "")  # the unmasked clock still reads


def test_ocr_finds_nothing_under_pixelation(tmp_path):
    result = redact(segment(), [Mask(SHELF, "pixelate"), Mask(SCREEN, "pixelate")])
    image = decode(result.data)[3].to_ndarray(format="gray")
    text = ocr(crop(image, SHELF), tmp_path, "shelf") + ocr(crop(image, SCREEN), tmp_path, "scr")
    assert not {w for w in synth.SHELF_TITLES + ("SEARCH", "TESTING") if w in text}, text


def test_pixelate_leaves_no_detail_finer_than_a_block():
    source = segment()
    result = redact(source, [Mask(SHELF, "pixelate")])
    block = block_size(360)
    inside = erode(bitmap(SHELF, 640, 360), EDGE_PX)
    y_before = planes(decode(source)[4])[0]
    y_after = planes(decode(result.data)[4])[0]
    stds_before, stds_after = [], []
    for r in range(0, 360 - block + 1, block):
        for c in range(0, 640 - block + 1, block):
            if inside[r : r + block, c : c + block].all():  # whole blocks only
                stds_before.append(y_before[r : r + block, c : c + block].std())
                stds_after.append(y_after[r : r + block, c : c + block].std())
    assert len(stds_after) >= 20
    assert max(stds_before) > 40  # text strokes: lots of detail inside a block
    assert max(stds_after) < 3, max(stds_after)


def test_blur_removes_fine_detail():
    source = segment()
    result = redact(source, [Mask(SHELF, "blur")])
    inside = erode(bitmap(SHELF, 640, 360), 8)
    lap = [np.abs(np.diff(planes(f)[0].astype(int), axis=1))[inside[:, 1:]].mean()
           for f in (decode(source)[4], decode(result.data)[4])]
    assert lap[1] < lap[0] / 5, lap


@pytest.mark.parametrize("size", [(638, 358), (1280, 720)])
def test_other_sizes_including_not_multiple_of_16(size):
    w, h = size
    source = segment(width=w, height=h, seconds=1.0)
    result = redact(source, [SHELF_FILL, SCREEN_FILL])
    after = decode(result.data)
    assert (result.width, result.height, result.frames) == (w, h, 15)
    assert {(f.width, f.height) for f in after} == {(w, h)}
    for frame in (after[0], after[-1]):
        y, u, v = planes(frame)
        assert_filled(y, u, v, SHELF, f"{w}x{h}")
        assert_filled(y, u, v, SCREEN, f"{w}x{h}")


def test_whole_frame_mask_leaves_nothing(tmp_path):
    result = redact(segment(seconds=1.0), [Mask(((0, 0), (1, 0), (1, 1), (0, 1)))])
    for frame in decode(result.data):
        y, u, v = planes(frame)
        assert np.abs(y.astype(int) - FILL_Y).max() <= 2
        assert np.abs(u.astype(int) - FILL_C).max() <= 2
    assert "2024" not in ocr(decode(result.data)[0].to_ndarray(format="gray"), tmp_path)


def test_polygon_on_the_frame_edge_reaches_the_last_row_and_column():
    corner = Mask(((0.75, 0.75), (1.0, 0.75), (1.0, 1.0), (0.75, 1.0)))
    y, u, v = planes(decode(redact(segment(seconds=0.5), [corner]).data)[0])
    region = y[270 + EDGE_PX :, 480 + EDGE_PX :]  # eroded on the inner sides only
    assert np.abs(region.astype(int) - FILL_Y).max() <= FILL_TOLERANCE
    assert np.abs(u[136:, 241:].astype(int) - FILL_C).max() <= FILL_TOLERANCE


def test_mid_stream_size_change_is_masked_at_both_sizes():
    source = segment(size_change_at=1.0)
    result = redact(source, [SHELF_FILL, SCREEN_FILL])
    after = decode(result.data)
    assert result.frames == len(after) == 30
    assert [f.pts for f in after] == [f.pts for f in decode(source)]
    # One size in the output (the first); frames after the change are scaled
    # after masking, so the masks hold there too.
    assert {(f.width, f.height) for f in after} == {(640, 360)}
    for i in (0, 14, 15, 29):
        y, u, v = planes(after[i])
        assert_filled(y, u, v, SHELF, f"frame {i}")
        assert_filled(y, u, v, SCREEN, f"frame {i}")


def test_creation_time_is_reported_and_kept():
    source = segment(start_text="2024-05-01T10:00:00Z")
    result = redact(source, [SHELF_FILL])
    assert result.creation_time_us == probe(source).creation_time_us == 1_714_557_600_000_000
    assert probe(result.data).creation_time_us == result.creation_time_us
    assert redact(segment(), [SHELF_FILL]).creation_time_us is None


def test_audio_is_dropped_by_default_and_copied_on_request():
    source = segment(with_audio=True)
    assert probe(redact(source, [SHELF_FILL]).data).has_audio is False
    kept = redact(source, [SHELF_FILL], keep_audio=True)
    assert probe(kept.data).has_audio is True
    assert probe(kept.data).frames == 30


def test_mpegts_in_mp4_out():
    result = redact(segment(container="mpegts"), [SHELF_FILL])
    info = probe(result.data)
    assert (info.container, info.frames, info.duration_us) == ("mp4", 30, 2_000_000)
    assert_filled(*planes(decode(result.data)[7]), SHELF, "ts")


def test_no_masks_takes_the_remux_path_and_keeps_the_bitstream():
    source = segment(with_audio=True, start_text="2024-05-01T10:00:00Z")
    result = redact(source, [])
    assert not result.reencoded
    assert (result.frames, result.duration_us, result.width, result.height) == (30, 2_000_000,
                                                                               640, 360)
    info = probe(result.data)
    assert not info.has_audio
    assert info.creation_time_us == result.creation_time_us == probe(source).creation_time_us
    # Not re-encoded: pixel-identical frames.
    for b, a in zip(decode(source), decode(result.data)):
        assert np.array_equal(planes(b)[0], planes(a)[0])


def test_preview_png_shows_masked_frame_with_outlines(tmp_path):
    import cv2

    path = tmp_path / "preview.png"
    draw_preview(segment(), [SHELF_FILL, Mask(SCREEN, "pixelate", "screen")], str(path))
    image = cv2.imread(str(path))
    assert image.shape == (360, 640, 3)
    shelf = erode(bitmap(SHELF, 640, 360), 6)
    assert image[shelf].max() < 40  # masked in the preview too: it is a file on disk
    # The fill outline is drawn in red (BGR).
    edge = bitmap(SHELF, 640, 360) & ~erode(bitmap(SHELF, 640, 360), 2)
    red = (image[..., 2] > 180) & (image[..., 1] < 80) & (image[..., 0] < 80)
    assert red[edge].mean() > 0.5


# ---------------------------------------------------------- masking (exact)


def _planes(width: int, height: int, value: int = 200):
    rng = np.random.default_rng(0)
    y = rng.integers(100, 236, (height, width), dtype=np.uint8)
    u = np.full(((height + 1) // 2, (width + 1) // 2), value, np.uint8)
    return y, u, u.copy()


def test_fill_is_exact_before_encoding_and_touches_nothing_else():
    y, u, v = _planes(638, 358)
    y0, u0 = y.copy(), u.copy()
    plan_for((SHELF_FILL,), 638, 358).apply(y, u, v)
    covered = bitmap(SHELF, 638, 358)
    assert (y[covered] == FILL_Y).all()
    assert np.array_equal(y[~covered], y0[~covered])
    covered_c = chroma_bitmap(covered.astype(np.uint8)).astype(bool)
    assert (u[covered_c] == FILL_C).all() and (v[covered_c] == FILL_C).all()
    assert np.array_equal(u[~covered_c], u0[~covered_c])


def test_a_one_pixel_sliver_still_covers_a_column():
    x = 0.5 + 0.1 / 640  # narrower than a pixel
    sliver = Mask(((x, 0.1), (x + 0.5 / 640, 0.1), (x + 0.5 / 640, 0.9), (x, 0.9)))
    y, u, v = _planes(640, 360)
    plan_for((sliver,), 640, 360).apply(y, u, v)
    assert (y[40:320, 320] == FILL_Y).all()
    assert (u[20:160, 160] == FILL_C).all()
    # And it survives the encoder: redact runs and darkens that column.
    source = segment(seconds=0.5)
    after = planes(decode(redact(source, [sliver]).data)[0])[0]
    before = planes(decode(source)[0])[0]
    assert after[60:300, 320].mean() < before[60:300, 320].mean() - 20


def test_pixelate_is_one_value_per_block_before_encoding():
    y, u, v = _planes(640, 360)
    plan_for((Mask(((0, 0), (1, 0), (1, 1), (0, 1)), "pixelate"),), 640, 360).apply(y, u, v)
    b = block_size(360)
    for r in range(0, 360, b):
        for c in range(0, 640, b):
            assert np.ptp(y[r : r + b, c : c + b]) == 0


def test_block_size_is_at_least_16_and_even():
    assert block_size(360) == 16
    assert block_size(720) == 30
    assert block_size(1080) == 46
    assert all(block_size(h) % 2 == 0 and block_size(h) >= 16 for h in range(64, 2200, 7))


def test_overlapping_masks_strongest_wins():
    y, u, v = _planes(640, 360)
    whole = ((0, 0), (1, 0), (1, 1), (0, 1))
    plan_for((Mask(whole, "fill"), Mask(whole, "blur")), 640, 360).apply(y, u, v)
    assert (y == FILL_Y).all()


def test_rasterise_is_cached_per_size():
    masks = (Mask(((0.1, 0.1), (0.3, 0.1), (0.2, 0.4)), "fill", "reading"),)
    a = plan_for(masks, 320, 240)
    assert plan_for(masks, 320, 240) is a
    assert plan_for(masks, 640, 480) is not a
    assert rasterise(masks[0].polygon, 640, 480).sum() > 3.5 * rasterise(masks[0].polygon, 320,
                                                                       240).sum()


@pytest.mark.parametrize("polygon, mode, message", [
    (((0, 0), (1, 0)), "fill", "at least 3"),
    (((0, 0), (1.2, 0), (1, 1)), "fill", "outside 0..1"),
    (((0, 0), (1, 0), (1, 1)), "smudge", "mode"),
])
def test_mask_validation(polygon, mode, message):
    with pytest.raises(ValueError, match=message):
        Mask(polygon, mode)


def test_masks_from_settings():
    from gateway.config import MaskSettings

    settings = MaskSettings(zone="screen", polygon=[[0, 0], [1, 0], [1, 1]], mode="pixelate")
    assert masks_from_settings([settings]) == (Mask(((0, 0), (1, 0), (1, 1)), "pixelate", "screen"),)


# ------------------------------------------------------------------- CLI


@pytest.mark.parametrize("spec, points", [
    ("0,0 1,0 1,1", ((0.0, 0.0), (1.0, 0.0), (1.0, 1.0))),
    ("  0.1,0.2   0.5,0.2\t0.5,0.9 0.1,0.9 ", ((0.1, 0.2), (0.5, 0.2), (0.5, 0.9), (0.1, 0.9))),
])
def test_parse_mask_spec(spec, points):
    assert parse_mask_spec(spec) == points


@pytest.mark.parametrize("spec, message", [
    ("0,0 1,0", "at least 3 points, got 2"),
    ("", "at least 3 points, got 0"),
    ("0,0 1.5,0 1,1", "'1.5,0' is out of range"),
    ("0,0 -0.1,0 1,1", "out of range"),
    ("0,0 a,0 1,1", "'a,0': coordinates must be numbers"),
    ("0,0 nan,0 1,1", "finite"),
    ("0,0 1;0 1,1", "not of the form x,y"),
    ("0,0,0 1,0 1,1", "not of the form x,y"),
    ("0,0 0.5,0.5 1,1", "zero area"),
    ("0,0 1,1 1,0 0,1", "edges cross"),
])
def test_parse_mask_spec_says_what_is_wrong(spec, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        parse_mask_spec(spec)


def test_cli_redacts_a_file_and_writes_a_preview(tmp_path):
    src, out, png = tmp_path / "in.mp4", tmp_path / "out.mp4", tmp_path / "p.png"
    src.write_bytes(segment(seconds=1.0, with_audio=True))
    spec = " ".join(f"{x},{y}" for x, y in SHELF)
    run = CliRunner().invoke(redact_command, [str(src), str(out), "--mask", spec, "--mask",
                                              "0.56,0.2 0.94,0.23 0.94,0.67 0.56,0.7",
                                              "--mode", "pixelate", "--preview", str(png)])
    assert run.exit_code == 0, run.output
    assert "15 frames" in run.output
    info = probe(out.read_bytes())
    assert (info.frames, info.has_audio) == (15, False)
    assert png.stat().st_size > 0


def test_cli_bad_spec_is_a_usage_error(tmp_path):
    src = tmp_path / "in.mp4"
    src.write_bytes(segment(seconds=0.5))
    run = CliRunner().invoke(redact_command, [str(src), str(tmp_path / "o.mp4"), "--mask", "0,0 1,0"])
    assert run.exit_code == 2
    assert "at least 3 points" in run.output and "--mask" in run.output
    assert not (tmp_path / "o.mp4").exists()


def test_cli_not_a_video_is_a_clean_error(tmp_path):
    src = tmp_path / "notes.txt"
    src.write_text("not a video\n" * 50)
    run = CliRunner().invoke(redact_command, [str(src), str(tmp_path / "o.mp4"), "--mask",
                                              "0,0 1,0 1,1"])
    assert run.exit_code == 1
    assert "not a video container" in run.output
    assert not (tmp_path / "o.mp4").exists()
