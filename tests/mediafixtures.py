"""Helpers for the media tests: cached synthetic segments, plane decoding, PSNR, tools.

Imported by tests/media/test_media_probe.py, test_redact.py and test_synth.py (not a
conftest, which belongs to the app tests).
"""

from __future__ import annotations

import io
import json
import random
import shutil
import subprocess
from functools import lru_cache
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from gateway.media import synth
from gateway.media.masking import rasterise


@lru_cache(maxsize=32)
def segment(**kw) -> bytes:
    """``synth.make_segment`` memoised: several tests read the same clip."""
    return synth.make_segment(**kw)


def decode(data: bytes) -> list[av.VideoFrame]:
    """All video frames of ``data``, decoded with PyAV."""
    with av.open(io.BytesIO(data)) as container:
        return list(container.decode(video=0))


def planes(frame: av.VideoFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Copies of a yuv420p frame's Y, U, V planes (height x width each)."""
    arr = frame.reformat(format="yuv420p").to_ndarray()
    h, w = frame.height, frame.width
    cw, ch = (w + 1) // 2, (h + 1) // 2
    flat = arr.reshape(-1)
    y = flat[: w * h].reshape(h, w)
    u = flat[w * h : w * h + cw * ch].reshape(ch, cw)
    v = flat[w * h + cw * ch : w * h + 2 * cw * ch].reshape(ch, cw)
    return y, u, v


def bitmap(polygon, width: int, height: int) -> np.ndarray:
    """The pixels a mask covers, as bool."""
    return rasterise(polygon, width, height).astype(bool)


def erode(mask: np.ndarray, px: int) -> np.ndarray:
    if px == 0:
        return mask
    return cv2.erode(mask.astype(np.uint8), np.ones((2 * px + 1, 2 * px + 1), np.uint8)).astype(bool)


def dilate(mask: np.ndarray, px: int) -> np.ndarray:
    return cv2.dilate(mask.astype(np.uint8), np.ones((2 * px + 1, 2 * px + 1), np.uint8)).astype(bool)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def corrupt_mdat(data: bytes, offset: int = 20_000, length: int = 400) -> bytes:
    """Overwrite bytes inside the first frame's slice data with seeded noise."""
    start = data.index(b"mdat") + offset
    noisy = bytearray(data)
    rng = random.Random(1)
    for i in range(start, start + length):
        noisy[i] = rng.randrange(256)
    return bytes(noisy)


def jpeg_bytes() -> bytes:
    ok, buf = cv2.imencode(".jpg", np.full((48, 64, 3), 200, np.uint8))
    assert ok
    return buf.tobytes()


def audio_only_mp4() -> bytes:
    """An MP4 (an .m4a really) with one AAC track and no video."""
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as out:
        stream = out.add_stream("aac", rate=48_000, layout="mono")
        for i in range(20):
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp",
                                               layout="mono")
            frame.sample_rate = 48_000
            frame.pts = i * 1024
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return buf.getvalue()


def fragmented_mp4(data: bytes) -> bytes:
    """Remux ``data`` into a fragmented MP4 (moof/mdat pairs), as many cameras push."""
    buf = io.BytesIO()
    with av.open(io.BytesIO(data)) as src, av.open(
        buf, "w", format="mp4", options={"movflags": "frag_keyframe+empty_moov"}
    ) as out:
        vin = src.streams.video[0]
        vout = out.add_stream_from_template(vin)
        for packet in src.demux(vin):
            if packet.dts is None:
                continue
            packet.stream = vout
            out.mux(packet)
    return buf.getvalue()


def top_level_boxes(data: bytes) -> list[str]:
    """The ISO BMFF box types at the top level of an MP4."""
    boxes, pos = [], 0
    while pos + 8 <= len(data):
        size = int.from_bytes(data[pos : pos + 4], "big")
        kind = data[pos + 4 : pos + 8].decode("latin-1")
        if size == 1:
            size = int.from_bytes(data[pos + 8 : pos + 16], "big")
        boxes.append(kind)
        if size < 8:
            break
        pos += size
    return boxes


def ffprobe(data: bytes, tmp_path: Path) -> dict:
    """ffprobe's JSON for ``data`` (frames counted by decoding); skip when ffprobe is missing."""
    exe = shutil.which("ffprobe")
    if exe is None:
        pytest.skip("ffprobe is not installed (apt install ffmpeg)")
    path = tmp_path / "probe-me.mp4"
    path.write_bytes(data)
    done = subprocess.run(
        [exe, "-v", "error", "-count_frames", "-show_streams", "-show_format", "-of", "json",
         str(path)],
        capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == "", f"ffprobe reported errors: {done.stderr}"
    return json.loads(done.stdout)


def ocr(image: np.ndarray, tmp_path: Path, name: str = "ocr") -> str:
    """Text tesseract reads in a grayscale or BGR image; skip when tesseract is missing."""
    exe = shutil.which("tesseract")
    if exe is None:
        pytest.skip("tesseract is not installed (apt install tesseract-ocr)")
    # Upscaled 2x: tesseract wants glyphs about 30 px tall.
    big = cv2.resize(image, None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC)
    path = tmp_path / f"{name}.png"
    cv2.imwrite(str(path), big)
    done = subprocess.run([exe, str(path), "stdout", "--psm", "11"], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.upper()


def crop(image: np.ndarray, polygon) -> np.ndarray:
    """The bounding box of a normalized polygon."""
    h, w = image.shape[:2]
    xs = [round(x * w) for x, _ in polygon]
    ys = [round(y * h) for _, y in polygon]
    return image[min(ys) : max(ys), min(xs) : max(xs)]


SHELF = synth.SHELF_REGION
SCREEN = synth.SCREEN_REGION
