"""Look inside an uploaded segment, and remux it without re-encoding.

Two failures are told apart, because the API answers them differently
(docs/interface.md):

* the bytes are not a video container we take at all (zero bytes, a JPEG, a
  text file, random bytes, an MP3): ``UnsupportedMedia`` (415);
* they are one (MP4/MOV, MPEG-TS or Matroska by their magic bytes) but it does
  not decode: truncated, a corrupted ``mdat``, no video stream, no frame:
  ``BadRequest`` with code ``corrupt_video`` (400).

The container is recognised by its magic bytes (``sniff_container``) and that
demuxer is then forced: left to itself FFmpeg happily "probes" a JPEG as a
one-frame video or guesses a format for random bytes. The H.264 decoder runs
with ``err_detect=explode`` so a damaged bitstream raises instead of being
silently concealed (it only does so with frame threads, hence
``thread_type="AUTO"``). That is strict: a segment with a broken slice is
refused rather than stored half grey; the camera sends the next one.
"""

from __future__ import annotations

import io
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from fractions import Fraction
from typing import BinaryIO, Iterator

import av

from gateway.errors import BadRequest, TooLarge, UnsupportedMedia

# Our name -> the FFmpeg demuxer forced for it.
DEMUXERS = {"mp4": "mov", "mpegts": "mpegts", "matroska": "matroska"}
# Top-level ISO BMFF boxes a real MP4/MOV file can start with.
_MP4_FIRST_BOXES = {b"ftyp", b"styp", b"moov", b"mdat", b"free", b"skip", b"wide", b"moof", b"sidx"}
_TS_PACKET = 188
_EBML_MAGIC = b"\x1a\x45\xdf\xa3"
# Codecs MP4 carries as they are, so a segment can take the remux fast path.
REMUXABLE_CODECS = frozenset({"h264", "hevc"})
# Refuse frames larger than this before decoding them (a decompression bomb):
# FFmpeg's ``max_pixels`` makes every decoder, the one that probes while the
# container is opened included, fail before it allocates a larger picture.
MAX_PIXELS = 4096 * 4096
# What FFmpeg may read and analyse while opening (bytes, microseconds).
_OPEN_OPTIONS = {"probesize": str(5 << 20), "analyzeduration": "5000000"}
# Camera clocks that were never set write 1904/1970 into MP4 headers.
_EARLIEST_PLAUSIBLE_US = 946_684_800 * 1_000_000  # 2000-01-01T00:00:00Z
CORRUPT = "corrupt_video"


@dataclass(frozen=True)
class VideoInfo:
    """What ingest needs to know about a segment (times in microseconds)."""

    container: str  # "mp4" | "mpegts" | "matroska"
    codec: str  # FFmpeg codec name of the first video stream, e.g. "h264"
    width: int  # of the first frame
    height: int
    frames: int
    duration_us: int
    has_audio: bool
    keyframes: tuple[int, ...]  # indices (presentation order) of key frames
    creation_time_us: int | None  # the container's creation_time, when plausible


def sniff_container(data: bytes) -> str | None:
    """Name the container from its magic bytes, or None when it is not one we take."""
    if len(data) >= 8 and bytes(data[4:8]) in _MP4_FIRST_BOXES:
        return "mp4"
    if data[:4] == _EBML_MAGIC:
        return "matroska"
    # One sync byte is a 1-in-256 coincidence; demand it on two consecutive
    # packets (three when there is room) before calling it a transport stream.
    syncs = [off for off in (0, _TS_PACKET, 2 * _TS_PACKET) if off < len(data)]
    if len(syncs) >= 2 and all(data[off] == 0x47 for off in syncs):
        return "mpegts"
    return None


@contextmanager
def corrupt_on_error(what: str) -> Iterator[None]:
    """Turn any FFmpeg failure inside the block into a 400 ``corrupt_video``."""
    try:
        yield
    except av.FFmpegError as exc:
        raise BadRequest(f"{what}: {exc}", code=CORRUPT) from exc


def check_whole(kind: str, data: bytes) -> None:
    """Refuse a container cut short: FFmpeg reads what is there and calls it the whole.

    MPEG-TS is whole 188-byte packets, each starting with the sync byte; MP4
    (plain or fragmented) is top-level boxes that end exactly at the end of
    the data. An upload cut mid-stream breaks one or the other (a cut exactly
    between two TS packets or two MP4 fragments is a shorter stream that is
    valid in itself; ``probe`` catches the TS case by its half last frame).
    """
    if kind == "mpegts":
        packets, rest = divmod(len(data), _TS_PACKET)
        if rest or data[::_TS_PACKET].count(0x47) != packets:
            raise BadRequest(f"the MPEG-TS stream is cut short or damaged ({len(data)} bytes "
                             f"is not whole {_TS_PACKET}-byte packets with their sync byte)",
                             code=CORRUPT)
    elif kind == "mp4":
        offset = 0
        while offset < len(data):
            if len(data) - offset < 8:
                raise BadRequest(f"the MP4 is cut short: {len(data) - offset} stray bytes at "
                                 f"its end", code=CORRUPT)
            size = int.from_bytes(data[offset:offset + 4], "big")
            header = 8
            if size == 1 and len(data) - offset >= 16:  # a 64-bit size follows the type
                size, header = int.from_bytes(data[offset + 8:offset + 16], "big"), 16
            elif size == 0:  # "to the end of the file"
                size = len(data) - offset
            if size < header or offset + size > len(data):
                box = data[offset + 4:offset + 8].decode("latin-1")
                raise BadRequest(f"the MP4 is cut short: its {box!r} box at byte {offset} "
                                 f"declares {size} bytes, {len(data) - offset} are there",
                                 code=CORRUPT)
            offset += size


def open_input(data: bytes, max_pixels: int = MAX_PIXELS) -> tuple[str, av.container.InputContainer]:
    """Open ``data`` with the demuxer its magic bytes name; map failures to 415/400.

    No picture larger than ``max_pixels`` is allocated while opening.
    """
    kind = sniff_container(data)
    if kind is None:
        raise UnsupportedMedia("not a video container (expected MP4 or MPEG-TS)")
    check_whole(kind, data)
    with corrupt_on_error(f"cannot read the {kind} container"):
        container = av.open(_reader(data), mode="r", format=DEMUXERS[kind],
                            options={**_OPEN_OPTIONS, "max_pixels": str(min(max_pixels,
                                                                            MAX_PIXELS))})
    if not container.streams.video:
        container.close()
        raise BadRequest(f"the {kind} container has no video stream", code=CORRUPT)
    return kind, container


def _reader(data: bytes | bytearray) -> io.BytesIO | "_ViewReader":
    """A file over ``data`` that does not copy it (``BytesIO`` copies a bytearray)."""
    return io.BytesIO(data) if isinstance(data, bytes) else _ViewReader(data)


class _ViewReader:
    """Read-only, seekable file over a buffer; each read copies only what it returns."""

    def __init__(self, data) -> None:
        self._view, self._pos = memoryview(data).cast("B"), 0

    def read(self, n: int = -1) -> bytes:
        end = len(self._view) if n is None or n < 0 else min(self._pos + n, len(self._view))
        out = bytes(self._view[self._pos:end])
        self._pos = max(self._pos, end)
        return out

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: len(self._view)}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def tell(self) -> int:
        return self._pos

    def seekable(self) -> bool:
        return True

    def readable(self) -> bool:
        return True


def prepare_decoder(stream: av.video.stream.VideoStream) -> None:
    """Make the decoder fail loudly on a damaged bitstream (see module doc)."""
    ctx = stream.codec_context
    if ctx.width * ctx.height > MAX_PIXELS:
        raise BadRequest(f"frame size {ctx.width}x{ctx.height} is too large", code=CORRUPT)
    stream.thread_type = "AUTO"
    ctx.options = {"err_detect": "explode", "max_pixels": str(MAX_PIXELS)}


@dataclass(frozen=True)
class StreamHeader:
    """What an upload will cost to decode, known before any frame is decoded."""

    width: int
    height: int
    frames: int  # video packets, counted by demuxing (no decoding)

    @property
    def pixel_frames(self) -> int:
        return self.width * self.height * self.frames


def read_header(data: bytes, max_frame_pixels: int) -> StreamHeader:
    """Size and frame count from the stream headers and a demux pass; nothing is decoded.

    TooLarge (413, ``frame_too_large``) when a frame would exceed
    ``max_frame_pixels``: FFmpeg is told the same limit, so it never allocates
    such a picture while it opens the container either.
    """
    kind, container = open_input(data, max_frame_pixels)
    with container:
        stream = container.streams.video[0]
        ctx = stream.codec_context
        if ctx.width * ctx.height > max_frame_pixels or not (ctx.width and ctx.height):
            size = f"{ctx.width}x{ctx.height}" if ctx.width and ctx.height else "its size"
            raise TooLarge(f"the video's frames ({size}) are larger than "
                           f"media.max_frame_pixels = {max_frame_pixels} pixels (or their size "
                           "cannot be read without decoding them); nothing was decoded",
                           code="frame_too_large")
        frames = 0
        with corrupt_on_error(f"cannot read the {kind} container"):
            for packet in container.demux(stream):
                if packet.size:
                    frames += 1
        return StreamHeader(ctx.width, ctx.height, frames)


def check_frame(frame: av.VideoFrame) -> None:
    """Refuse a frame we cannot process (the stream header may lie about size)."""
    if frame.width * frame.height > MAX_PIXELS or frame.width < 2 or frame.height < 2:
        raise BadRequest(f"unsupported frame size {frame.width}x{frame.height}", code=CORRUPT)


def probe(data: bytes) -> VideoInfo:
    """Decode every video frame of ``data`` and describe it; raise 415 or 400 as above.

    Decoding everything (not only reading headers) is what catches a corrupted
    ``mdat``; it costs a fraction of the re-encode that follows for masked
    cameras.
    """
    kind, container = open_input(data)
    with container:
        stream = container.streams.video[0]
        prepare_decoder(stream)
        pts: list[int] = []
        keyframes: list[int] = []
        first: av.VideoFrame | None = None
        last_duration = 0
        packets = 0
        with corrupt_on_error("the video does not decode"):
            for packet in container.demux(stream):
                packets += 1 if packet.size else 0  # the last, empty one flushes the decoder
                for frame in packet.decode():
                    check_frame(frame)
                    if first is None:
                        first = frame
                    if frame.key_frame:
                        keyframes.append(len(pts))
                    pts.append(frame.pts if frame.pts is not None else len(pts))
                    last_duration = frame.duration or 0
        if first is None:
            raise BadRequest("the video stream has no decodable frame", code=CORRUPT)
        if kind == "mpegts" and len(pts) < packets:
            # A transport stream cut between two TS packets ends in half a frame,
            # which the decoder drops without a word.
            raise BadRequest(f"the MPEG-TS stream is cut short: {packets} video packets but "
                             f"{len(pts)} frames decode (the last is incomplete)", code=CORRUPT)
        return VideoInfo(
            container=kind,
            codec=stream.codec_context.name,
            width=first.width,
            height=first.height,
            frames=len(pts),
            duration_us=span_us(pts, last_duration, stream),
            has_audio=bool(container.streams.audio),
            keyframes=tuple(keyframes),
            creation_time_us=creation_time_us(container.metadata.get("creation_time")),
        )


def span_us(pts: list[int], last_duration: int, stream: av.video.stream.VideoStream) -> int:
    """Duration from the first frame's start to the last frame's end, in microseconds.

    The last frame lasts its own duration when the container says, else the
    median frame interval, else one frame at the stream's nominal rate.
    """
    ordered = sorted(pts)
    tb = stream.time_base or Fraction(1, 90_000)
    if not last_duration:
        gaps = sorted(b - a for a, b in zip(ordered, ordered[1:]) if b > a)
        if gaps:
            last_duration = gaps[len(gaps) // 2]
        else:
            rate = stream.average_rate or stream.guessed_rate or Fraction(15)
            last_duration = round(1 / (rate * tb))
    ticks = ordered[-1] - ordered[0] + last_duration
    return round(ticks * tb * 1_000_000)


def creation_time_us(value: str | None) -> int | None:
    """Parse a container ``creation_time`` (ISO 8601, UTC); None when absent or implausible."""
    if not value:
        return None
    try:
        when = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    delta = when - datetime(1970, 1, 1, tzinfo=timezone.utc)
    us = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    return us if us >= _EARLIEST_PLAUSIBLE_US else None


class NotRemuxable(UnsupportedMedia):
    """The video codec cannot be copied into MP4 as it is (it must be re-encoded)."""


@dataclass(frozen=True)
class RemuxStats:
    """What the remux saw of the video stream, without decoding it."""

    frames: int
    duration_us: int
    width: int
    height: int
    creation_time_us: int | None


def remux(data: bytes, keep_audio: bool) -> bytes:
    """Copy the video (and the audio when ``keep_audio``) into a plain MP4, no re-encode.

    The fast path for cameras without masks: packets, their timestamps and
    hence frame count and keyframes are kept as they are; MPEG-TS or
    fragmented MP4 in, one ``moov`` + ``mdat`` MP4 out. Raises 415/400 like
    ``probe`` (it demuxes but does not decode, so call ``probe`` first when the
    bitstream itself must be checked).
    """
    return remux_with_stats(data, keep_audio)[0]


def remux_with_stats(data: bytes, keep_audio: bool,
                     out: BinaryIO | None = None) -> tuple[bytes, RemuxStats]:
    """``remux``, also returning the frame count, duration and size it saw.

    With ``out`` (a seekable writer) the MP4 goes there as it is made and the
    bytes returned are empty.
    """
    kind, container = open_input(data)
    with container:
        vin = container.streams.video[0]
        if vin.codec_context.name not in REMUXABLE_CODECS:
            raise NotRemuxable(f"video codec {vin.codec_context.name!r} cannot be remuxed")
        ain = container.streams.audio[0] if keep_audio and container.streams.audio else None
        pts: list[int] = []
        last_duration = 0
        buf = io.BytesIO() if out is None else out
        with corrupt_on_error("cannot remux the segment"), av.open(buf, "w", format="mp4") as mux:
            if container.metadata.get("creation_time"):
                mux.metadata["creation_time"] = container.metadata["creation_time"]
            streams = {vin.index: mux.add_stream_from_template(vin)}
            if ain is not None:
                streams[ain.index] = mux.add_stream_from_template(ain)
            for packet in container.demux(*(s for s in (vin, ain) if s is not None)):
                if packet.dts is None and packet.pts is None:
                    continue  # the demuxer's end-of-stream marker
                if packet.stream.index == vin.index:
                    pts.append(packet.pts if packet.pts is not None else packet.dts)
                    last_duration = packet.duration or 0
                packet.stream = streams[packet.stream.index]
                mux.mux(packet)
            if not pts:
                raise BadRequest("the video stream has no packets", code=CORRUPT)
        ctx = vin.codec_context
        stats = RemuxStats(len(pts), span_us(pts, last_duration, vin), ctx.width, ctx.height,
                           creation_time_us(container.metadata.get("creation_time")))
    return (buf.getvalue() if out is None else b""), stats
