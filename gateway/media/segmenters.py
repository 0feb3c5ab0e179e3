"""Streaming segmenters: packets in, finished in-memory MP4 segments out (docs/rtsp.md).

``MaskingSegmenter`` decodes, masks and re-encodes frame by frame, with a new
encoder (so an IDR) at each cut; ``RemuxSegmenter`` copies packets and cuts
on the camera's keyframes. ``WallClock`` maps stream timestamps to wall-clock
time (RTCP when the camera sends it, else arrival). Synchronous and
CPU-bound: ``gateway.media.stream`` runs them on the camera's own threads.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass
from fractions import Fraction
from typing import Callable

import av
from av.video.frame import PictureType

from .h264 import _first_sps, h264_sps_size, parameter_sets
from .masking import Mask, plan_for
from .probe import MAX_PIXELS
from .redact import ENCODER_THREADS, apply_masks

US = 1_000_000
#: Decoder threads for masked cameras: frame threading (bench/cameras.py measures it).
DECODER_THREAD_TYPE = "AUTO"


@dataclass(frozen=True)
class StreamSegment:
    """One finished segment: a plain MP4 and what the catalog records about it."""

    data: bytes
    start_us: int
    end_us: int
    frames: int
    width: int
    height: int
    masked: bool
    time_source: str  # "rtcp" | "arrival"

    @property
    def duration_us(self) -> int:
        return self.end_us - self.start_us


@dataclass(frozen=True)
class StreamOptions:
    segment_us: int = 10 * US
    transport: str = "tcp"
    open_timeout_s: float = 10.0
    read_timeout_s: float = 10.0
    crf: int = 23
    preset: str = "veryfast"
    encoder_threads: int = ENCODER_THREADS
    #: Queue between reader and codec thread, in seconds of input (then segments drop).
    max_lag_s: float | None = None


# ---------------------------------------------------------------- timing


def prft_wallclock_us(packet: av.Packet) -> int | None:
    """The producer reference time (sender's NTP wall-clock, us) FFmpeg attached, if any."""
    if not packet.has_sidedata:
        return None
    for sd in packet.iter_sidedata():
        if getattr(sd, "data_type", None) == "prft" or sd.data_size == 16:
            raw = bytes(sd)
            if len(raw) >= 8:
                return struct.unpack_from("<q", raw)[0]
    return None


class WallClock:
    """Maps stream timestamps to wall-clock us: anchored by RTCP (PRFT) when present, else arrival."""

    def __init__(self, time_base: Fraction, now_us: Callable[[], int]) -> None:
        self.tb = time_base
        self.now_us = now_us
        self.anchor: tuple[int, int] | None = None  # (pts, wall_us)
        self.source = "arrival"

    def observe(self, packet: av.Packet) -> None:
        if packet.pts is None:
            return
        ntp = prft_wallclock_us(packet)
        if ntp is not None:
            self.anchor, self.source = (packet.pts, ntp), "rtcp"
        elif self.source == "arrival":
            # The earliest arrival a packet implies for the anchor: packets that
            # queued up while the connection was set up arrive late together.
            now = self.now_us()
            if self.anchor is None:
                self.anchor = (packet.pts, now)
            else:
                p0, w0 = self.anchor
                implied = now - int((packet.pts - p0) * self.tb * US)
                if implied < w0:
                    self.anchor = (p0, implied)

    def wall(self, pts: int) -> int:
        assert self.anchor is not None
        p0, w0 = self.anchor
        return w0 + int((pts - p0) * self.tb * US)


# ---------------------------------------------------------------- segmenters


class _Sink:
    """Hands finished segments on; counts the ones discarded."""

    def __init__(self, on_segment: Callable[[StreamSegment], None],
                 on_drop: Callable[[str], None]) -> None:
        self.on_segment, self.on_drop = on_segment, on_drop


class MaskingSegmenter:
    """Decode -> mask -> encode, frame by frame; a new encoder (so an IDR) at each cut."""

    def __init__(self, vin, masks: tuple[Mask, ...], opts: StreamOptions, clock: WallClock,
                 sink: _Sink) -> None:
        self.vin, self.masks, self.opts, self.clock, self.sink = vin, masks, opts, clock, sink
        self.tb = vin.time_base or Fraction(1, 90_000)
        self.rate = vin.average_rate or vin.guessed_rate or Fraction(15)
        self.decoder = self._new_decoder()
        self.cur: _MaskedOut | None = None
        self.need_key = True

    def _new_decoder(self):
        dec = av.CodecContext.create(self.vin.codec_context.name, "r")
        if self.vin.codec_context.extradata:
            dec.extradata = self.vin.codec_context.extradata
        dec.thread_type = DECODER_THREAD_TYPE
        return dec

    def feed(self, packet: av.Packet) -> None:
        if self.need_key:
            if not packet.is_keyframe:
                return
            self.need_key = False
        try:
            frames = self.decoder.decode(packet)
        except av.FFmpegError:
            self.discard("corrupt")
            return
        for frame in frames:
            self._frame(frame)

    def _frame(self, frame: av.VideoFrame) -> None:
        if frame.pts is None or frame.width * frame.height > MAX_PIXELS:
            return
        wall = self.clock.wall(frame.pts)
        cur = self.cur
        if cur is not None and ((frame.width, frame.height) != (cur.src_w, cur.src_h)
                                or wall - cur.start_us >= self.opts.segment_us
                                or frame.pts <= cur.last_pts):
            self._finish()
            cur = None
        if cur is None:
            cur = self.cur = _MaskedOut(frame, wall, self.clock.source, self.rate, self.tb,
                                        self.opts)
        if frame.format.name != "yuv420p":
            frame = frame.reformat(format="yuv420p")
        else:
            frame.make_writable()
        apply_masks(frame, plan_for(self.masks, frame.width, frame.height))
        cur.encode(frame)

    def _finish(self) -> None:
        cur, self.cur = self.cur, None
        if cur is not None:
            self.sink.on_segment(cur.finish(masked=True))

    def discard(self, reason: str | None) -> None:
        """Drop the segment in progress (counted under ``reason``) and resync at a keyframe."""
        cur, self.cur = self.cur, None
        if cur is not None:
            cur.close()
            if reason is not None:
                self.sink.on_drop(reason)
        self.decoder = self._new_decoder()
        self.need_key = True

    def close(self, reason: str = "interrupted") -> None:
        self.discard(reason)


class _MaskedOut:
    """One segment being encoded: libx264 into an MP4 in a BytesIO."""

    def __init__(self, first: av.VideoFrame, start_us: int, source: str, rate, tb,
                 opts: StreamOptions) -> None:
        self.src_w, self.src_h = first.width, first.height
        self.width, self.height = first.width - first.width % 2, first.height - first.height % 2
        self.start_us, self.source, self.tb = start_us, source, tb
        self.first_pts = first.pts
        self.last_pts = first.pts - 1
        self.last_dur = 0
        self.frames = 0
        self.buf = io.BytesIO()
        self.out = av.open(self.buf, "w", format="mp4")
        self.stream = self.out.add_stream("libx264", rate=rate)
        ctx = self.stream.codec_context
        ctx.width, ctx.height, ctx.pix_fmt = self.width, self.height, "yuv420p"
        ctx.time_base = tb
        self.stream.time_base = tb
        ctx.thread_count = opts.encoder_threads
        ctx.options = {"preset": opts.preset, "crf": str(opts.crf), "forced-idr": "1",
                       "x264-params": "keyint=infinite:scenecut=0"}

    def encode(self, frame: av.VideoFrame) -> None:
        pts = frame.pts
        if (frame.width, frame.height) != (self.width, self.height):
            frame = frame.reformat(width=self.width, height=self.height, format="yuv420p")
        frame.pts = pts - self.first_pts
        frame.time_base = self.tb
        frame.pict_type = PictureType.I if self.frames == 0 else PictureType.NONE
        if self.frames:
            self.last_dur = pts - self.last_pts
        self.last_pts = pts
        self.frames += 1
        for packet in self.stream.encode(frame):
            self.out.mux(packet)

    def finish(self, masked: bool) -> StreamSegment:
        for packet in self.stream.encode(None):
            self.out.mux(packet)
        self.out.close()
        step = self.last_dur or int(1 / (self.stream.average_rate or 15) / self.tb)
        dur_us = int((self.last_pts - self.first_pts + step) * self.tb * US)
        return StreamSegment(self.buf.getvalue(), self.start_us, self.start_us + dur_us,
                             self.frames, self.width, self.height, masked, self.source)

    def close(self) -> None:
        try:
            self.out.close()
        except av.FFmpegError:
            pass  # a half-written segment being thrown away


class RemuxSegmenter:
    """Copy packets into MP4 segments cut on the camera's keyframes; no decoding."""

    def __init__(self, vin, opts: StreamOptions, clock: WallClock, sink: _Sink) -> None:
        self.vin, self.opts, self.clock, self.sink = vin, opts, clock, sink
        self.hevc = vin.codec_context.name == "hevc"
        self.tb = vin.time_base or Fraction(1, 90_000)
        self.cur: _RemuxOut | None = None
        self.sps: bytes | None = None

    def feed(self, packet: av.Packet) -> None:
        if packet.pts is None or packet.dts is None:
            return
        cur = self.cur
        if packet.is_keyframe:
            sps = parameter_sets(bytes(packet), self.hevc)
            changed = sps is not None and self.sps is not None and sps != self.sps
            wall = self.clock.wall(packet.pts)
            if cur is not None and (changed or wall - cur.start_us >= self.opts.segment_us):
                self._finish()
                cur = None
            if sps is not None:
                self.sps = sps
            if cur is None:
                first = None if sps is None or self.hevc else _first_sps(bytes(packet))
                size = None if first is None else h264_sps_size(first)
                cur = self.cur = _RemuxOut(self.vin, packet, wall, self.clock.source, self.tb,
                                           size)
        elif cur is None:
            return  # wait for a keyframe
        if packet.dts <= cur.last_dts:
            self.discard("corrupt")  # timestamps went backwards: the camera restarted
            return
        cur.add(packet)

    def _finish(self) -> None:
        cur, self.cur = self.cur, None
        if cur is not None:
            self.sink.on_segment(cur.finish())

    def discard(self, reason: str) -> None:
        cur, self.cur = self.cur, None
        if cur is not None:
            cur.close()
            self.sink.on_drop(reason)

    def close(self, reason: str = "interrupted") -> None:
        self.discard(reason)


class _RemuxOut:
    def __init__(self, vin, first: av.Packet, start_us: int, source: str, tb,
                 size: tuple[int, int] | None = None) -> None:
        self.start_us, self.source, self.tb = start_us, source, tb
        self.first_dts, self.first_pts = first.dts, first.pts
        self.last_dts = first.dts - 1
        self.max_pts = first.pts
        self.last_dur = 0
        self.frames = 0
        self.width, self.height = vin.codec_context.width, vin.codec_context.height
        self.buf = io.BytesIO()
        self.out = av.open(self.buf, "w", format="mp4")
        self.stream = self.out.add_stream_from_template(vin)
        self.stream.time_base = tb
        if size is not None and size != (self.width, self.height):
            # A new SPS in band (the camera changed its resolution): the MP4's
            # track header says the size the pictures really have.
            self.width, self.height = size
            self.stream.codec_context.width, self.stream.codec_context.height = size

    def add(self, packet: av.Packet) -> None:
        if self.frames:
            self.last_dur = packet.dts - self.last_dts
        self.last_dts = packet.dts
        self.max_pts = max(self.max_pts, packet.pts)
        pts, dts = packet.pts, packet.dts
        packet.pts, packet.dts = pts - self.first_dts, dts - self.first_dts
        packet.stream = self.stream
        self.frames += 1
        self.out.mux(packet)

    def finish(self) -> StreamSegment:
        self.out.close()
        dur_us = int((self.max_pts - self.first_pts + (self.last_dur or 0)) * self.tb * US)
        return StreamSegment(self.buf.getvalue(), self.start_us, self.start_us + dur_us,
                             self.frames, self.width, self.height, False, self.source)

    def close(self) -> None:
        try:
            self.out.close()
        except av.FFmpegError:
            pass
