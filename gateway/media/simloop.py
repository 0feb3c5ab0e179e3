"""Loop files for the simulated RTSP camera (scripts/rtsp-camera.py).

The camera simulator runs under Debian's Python with GStreamer only, so it
cannot draw the library scene itself. This writes the scene of
``gateway.media.synth`` (shelf titles, a public screen, a clock, a walking
patron) as H.264 in Annex-B byte-stream form, which the simulator serves in a
loop without re-encoding:

    python -m gateway.media.simloop OUT.h264 [--size 1280x720] [--fps 15] [--seconds 4]
"""

from __future__ import annotations

import argparse
import io
from fractions import Fraction
from pathlib import Path

import av

from . import synth


def elementary(seconds: float = 4.0, fps: int = 15, width: int = 640, height: int = 360, *,
               seed: int = 0, gop: int | None = None, size_change_at: float | None = None) -> bytes:
    """The synthetic scene as an Annex-B H.264 elementary stream (no container).

    Re-encoded with one slice per picture (frame threads, not slice threads),
    as cameras send it: GStreamer's payloader repeats SPS/PPS before every IDR
    slice, which would split a multi-slice picture in two at the receiver.
    A size change starts a new encoder whose first IDR carries the new SPS.
    """
    mp4 = synth.make_segment(seconds, fps, width, height, seed=seed, gop=gop,
                             size_change_at=size_change_at)
    chunks: list[bytes] = []
    enc = None
    with av.open(io.BytesIO(mp4)) as src:
        for i, frame in enumerate(src.decode(video=0)):
            if enc is None or (frame.width, frame.height) != (enc.width, enc.height):
                if enc is not None:
                    chunks += [bytes(p) for p in enc.encode(None)]
                enc = _encoder(frame.width, frame.height, fps, gop or fps)
            frame.pts, frame.time_base, frame.pict_type = i, Fraction(1, fps), 0
            chunks += [bytes(p) for p in enc.encode(frame)]
        if enc is not None:
            chunks += [bytes(p) for p in enc.encode(None)]
    return b"".join(chunks)


def _encoder(width: int, height: int, fps: int, gop: int):
    enc = av.CodecContext.create("libx264", "w")
    enc.width, enc.height, enc.pix_fmt = width, height, "yuv420p"
    enc.time_base, enc.framerate = Fraction(1, fps), Fraction(fps)
    enc.gop_size = gop
    enc.thread_type = "FRAME"
    # Annex-B with in-band SPS/PPS on every IDR (no global header), no B-frames.
    enc.options = {"preset": "ultrafast", "crf": "18", "bf": "0", "sc_threshold": "0",
                   "x264-params": "repeat-headers=1"}
    return enc


def write_loop(path: str | Path, seconds: float = 4.0, fps: int = 15, width: int = 640,
               height: int = 360, **kw) -> Path:
    """Write ``elementary(...)`` to ``path``; return it."""
    p = Path(path)
    p.write_bytes(elementary(seconds, fps, width, height, **kw))
    return p


def main() -> None:
    ap = argparse.ArgumentParser(description="write a loop file for scripts/rtsp-camera.py")
    ap.add_argument("out")
    ap.add_argument("--size", default="640x360")
    ap.add_argument("--fps", type=int, default=15)
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    w, h = (int(v) for v in a.size.split("x"))
    write_loop(a.out, a.seconds, a.fps, w, h, seed=a.seed)


if __name__ == "__main__":
    main()
