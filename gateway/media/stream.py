"""Live streams: pull a camera's RTSP stream and cut it into finished MP4 segments.

Pure media: the only I/O is PyAV's own network read. What it does, per camera:

* ``open_stream`` connects (TCP interleaved by default, or UDP), asks only for
  the video track (``allowed_media_types=video``: audio never even arrives,
  see docs/policies.md on why audio is dropped), and names what went wrong in
  terms an operator can act on (``StreamError.kind``: ``auth``, ``unreachable``,
  ``not_found``, ``no_video``, ``codec``, ``ended``, ``timeout``, ``protocol``).
* ``run_stream`` reads packets until told to stop and feeds a segmenter:

  - ``MaskingSegmenter`` (cameras with masks): decode (frame threads on) ->
    paint the masks on the YUV planes (``gateway.media.masking``) -> libx264,
    frame by frame as packets arrive. A new encoder and a new in-memory MP4
    start at each cut, so every segment begins with an IDR; cuts fall every
    ``segment_us`` of stream time, on any frame, and at a resolution change.
  - ``RemuxSegmenter`` (cameras without masks): packets are copied, never
    decoded; cuts fall on the camera's own keyframes once ``segment_us`` has
    passed, and at a keyframe that carries a new SPS (resolution change).

  Each finished segment (a plain MP4, ``moov`` at the end, no fragments) is
  handed to ``on_segment``. A segment in progress when the stream breaks is
  discarded, never handed on: a half-received segment is never stored.

* Memory is bounded: the reader hands packets to the codec thread through a
  queue of at most ~one segment of *compressed* input; if masking falls behind
  so far that the queue fills, the queue is emptied, the segment in progress
  is discarded and reading resumes at the next keyframe (``on_drop``,
  reason ``behind``). The codec thread holds a few decoded frames and one
  segment of compressed output.

Wall-clock time: when the camera sends RTCP sender reports, FFmpeg attaches a
producer reference time (``PRFT`` side data, the camera's NTP clock) to each
packet; otherwise the time a packet arrives (the injected ``now_us``) anchors
the stream's timestamps. Each segment records which (``time_source``:
``"rtcp"`` or ``"arrival"``).
"""

from __future__ import annotations

import io
import re
import struct
import threading
from collections import deque
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Callable

import av
from av.video.frame import PictureType

from .masking import Mask, plan_for
from .probe import MAX_PIXELS
from .redact import ENCODER_THREADS, apply_masks

US = 1_000_000
#: Codecs an MP4 carries as they are, and the masking decoder takes.
STREAM_CODECS = ("h264", "hevc")
#: Decoder threads for masked cameras: frame threading (issue 11: 61 -> 76 fps at 1080p).
DECODER_THREAD_TYPE = "AUTO"
_USERINFO = re.compile(r"(rtsps?://)[^/@\s]*@", re.IGNORECASE)


def redact_url(text: str, secrets: tuple[str, ...] = ()) -> str:
    """``text`` with any URL user:password replaced by ``***`` and each secret removed."""
    out = _USERINFO.sub(r"\1***@", text)
    for s in secrets:
        if s:
            out = out.replace(s, "***")
    return out


def with_credentials(url: str, user: str | None, password: str | None) -> str:
    """``url`` with ``user:password@`` put in (percent-encoded) when a user is given."""
    if not user:
        return url
    from urllib.parse import quote, urlsplit, urlunsplit

    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    cred = quote(user, safe="") + (":" + quote(password or "", safe="") if password else "")
    return urlunsplit(parts._replace(netloc=f"{cred}@{host}"))


class StreamError(Exception):
    """Why a stream could not be opened or stopped; the message never holds a password."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


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


def open_stream(url: str, opts: StreamOptions, secrets: tuple[str, ...] = ()):
    """Connect and return (container, video stream); StreamError says why not."""
    options = {"rtsp_transport": opts.transport, "allowed_media_types": "video",
               "rtsp_flags": "prefer_tcp" if opts.transport == "tcp" else "",
               "analyzeduration": "1000000", "probesize": "1000000"}
    options = {k: v for k, v in options.items() if v}
    try:
        container = av.open(url, options=options,
                            timeout=(opts.open_timeout_s, opts.read_timeout_s))
    except av.error.HTTPUnauthorizedError:
        raise StreamError("auth", "the camera refused the credentials (401 Unauthorized); "
                          "check rtsp_credentials_file or the URL's user") from None
    except av.error.HTTPForbiddenError:
        raise StreamError("auth", "the camera refused access (403 Forbidden)") from None
    except av.error.HTTPNotFoundError:
        raise StreamError("not_found", "the camera has no such stream (404 Not Found); "
                          "check the path in rtsp_url") from None
    except ConnectionRefusedError:
        raise StreamError("unreachable", "connection refused: nothing listens at that "
                          "host and port") from None
    except (av.error.ExitError, TimeoutError):
        raise StreamError("unreachable", f"no answer within {opts.open_timeout_s:g} s") from None
    except av.FFmpegError as err:
        detail = redact_url(getattr(err, "strerror", None) or str(err), secrets)
        kind = "unreachable" if isinstance(err, (OSError, av.error.InvalidDataError)) else "protocol"
        raise StreamError(kind, f"cannot open the stream (host unreachable, no answer within "
                          f"{opts.open_timeout_s:g} s, or not an RTSP server): {detail}") from None
    if not container.streams.video:
        container.close()
        raise StreamError("no_video", "the stream has no video track")
    vin = container.streams.video[0]
    codec = vin.codec_context.name
    if codec not in STREAM_CODECS:
        container.close()
        raise StreamError("codec", f"the video codec is {codec}, not H.264 or H.265; set the "
                          "camera's stream profile to H.264")
    return container, vin


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


_START = re.compile(b"\x00\x00\x01")


def parameter_sets(data: bytes, hevc: bool) -> bytes | None:
    """The SPS (H.264) or VPS+SPS (H.265) NAL units in an Annex-B packet, if it carries any."""
    out = []
    starts = [m.end() for m in _START.finditer(data)]
    for i, s in enumerate(starts):
        if s >= len(data):
            continue
        kind = (data[s] >> 1) & 0x3F if hevc else data[s] & 0x1F
        if kind in ((32, 33) if hevc else (7,)):
            end = starts[i + 1] - 3 if i + 1 < len(starts) else len(data)
            out.append(data[s:end].rstrip(b"\x00"))
    return b"".join(out) or None


def _first_sps(data: bytes) -> bytes | None:
    for m in _START.finditer(data):
        s = m.end()
        if s < len(data) and data[s] & 0x1F == 7:
            nxt = _START.search(data, s)
            return data[s:nxt.start() if nxt else len(data)].rstrip(b"\x00")
    return None


class _Bits:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def u(self, n: int) -> int:
        v = 0
        for _ in range(n):
            byte = self.data[self.pos >> 3] if (self.pos >> 3) < len(self.data) else 0
            v = (v << 1) | ((byte >> (7 - (self.pos & 7))) & 1)
            self.pos += 1
        return v

    def ue(self) -> int:
        zeros = 0
        while self.u(1) == 0:
            zeros += 1
            if zeros > 31:
                raise ValueError("bad exp-Golomb code")
        return (1 << zeros) - 1 + self.u(zeros)

    def se(self) -> int:
        k = self.ue()
        return (k + 1) // 2 if k & 1 else -(k // 2)


_HIGH_PROFILES = {100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135}


def h264_sps_size(sps: bytes) -> tuple[int, int] | None:
    """(width, height) an H.264 SPS NAL unit (header byte included) declares, or None."""
    try:
        rbsp = sps[1:].replace(b"\x00\x00\x03", b"\x00\x00")
        b = _Bits(rbsp)
        profile = b.u(8)
        b.u(16)  # constraint flags, level
        b.ue()  # seq_parameter_set_id
        chroma = 1
        if profile in _HIGH_PROFILES:
            chroma = b.ue()
            if chroma == 3:
                b.u(1)
            b.ue(), b.ue(), b.u(1)  # bit depths, qpprime_y_zero_transform_bypass
            if b.u(1):  # seq_scaling_matrix_present
                for i in range(12 if chroma == 3 else 8):
                    if b.u(1):
                        last = nxt = 8
                        for _ in range(16 if i < 6 else 64):
                            if nxt:
                                nxt = (last + b.se() + 256) % 256
                            last = nxt or last
        b.ue()  # log2_max_frame_num_minus4
        poc = b.ue()
        if poc == 0:
            b.ue()
        elif poc == 1:
            b.u(1), b.se(), b.se()
            for _ in range(b.ue()):
                b.se()
        b.ue(), b.u(1)  # max_num_ref_frames, gaps_in_frame_num_allowed
        w_mbs, h_units = b.ue() + 1, b.ue() + 1
        frame_mbs_only = b.u(1)
        if not frame_mbs_only:
            b.u(1)
        b.u(1)  # direct_8x8_inference
        crop = (b.ue(), b.ue(), b.ue(), b.ue()) if b.u(1) else (0, 0, 0, 0)
        cx, cy = (1, 2 - frame_mbs_only) if chroma == 0 else (
            2 if chroma in (1, 2) else 1, (2 if chroma == 1 else 1) * (2 - frame_mbs_only))
        width = w_mbs * 16 - cx * (crop[0] + crop[1])
        height = (2 - frame_mbs_only) * h_units * 16 - cy * (crop[2] + crop[3])
        return (width, height) if width > 0 and height > 0 else None
    except (IndexError, ValueError):
        return None


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


# ---------------------------------------------------------------- the pull loop


@dataclass
class StreamStats:
    """What the caller shows in metrics, updated by the stream's threads."""

    packets: int = 0
    last_packet_us: int | None = None
    width: int = 0
    height: int = 0
    codec: str = ""
    extra: dict = field(default_factory=dict)


_STOP = object()
_DROP = object()


def run_stream(url: str, masks: tuple[Mask, ...], opts: StreamOptions, *,
               now_us: Callable[[], int], stop: threading.Event,
               on_segment: Callable[[StreamSegment], None], on_drop: Callable[[str], None],
               on_open: Callable[[StreamStats], None] = lambda s: None,
               stats: StreamStats | None = None, secrets: tuple[str, ...] = ()) -> None:
    """Pull ``url`` until ``stop`` is set (returns) or the stream fails (StreamError).

    Blocking: run it on a thread of its own. Masked cameras get a second
    thread for the codec work, fed through a bounded queue (see module doc).
    """
    stats = stats if stats is not None else StreamStats()
    container, vin = open_stream(url, opts, secrets)
    clock = WallClock(vin.time_base or Fraction(1, 90_000), now_us)
    sink = _Sink(on_segment, on_drop)
    stats.width, stats.height = vin.codec_context.width, vin.codec_context.height
    stats.codec = vin.codec_context.name
    on_open(stats)
    try:
        if masks:
            _run_masked(container, vin, masks, opts, clock, sink, stop, stats, now_us)
        else:
            seg = RemuxSegmenter(vin, opts, clock, sink)
            try:
                for packet in _packets(container, vin, stop, opts, secrets):
                    stats.packets += 1
                    stats.last_packet_us = now_us()
                    clock.observe(packet)
                    seg.feed(packet)
            finally:
                seg.close("shutdown" if stop.is_set() else "interrupted")
    finally:
        container.close()


def _packets(container, vin, stop: threading.Event, opts: StreamOptions, secrets):
    try:
        for packet in container.demux(vin):
            if stop.is_set():
                return
            if packet.size == 0:
                break  # PyAV's end-of-stream marker
            if packet.pts is None or packet.dts is None:
                continue  # before the stream's timing is known
            yield packet
    except (av.error.ExitError, TimeoutError):
        raise StreamError("timeout", f"no data for {opts.read_timeout_s:g} s") from None
    except av.FFmpegError as err:
        detail = redact_url(getattr(err, "strerror", None) or str(err), secrets)
        raise StreamError("ended", f"the stream broke: {detail}") from None
    if not stop.is_set():
        raise StreamError("ended", "the camera ended the stream")


def _run_masked(container, vin, masks, opts: StreamOptions, clock: WallClock, sink: _Sink,
                stop: threading.Event, stats: StreamStats, now_us) -> None:
    rate = float(vin.average_rate or vin.guessed_rate or 15)
    # At least the burst that arrives on connecting (FFmpeg probes ~1 s of
    # stream before the first packet is returned) must fit.
    lag_s = opts.max_lag_s if opts.max_lag_s is not None else max(3.0, opts.segment_us / US)
    limit = max(int(rate * 1.5), int(rate * lag_s))
    queue: deque = deque()
    cond = threading.Condition()
    failure: list[BaseException] = []
    seg = MaskingSegmenter(vin, masks, opts, clock, sink)

    def work() -> None:
        try:
            while True:
                with cond:
                    while not queue:
                        cond.wait()
                    item = queue.popleft()
                if item is _STOP:
                    return
                if item is _DROP:
                    seg.discard(None)  # already counted by the reader
                    continue
                seg.feed(item)
        except BaseException as exc:  # handed to the reader, re-raised there
            failure.append(exc)
        finally:
            seg.close("shutdown" if stop.is_set() else "interrupted")

    worker = threading.Thread(target=work, name="stream-codec", daemon=True)
    worker.start()
    skipping = False
    try:
        for packet in _packets(container, vin, stop, opts, ()):
            if failure:
                break
            stats.packets += 1
            stats.last_packet_us = now_us()
            clock.observe(packet)
            with cond:
                if skipping and packet.is_keyframe:
                    skipping = False
                if not skipping and len(queue) >= limit:
                    # Masking is a whole queue behind real time: give up this
                    # segment rather than grow memory; resume at a keyframe.
                    queue.clear()
                    queue.append(_DROP)
                    skipping = True
                    cond.notify()
                    sink.on_drop("behind")
                if not skipping:
                    queue.append(packet)
                    cond.notify()
    finally:
        with cond:
            queue.clear()
            queue.append(_STOP)
            cond.notify()
        worker.join()
    if failure:
        raise failure[0]
