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

import re
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Callable

import av

from .masking import Mask
from .segmenters import (US, MaskingSegmenter, RemuxSegmenter, StreamOptions, StreamSegment,
                         WallClock, _Sink)

__all__ = ["StreamError", "StreamOptions", "StreamSegment", "StreamStats", "open_stream",
           "redact_url", "run_stream", "with_credentials"]

#: Codecs an MP4 carries as they are, and the masking decoder takes.
STREAM_CODECS = ("h264", "hevc")
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



def open_stream(url: str, opts: StreamOptions, secrets: tuple[str, ...] = ()):
    """Connect and return (container, video stream); StreamError says why not."""
    options = {"rtsp_transport": opts.transport, "allowed_media_types": "video",
               "rtsp_flags": "prefer_tcp" if opts.transport == "tcp" else "",
               "analyzeduration": "1000000", "probesize": "1000000"}
    options = {k: v for k, v in options.items() if v}
    t0 = time.monotonic()
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
        # A quick refusal from a server that answered (not a timeout): it may
        # carry only tracks we did not ask for. One more open tells.
        quick = time.monotonic() - t0 < opts.open_timeout_s * 0.8
        if quick and _has_only_other_tracks(url, options, opts):
            raise StreamError("no_video", "the stream has no video track (audio only?); "
                              "check the stream path in rtsp_url") from None
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


def _has_only_other_tracks(url: str, options: dict, opts: StreamOptions) -> bool:
    """After a failed video-only open: does the stream open with its other tracks?"""
    rest = {k: v for k, v in options.items() if k != "allowed_media_types"}
    for attempt in range(2):
        try:
            with av.open(url, options=rest,
                         timeout=(opts.open_timeout_s, opts.read_timeout_s)) as c:
                return not c.streams.video and bool(c.streams)
        except av.error.HTTPServerError:
            # A 5xx while the server prepares the media (seen from GStreamer's RTSP
            # server, 1 open in ~25): once more, a moment later.
            if attempt == 0:
                time.sleep(0.5)
                continue
            return False
        except av.FFmpegError:
            return False
    return False


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
