"""Synthetic CCTV segments for the demo camera, the tests and the benchmarks.

A generated segment looks like a library camera's view: a bookshelf whose
spines carry large, high-contrast titles (``SHELF_REGION``), a public computer
screen with readable text (``SCREEN_REGION``), a timestamp overlay and a
"patron" walking across the floor, so consecutive frames differ. The regions
are exported as normalized polygons so a test or the demo can build masks over
exactly what must disappear, then check (even with OCR) that it did.

Frames are drawn once per size in BGR with OpenCV, converted once to I420 and
then only the moving parts are redrawn on the planes: a 2 s 640x360 segment
costs a few tens of milliseconds, most of it in libx264.
"""

from __future__ import annotations

import io
import random
from datetime import datetime, timedelta, timezone
from fractions import Fraction
from functools import lru_cache

import av
import cv2
import numpy as np
from av.video.frame import VideoFrame

Polygon = tuple[tuple[float, float], ...]

# Normalized (x, y) polygons, clockwise from top-left. The shelf is an
# axis-aligned rectangle; the screen is a quadrilateral seen a little in
# perspective, so masks are exercised on a polygon that is not a box.
SHELF_REGION: Polygon = ((0.04, 0.16), (0.46, 0.16), (0.46, 0.86), (0.04, 0.86))
SCREEN_REGION: Polygon = ((0.56, 0.20), (0.94, 0.23), (0.94, 0.67), (0.56, 0.70))
# The burnt-in clock; never masked, so tests can see frames really change.
TIMESTAMP_REGION: Polygon = ((0.0, 0.0), (0.52, 0.0), (0.52, 0.09), (0.0, 0.09))

# The text drawn inside the regions: what OCR must find before redaction and
# must not find after.
SHELF_TITLES: tuple[str, ...] = (
    "PRIVACY", "LAW", "HEALTH", "RIGHTS", "DEBT", "FAITH", "ASYLUM", "DIVORCE", "ADDICTION",
)
SCREEN_LINES: tuple[str, ...] = ("SEARCH:", "HIV TESTING", "NEAR ME")

_BOOKS = 6  # 3 shelves x 2 face-out books
AUDIO_RATE = 48_000
_DEFAULT_START = datetime(2024, 1, 1, tzinfo=timezone.utc)


def changed_size(width: int, height: int) -> tuple[int, int]:
    """The frame size a segment switches to at ``size_change_at`` (3/4, even)."""
    return _even(width * 3 // 4), _even(height * 3 // 4)


def shelf_titles(seed: int = 0) -> tuple[str, ...]:
    """The six titles on the shelf of segments made with ``seed``, row by row."""
    titles = list(SHELF_TITLES)
    random.Random(seed).shuffle(titles)
    return tuple(titles[:_BOOKS])


def make_segment(
    seconds: float = 2.0,
    fps: int = 15,
    width: int = 640,
    height: int = 360,
    *,
    start_text: str | None = None,
    with_audio: bool = False,
    container: str = "mp4",
    gop: int | None = None,
    seed: int = 0,
    size_change_at: float | None = None,
) -> bytes:
    """Return an H.264 (libx264, yuv420p) segment, entirely in memory.

    ``start_text`` is the RFC 3339 wall-clock time of the first frame: the
    overlay counts from it and, in MP4, it becomes the container's
    ``creation_time``. ``gop`` is the keyframe interval in frames (default: one
    per second). ``container`` is ``"mp4"`` or ``"mpegts"``. ``with_audio`` adds
    a mono AAC tone. ``size_change_at`` (seconds) switches the frame size to
    ``changed_size(width, height)`` from that instant on, as a camera does when
    its stream profile is changed.
    """
    if width % 2 or height % 2 or width < 64 or height < 64:
        raise ValueError(f"frame size must be even and at least 64x64, got {width}x{height}")
    if container not in ("mp4", "mpegts"):
        raise ValueError(f"container must be 'mp4' or 'mpegts', got {container!r}")
    start = _parse_start(start_text)
    frames = max(1, round(seconds * fps))
    change_frame = frames if size_change_at is None else max(0, round(size_change_at * fps))
    buf = io.BytesIO()
    with av.open(buf, mode="w", format=container) as out:
        if start_text is not None and container == "mp4":
            out.metadata["creation_time"] = start.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        stream = out.add_stream("libx264", rate=fps)
        encoder = _configure(stream.codec_context, width, height, fps, gop)
        astream = out.add_stream("aac", rate=AUDIO_RATE, layout="mono") if with_audio else None
        size = (width, height)
        for i in range(frames):
            if i == change_frame:
                _drain(out, stream, encoder)
                size = changed_size(width, height)
                # A new encoder, as a camera restarts its own: in-band SPS/PPS
                # on the next IDR announce the new size.
                encoder = _configure(av.CodecContext.create("libx264", "w"), *size, fps, gop)
                encoder.flags &= ~av.codec.context.Flags.global_header
            frame = _draw(size, seed, start + timedelta(seconds=i / fps), i, fps)
            frame.pts = i
            _mux_all(out, stream, encoder.encode(frame))
        _drain(out, stream, encoder)
        if astream is not None:
            _write_tone(out, astream, frames / fps)
    return buf.getvalue()


def _configure(ctx, width: int, height: int, fps: int, gop: int | None):
    """Set up a libx264 context the way a camera encodes: fixed GOP, no B-frames."""
    ctx.width, ctx.height = width, height
    ctx.pix_fmt = "yuv420p"
    ctx.time_base = Fraction(1, fps)
    ctx.framerate = Fraction(fps)
    ctx.gop_size = gop or fps
    # Cameras send a fixed GOP without B-frames; ultrafast keeps tests quick.
    ctx.options = {"preset": "ultrafast", "crf": "18", "bf": "0", "sc_threshold": "0"}
    return ctx


def _mux_all(out, stream, packets) -> None:
    for packet in packets:
        packet.stream = stream
        out.mux(packet)


def _drain(out, stream, encoder) -> None:
    _mux_all(out, stream, encoder.encode(None))


def _write_tone(out, astream, seconds: float) -> None:
    """A 440 Hz tone, so a test can tell whether audio survived ingest."""
    ctx = astream.codec_context
    n = int(seconds * AUDIO_RATE)
    t = np.arange(n, dtype=np.float32) / AUDIO_RATE
    samples = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    step = ctx.frame_size or 1024
    for pos in range(0, n, step):
        chunk = samples[pos : pos + step]
        frame = av.AudioFrame.from_ndarray(chunk[None, :], format="fltp", layout="mono")
        frame.sample_rate = AUDIO_RATE
        frame.pts = pos
        frame.time_base = Fraction(1, AUDIO_RATE)
        _mux_all(out, astream, astream.encode(frame))
    _mux_all(out, astream, astream.encode(None))


def _parse_start(text: str | None) -> datetime:
    if text is None:
        return _DEFAULT_START
    when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def _even(n: int) -> int:
    return max(2, n - n % 2)


def _px(poly: Polygon, width: int, height: int) -> np.ndarray:
    return np.array([(round(x * width), round(y * height)) for x, y in poly], np.int32)


def _draw(size: tuple[int, int], seed: int, when: datetime, index: int, fps: int) -> VideoFrame:
    """One frame: the static scene plus the clock, a blinking cursor and a walker."""
    width, height = size
    planes = _scene_i420(width, height, seed).copy()
    luma = planes[:height]
    scale = height / 360
    # The clock: white text on a black band (chroma is already neutral there).
    band = _px(TIMESTAMP_REGION, width, height)
    luma[: band[2][1], : band[1][0]] = 16
    label = when.strftime("%Y-%m-%d %H:%M:%S.") + f"{when.microsecond // 1000:03d}"
    cv2.putText(luma, label, (int(6 * scale), int(24 * scale)), cv2.FONT_HERSHEY_SIMPLEX,
                0.62 * scale, 235, max(1, round(1.5 * scale)), cv2.LINE_AA)
    # A cursor blinking on the screen: motion *inside* a masked region.
    if (index // max(1, fps // 3)) % 2 == 0:
        cx, cy = _screen_text_origin(width, height, len(SCREEN_LINES))
        cv2.rectangle(luma, (cx, cy - int(22 * scale)), (cx + int(12 * scale), cy), 16, -1)
    # A patron crossing the floor below the shelf and the screen.
    phase = random.Random(seed).random()
    x = int(((phase + index / (fps * 4)) % 1.0) * width)
    cv2.ellipse(luma, (x, int(height * 0.93)), (int(18 * scale), int(14 * scale)), 0, 0, 360,
                70, -1)
    return VideoFrame.from_ndarray(planes, format="yuv420p")


def _screen_text_origin(width: int, height: int, line: int) -> tuple[int, int]:
    """Baseline of text line ``line`` on the screen (left inner edge)."""
    x0 = SCREEN_REGION[0][0] * width
    y0 = SCREEN_REGION[1][1] * height
    scale = height / 360
    return int(x0 + 16 * scale), int(y0 + (40 + 42 * line) * scale)


@lru_cache(maxsize=16)
def _scene_i420(width: int, height: int, seed: int) -> np.ndarray:
    """The static scene as an I420 array ((h*3/2) x w), built once per size."""
    img = np.empty((height, width, 3), np.uint8)
    # A wall with a gentle vertical gradient, so the background is not flat.
    img[:] = np.linspace(150, 190, height, dtype=np.uint8)[:, None, None]
    _draw_shelf(img, seed)
    _draw_screen(img)
    planes = cv2.cvtColor(img, cv2.COLOR_BGR2YUV_I420)
    planes.flags.writeable = False
    return planes


def _draw_shelf(img: np.ndarray, seed: int) -> None:
    height, width = img.shape[:2]
    scale = height / 360
    shelf = _px(SHELF_REGION, width, height)
    (x0, y0), (x1, y1) = shelf[0], shelf[2]
    cv2.rectangle(img, (x0, y0), (x1, y1), (150, 195, 225), -1)  # light wooden case (BGR)
    titles = shelf_titles(seed)
    rows = 3
    row_h = (y1 - y0) / rows
    pad = int(6 * scale)
    for r in range(rows):
        top = int(y0 + r * row_h) + pad
        bottom = int(y0 + (r + 1) * row_h) - pad
        # Two face-out books per shelf: white covers, big black titles.
        per_row = _BOOKS // rows
        book_w = (x1 - x0 - pad * (per_row + 1)) / per_row
        for b in range(per_row):
            left = int(x0 + pad + b * (book_w + pad))
            right = int(left + book_w)
            cv2.rectangle(img, (left, top), (right, bottom), (255, 255, 255), -1)
            title = titles[r * per_row + b]
            _put_fitted(img, title, left, top, right, bottom)
        board = int(y0 + (r + 1) * row_h)
        cv2.rectangle(img, (x0, board - max(2, int(4 * scale))), (x1, board - 1), (110, 150, 185), -1)


def _put_fitted(img: np.ndarray, text: str, left: int, top: int, right: int, bottom: int) -> None:
    """Draw ``text`` as large as fits in the box, black, centred."""
    font = cv2.FONT_HERSHEY_DUPLEX
    box_w, box_h = right - left - 8, bottom - top - 8
    (tw, th), _ = cv2.getTextSize(text, font, 1.0, 2)
    scale = min(box_w / tw, box_h / (th * 1.6), 1.4 * img.shape[0] / 360)
    thick = max(2, round(2 * scale))
    (tw, th), _ = cv2.getTextSize(text, font, scale, thick)
    org = (left + (right - left - tw) // 2, top + (bottom - top + th) // 2)
    cv2.putText(img, text, org, font, scale, (0, 0, 0), thick, cv2.LINE_AA)


def _draw_screen(img: np.ndarray) -> None:
    height, width = img.shape[:2]
    scale = height / 360
    quad = _px(SCREEN_REGION, width, height)
    cv2.fillPoly(img, [quad], (30, 30, 30))  # bezel
    inner = quad + np.array([[6, 6], [-6, 6], [-6, -6], [6, -6]], np.int32) * max(1, round(scale))
    cv2.fillPoly(img, [inner], (255, 250, 240))  # lit screen
    for i, line in enumerate(SCREEN_LINES):
        org = _screen_text_origin(width, height, i)
        cv2.putText(img, line, org, cv2.FONT_HERSHEY_DUPLEX, 0.95 * scale, (0, 0, 0),
                    max(2, round(2 * scale)), cv2.LINE_AA)
