"""Masking at ingest: decode, paint the masks on the YUV planes, re-encode H.264.

Everything happens in memory (invariant 1: no unmasked footage on disk):
PyAV decodes the upload, ``masking`` paints each frame's Y/U/V planes in
place, libx264 (through PyAV) encodes and the MP4 muxer writes to a BytesIO.
A camera without masks takes the remux fast path (``probe.remux``), which
copies packets without decoding them.

What the output keeps from the input: frame count, each frame's timestamp
(pts, same time base) and keyframe positions (a decoded key frame is sent to
the encoder as a forced IDR; x264's own keyframe placement and scene cuts are
off), so segment boundaries and seeking behave as the camera made them.
Audio is dropped unless ``keep_audio`` (then its packets are copied).

A mid-stream resolution change is masked at the incoming size (the plans are
cached per size) and the frame is then scaled to the segment's first size:
one H.264 stream with one SPS plays in every player, which an MP4 with an
in-band size change does not.

This is CPU-bound and synchronous; callers on the event loop run it in an
executor. Errors are the ones ``probe`` raises: 415 for non-video, 400
``corrupt_video`` for a video that does not decode.
"""

from __future__ import annotations

import io
import queue
import threading
from dataclasses import dataclass
from fractions import Fraction
from typing import BinaryIO, Iterator, Sequence, TypeVar

import av
import cv2
import numpy as np
from av.video.frame import PictureType

from gateway.errors import BadRequest
from gateway.media import probe as probe_mod
from gateway.media.masking import Mask, MaskPlan, plan_for
from gateway.media.probe import CORRUPT, corrupt_on_error, open_input, prepare_decoder

T = TypeVar("T")

__all__ = ["Mask", "RedactResult", "redact", "draw_preview", "ENCODER_THREADS", "KEYFRAME_OPTIONS"]

# libx264 threads: 0 lets x264 pick (1.5 x cores). On 2 cores no fixed count
# (1-4) measured reliably faster (see bench/redact.md).
ENCODER_THREADS = 0
# Keyframes only where the input had them: a decoded key frame goes to x264
# with pict_type I, which forced-idr turns into an IDR; x264's own periodic
# keyframes and scene-cut keyframes are off.
KEYFRAME_OPTIONS = {"forced-idr": "1", "x264-params": "keyint=infinite:scenecut=0"}


@dataclass(frozen=True)
class RedactResult:
    """The masked segment (a plain MP4) and what ingest records about it."""

    data: bytes  # empty when the MP4 went to the caller's ``out``
    frames: int
    duration_us: int
    width: int
    height: int
    reencoded: bool  # False when the no-mask remux path was taken
    creation_time_us: int | None = None  # the input container's, as probe reports it


def redact(
    data: bytes,
    masks: Sequence[Mask],
    *,
    keep_audio: bool = False,
    crf: int = 23,
    preset: str = "veryfast",
    threads: int = ENCODER_THREADS,
    out: BinaryIO | None = None,
) -> RedactResult:
    """Mask ``data`` (MP4/MPEG-TS bytes) and return an H.264 MP4; no masks -> remux.

    With ``out`` (a seekable writer such as ``vault.sealbuf.SealedBuffer``) the
    MP4 is written there as it is made and ``RedactResult.data`` is empty:
    the output is then never whole in memory here.
    """
    masks = tuple(masks)
    if not masks:
        remuxed = _try_remux(data, keep_audio, out)
        if remuxed is not None:
            return remuxed
    return _transcode(data, masks, keep_audio=keep_audio, crf=crf, preset=preset, threads=threads,
                      out=out)


def _try_remux(data: bytes, keep_audio: bool, out: BinaryIO | None) -> RedactResult | None:
    """The fast path; None when the codec cannot go into MP4 as it is."""
    try:
        mp4, stats = probe_mod.remux_with_stats(data, keep_audio, out)
    except probe_mod.NotRemuxable:
        return None
    return RedactResult(mp4, stats.frames, stats.duration_us, stats.width, stats.height, False,
                        stats.creation_time_us)


class _Encoder:
    """The output MP4: a libx264 stream fed with masked frames, and copied audio."""

    def __init__(self, vin, ain, metadata, *, crf: int, preset: str, threads: int,
                 sink: BinaryIO | None = None) -> None:
        self.sink = sink
        self.buf = io.BytesIO() if sink is None else sink
        self.out = av.open(self.buf, "w", format="mp4")
        if metadata.get("creation_time"):
            self.out.metadata["creation_time"] = metadata["creation_time"]
        rate = vin.average_rate or vin.guessed_rate or Fraction(15)
        self.stream = self.out.add_stream("libx264", rate=rate)
        ctx = self.stream.codec_context
        self.width, self.height = _even(vin.codec_context.width), _even(vin.codec_context.height)
        ctx.width, ctx.height = self.width, self.height
        ctx.pix_fmt = "yuv420p"
        self.time_base = vin.time_base or Fraction(1, 90_000)
        ctx.time_base = self.time_base
        self.stream.time_base = self.time_base
        ctx.thread_count = threads
        ctx.options = {"preset": preset, "crf": str(crf), **KEYFRAME_OPTIONS}
        self.audio = self.out.add_stream_from_template(ain) if ain is not None else None

    def encode(self, frame: av.VideoFrame | None) -> None:
        for packet in self.stream.encode(frame):
            self.out.mux(packet)

    def copy_audio(self, packet: av.Packet) -> None:
        if packet.dts is None and packet.pts is None:
            return  # end-of-stream marker
        packet.stream = self.audio
        self.out.mux(packet)

    def finish(self) -> bytes:
        self.encode(None)
        self.out.close()
        return self.buf.getvalue() if self.sink is None else b""

    def close(self) -> None:
        """Release the muxer (idempotent; after an error the output is discarded)."""
        try:
            self.out.close()
        except av.FFmpegError:
            pass  # closing a half-written MP4 after a failure; nothing to keep


def _even(n: int) -> int:
    # libx264 in 4:2:0 needs even sizes; a (rare) odd-sized source is scaled by a pixel.
    return max(2, n - n % 2)


def _transcode(data: bytes, masks: tuple[Mask, ...], *, keep_audio: bool, crf: int, preset: str,
               threads: int, out: BinaryIO | None = None) -> RedactResult:
    kind, container = open_input(data)
    with container:
        vin = container.streams.video[0]
        prepare_decoder(vin)
        ain = container.streams.audio[0] if keep_audio and container.streams.audio else None
        enc = _Encoder(vin, ain, container.metadata, crf=crf, preset=preset, threads=threads,
                       sink=out)
        state = _FrameState()
        try:
            with corrupt_on_error("the video does not decode"):
                # Decode and mask on a second thread while this one encodes:
                # PyAV drops the GIL inside FFmpeg, so the two overlap.
                for item in in_background(_decode_and_mask(container, vin, ain, masks, enc, state)):
                    if isinstance(item, av.Packet):
                        enc.copy_audio(item)
                    else:
                        enc.encode(item)
                mp4 = enc.finish()
        finally:
            enc.close()
        if state.frames == 0:
            raise BadRequest("the video stream has no decodable frame", code=CORRUPT)
        if kind == "mpegts" and state.frames < state.packets:
            # As in probe: a TS cut between two packets ends in half a frame, dropped silently.
            raise BadRequest(f"the MPEG-TS stream is cut short: {state.packets} video packets "
                             f"but {state.frames} frames decode (the last is incomplete)",
                             code=CORRUPT)
        duration = probe_mod.span_us(state.pts, state.last_duration, vin)
        created = probe_mod.creation_time_us(container.metadata.get("creation_time"))
    return RedactResult(mp4, state.frames, duration, enc.width, enc.height, True, created)


def _decode_and_mask(container, vin, ain, masks: tuple[Mask, ...], enc: "_Encoder",
                     state: "_FrameState") -> Iterator[av.VideoFrame | av.Packet]:
    """Masked frames ready to encode, interleaved with the audio packets to copy."""
    for packet in container.demux(*(s for s in (vin, ain) if s is not None)):
        if packet.stream.index == vin.index:
            state.packets += 1 if packet.size else 0  # the last, empty one flushes
            for frame in packet.decode():
                yield _mask_frame(frame, masks, enc, state)
        else:
            yield packet


_DONE = object()


def in_background(items: Iterator[T], depth: int = 4) -> Iterator[T]:
    """Run the iterator on a worker thread, ``depth`` items ahead; re-raise its errors here.

    If the consumer stops early (an exception, a close) the worker is told to
    stop and joined, so no thread outlives the call.
    """
    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        try:
            for item in items:
                if not put((item, None)):
                    return
            put((_DONE, None))
        except BaseException as exc:  # handed to the consumer, re-raised there
            put((_DONE, exc))

    worker = threading.Thread(target=work, name="redact-decode", daemon=True)
    worker.start()
    try:
        while True:
            item, exc = q.get()
            if item is _DONE:
                if exc is not None:
                    raise exc
                return
            yield item
    finally:
        stop.set()
        worker.join()


class _FrameState:
    """Per-segment bookkeeping across frames."""

    def __init__(self) -> None:
        self.frames = 0
        self.packets = 0  # video packets demuxed (with data)
        self.pts: list[int] = []
        self.last_duration = 0
        self.last_pts: int | None = None


def _mask_frame(frame: av.VideoFrame, masks: tuple[Mask, ...], enc: _Encoder,
                state: _FrameState) -> av.VideoFrame:
    """Mask one decoded frame and make it ready for the encoder."""
    probe_mod.check_frame(frame)
    key = frame.key_frame
    pts = frame.pts
    if pts is None or (state.last_pts is not None and pts <= state.last_pts):
        # Missing or repeated timestamps would stop the muxer; step one tick on.
        pts = 0 if state.last_pts is None else state.last_pts + 1
    if frame.format.name != "yuv420p":
        frame = frame.reformat(format="yuv420p")
    else:
        # Decoded frames share buffers with the decoder's reference pictures.
        frame.make_writable()
    apply_masks(frame, plan_for(masks, frame.width, frame.height))
    if (frame.width, frame.height) != (enc.width, enc.height):
        frame = frame.reformat(width=enc.width, height=enc.height, format="yuv420p")
    frame.pts = pts
    frame.time_base = enc.time_base
    frame.pict_type = PictureType.I if key else PictureType.NONE
    state.frames += 1
    state.pts.append(pts)
    state.last_pts = pts
    state.last_duration = frame.duration or 0
    return frame


def plane_views(frame: av.VideoFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Writable numpy views (height x width) of a yuv420p frame's Y, U, V planes."""
    views = []
    for plane in frame.planes:
        flat = np.frombuffer(plane, np.uint8)
        views.append(flat.reshape(-1, plane.line_size)[: plane.height, : plane.width])
    return views[0], views[1], views[2]


def apply_masks(frame: av.VideoFrame, plan: MaskPlan) -> None:
    """Paint ``plan`` onto a writable yuv420p frame."""
    if plan.ops:
        plan.apply(*plane_views(frame))


_MODE_COLOURS = {"fill": (0, 0, 255), "pixelate": (0, 200, 255), "blur": (255, 128, 0)}  # BGR


def draw_preview(data: bytes, masks: Sequence[Mask], png_path: str) -> str:
    """Write a PNG of the first frame, masked, with each mask's outline and zone drawn.

    The frame is masked before it is drawn so the preview itself is a redacted
    image (it is a file on disk); the outlines show where each mask sits.
    """
    masks = tuple(masks)
    _, container = open_input(data)
    with container:
        vin = container.streams.video[0]
        prepare_decoder(vin)
        with corrupt_on_error("the video does not decode"):
            frame = next(iter(container.decode(vin)), None)
        if frame is None:
            raise BadRequest("the video stream has no decodable frame", code=CORRUPT)
        frame = frame.reformat(format="yuv420p")
        apply_masks(frame, plan_for(masks, frame.width, frame.height))
        image = np.ascontiguousarray(frame.to_ndarray(format="bgr24"))
    h, w = image.shape[:2]
    thick = max(2, h // 240)
    for mask in masks:
        pts = np.array([(round(x * (w - 1)), round(y * (h - 1))) for x, y in mask.polygon], np.int32)
        colour = _MODE_COLOURS[mask.mode]
        cv2.polylines(image, [pts], True, colour, thick, cv2.LINE_AA)
        label = f"{mask.zone} ({mask.mode})"
        org = (int(pts[:, 0].min()) + 4, max(14, int(pts[:, 1].min()) - 6))
        cv2.putText(image, label, org, cv2.FONT_HERSHEY_SIMPLEX, max(0.4, h / 900), colour,
                    max(1, thick // 2), cv2.LINE_AA)
    if not cv2.imwrite(str(png_path), image):
        raise OSError(f"cannot write PNG {png_path}")
    return str(png_path)
