"""RTSP pull: one task per camera with an ``rtsp_url``, owned by the app's cleanup context.

Each ``CameraPuller`` keeps its camera connected: it runs the blocking stream
(``gateway.media.stream.run_stream``) on a thread of its own, hands every
finished segment to the same seal -> store -> catalog path a pushed segment
takes (``gateway.segments.ingest.commit_segment``), and when the stream fails it says why in
the log and the metrics and reconnects after an exponential backoff with
jitter (capped at ``rtsp.max_backoff_seconds``). Wrong credentials back off
the same way, from a longer first wait: a camera refusing us is not retried
in a tight loop.

Credentials come from ``rtsp_credentials_file`` (``user:password``) or the
URL; they are put into the URL only at the moment of connecting and are
redacted (``***``) from every log line, error and metric label.

Why threads of its own and not the shared media pool (``Runtime.pool``): a
stream is an endless blocking read, one per camera; two pool threads would
be taken by the first two cameras and push ingest would starve. Sealing
and hashing do run in the pool (``commit_segment`` -> ``rt.cpu``). The codec
work of a masked camera runs on a second thread per camera (see
``gateway.media.stream``); FFmpeg and x264 release the GIL, so cameras use
every core.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import AsyncIterator, Awaitable, Callable

from ..clock import US
from ..config import CameraSettings
from .rtsp_settings import RtspSettings
from ..errors import GatewayError
from ..media.masking import masks_from_settings
from ..media.stream import (StreamError, StreamOptions, StreamSegment, StreamStats, redact_url,
                            run_stream, with_credentials)
from ..runtime import Runtime
from .ingest import MaskedSegment, check_free_space, commit_segment

log = logging.getLogger(__name__)

#: Finished segments waiting for seal/store/catalog, per camera; more are dropped.
MAX_PENDING_SEGMENTS = 2
#: The first wait after the camera refused our credentials.
AUTH_FIRST_WAIT_S = 10.0
#: How long stopping waits for a stream thread before leaving it (it exits at its next packet).
STOP_WAIT_S = 2.0


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with jitter: failure n waits in [d/2, d], d = min(cap, first * 2^(n-1))."""

    base_s: float = 1.0
    cap_s: float = 30.0

    def delay(self, failures: int, rng: random.Random, *, first_s: float | None = None) -> float:
        first = self.base_s if first_s is None else first_s
        d = min(self.cap_s, first * 2 ** max(0, failures - 1))
        return d / 2 + rng.random() * d / 2


class CredentialsError(GatewayError):
    code = "rtsp_credentials"


def read_credentials(cam: CameraSettings) -> tuple[str | None, str | None]:
    """(user, password) from the camera's rtsp_credentials_file, or (None, None)."""
    if cam.rtsp_credentials_file is None:
        return None, None
    try:
        text = Path(cam.rtsp_credentials_file).read_text(encoding="utf-8").strip()
    except OSError as err:
        raise CredentialsError(f"camera {cam.id!r}: cannot read rtsp_credentials_file "
                               f"{cam.rtsp_credentials_file}: {err.strerror}") from None
    user, sep, password = text.partition(":")
    if not sep or not user:
        raise CredentialsError(f"camera {cam.id!r}: {cam.rtsp_credentials_file} must hold "
                               "'user:password' on one line")
    return user, password


def connect_url(cam: CameraSettings) -> tuple[str, tuple[str, ...]]:
    """The URL to connect to (credentials in it) and the secrets to redact everywhere."""
    assert cam.rtsp_url is not None
    user, password = read_credentials(cam)
    url = with_credentials(cam.rtsp_url, user, password)
    from urllib.parse import unquote, urlsplit

    parts = urlsplit(url)
    secrets = tuple(s for s in (parts.password, unquote(parts.password or ""), password) if s)
    return url, secrets


def public_url(cam: CameraSettings) -> str:
    """The camera's URL as it may be shown: no user, no password."""
    return redact_url(cam.rtsp_url or "")


def stream_options(rtsp: RtspSettings, cam: CameraSettings) -> StreamOptions:
    return StreamOptions(segment_us=rtsp.segment_seconds * US,
                         transport=cam.rtsp_transport or rtsp.transport,
                         open_timeout_s=float(rtsp.timeout_seconds),
                         read_timeout_s=float(rtsp.timeout_seconds))


class CameraPuller:
    """Keeps one camera's stream recording; ``run()`` until cancelled."""

    def __init__(self, svc: Runtime, cam: CameraSettings, rtsp: RtspSettings, *,
                 sleep: Callable[[float], Awaitable[object]] | None = None,
                 rng: random.Random | None = None,
                 options: StreamOptions | None = None) -> None:
        self.svc, self.cam = svc, cam
        self.opts = options or stream_options(rtsp, cam)
        self.backoff = Backoff(cap_s=float(rtsp.max_backoff_seconds))
        # Waits go through the injected clock (a FakeClock drives them in tests).
        self.sleep = sleep or (lambda seconds: svc.clock.wait(None, seconds))
        self.rng = rng or random.Random()
        self.masks = masks_from_settings(cam.masks)
        self.attempts = 0
        self.delays: list[float] = []
        self.last_error: StreamError | None = None
        self.errors: list[StreamError] = []
        self.dropped: list[str] = []
        self.stats = StreamStats()
        self.started_us = svc.clock.now_us()
        self._pending: asyncio.Queue[StreamSegment] = asyncio.Queue()
        self.stored: list = []  # the Segment rows committed, newest last (bounded)
        self._changed = asyncio.Event()
        self._segments_this_connection = 0
        m = svc.metrics
        self._up = m.camera_up.labels(cam.id)
        self._up.set(0)
        m.camera_reconnects.labels(cam.id)
        m.camera_last_frame_age.labels(cam.id).set_function(self._frame_age)

    async def wait_for(self, predicate: Callable[["CameraPuller"], bool], timeout: float) -> None:
        """Until ``predicate(self)`` holds after a commit, a drop or a failure (TimeoutError)."""
        async with asyncio.timeout(timeout):
            while not predicate(self):
                self._changed.clear()
                await self._changed.wait()

    def _notify(self) -> None:
        self._changed.set()

    def _frame_age(self) -> float:
        last = self.stats.last_packet_us or self.started_us
        return max(0.0, (self.svc.clock.now_us() - last) / US)

    # ---------------------------------------------------------------- the loop

    async def run(self) -> None:
        committer = asyncio.create_task(self._commit_loop())
        failures = 0
        try:
            while True:
                if self.attempts:
                    self.svc.metrics.camera_reconnects.labels(self.cam.id).inc()
                self.attempts += 1
                self._segments_this_connection = 0
                err = await self._connect_once()
                self._up.set(0)
                if self._segments_this_connection:
                    failures = 0  # it worked for a while: start the backoff again
                failures += 1
                first = AUTH_FIRST_WAIT_S if err is not None and err.kind == "auth" else None
                delay = self.backoff.delay(failures, self.rng, first_s=first)
                self.delays.append(delay)
                del self.delays[:-1000]  # a camera gone for months stays bounded
                self._notify()
                reason = err.kind if err is not None else "ended"
                self.svc.metrics.camera_failures.labels(self.cam.id, reason).inc()
                log.warning("camera %s: %s [%s]; reconnecting in %.1f s (attempt %d)",
                            self.cam.id, err.message if err is not None else _REASON_TEXT[reason],
                            reason, delay, self.attempts + 1)
                await self.sleep(delay)
        finally:
            committer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await committer
            self._up.set(0)

    async def _connect_once(self) -> StreamError | None:
        """One connection, until it fails; the reason (never holding a secret)."""
        loop = asyncio.get_running_loop()
        try:
            url, secrets = connect_url(self.cam)
        except CredentialsError as err:
            return StreamError("auth", err.message)
        stop = threading.Event()
        done: asyncio.Future = loop.create_future()
        stats = self.stats

        def deliver(fn, *args) -> None:
            with contextlib.suppress(RuntimeError):  # the loop closed under a left thread
                loop.call_soon_threadsafe(fn, *args)

        def opened(s: StreamStats) -> None:
            deliver(self._opened, s)

        def body() -> None:
            try:
                run_stream(url, self.masks, self.opts, now_us=self.svc.clock.now_us, stop=stop,
                           on_segment=lambda seg: deliver(self._segment, seg),
                           on_drop=lambda reason: deliver(self._drop, reason),
                           on_open=opened, stats=stats, secrets=secrets)
                result = None
            except StreamError as err:
                result = err
            except Exception as err:  # noqa: BLE001 -- reported, never with the URL
                result = StreamError("protocol", redact_url(f"{type(err).__name__}: {err}",
                                                            secrets))
            deliver(lambda r: done.done() or done.set_result(r), result)

        thread = threading.Thread(target=body, name=f"rtsp-{self.cam.id}", daemon=True)
        thread.start()
        try:
            err = await asyncio.shield(done)
        except asyncio.CancelledError:
            stop.set()
            # The thread stops at its next packet; do not hold shutdown longer than this.
            with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(done), STOP_WAIT_S)
            raise
        self.last_error = err
        if err is not None:
            self.errors.append(err)
            del self.errors[:-100]
        return err

    def _opened(self, s: StreamStats) -> None:
        self._up.set(1)
        self._notify()
        log.info("camera %s: receiving %s %dx%d from %s (%s)", self.cam.id, s.codec, s.width,
                 s.height, public_url(self.cam),
                 "masking then re-encoding" if self.masks else "remuxing without decoding")

    def _segment(self, seg: StreamSegment) -> None:
        if self._pending.qsize() >= MAX_PENDING_SEGMENTS:
            self._drop("storage_behind")
            return
        self._segments_this_connection += 1
        self._pending.put_nowait(seg)

    def _drop(self, reason: str) -> None:
        self.svc.metrics.segments_dropped.labels(self.cam.id, reason).inc()
        self.dropped.append(reason)
        del self.dropped[:-1000]
        self._notify()
        log.log(logging.INFO if reason == "shutdown" else logging.WARNING,
                "camera %s: a segment was not stored (%s)", self.cam.id,
                _DROP_TEXT.get(reason, reason))

    async def _commit_loop(self) -> None:
        while True:
            seg = await self._pending.get()
            try:
                row = await self.commit(seg)
                self.stored.append(row)
                del self.stored[:-1000]
                self._notify()
            except asyncio.CancelledError:
                raise
            except GatewayError as err:
                self._drop("refused")
                log.warning("camera %s: segment refused: %s", self.cam.id, err.message)
            except Exception:
                self._drop("refused")
                log.exception("camera %s: storing a segment failed", self.cam.id)

    async def commit(self, seg: StreamSegment):
        """Seal, store and catalog one finished segment (shielded: a commit is never half done)."""
        check_free_space(self.svc, len(seg.data))
        if seg.masked:
            self.svc.metrics.redaction_frames.labels(self.cam.id).inc(seg.frames)
        # The camera's own clock (RTCP) is a claim, kept beside the receipt time;
        # an arrival-anchored start is the gateway's own reading, like a push's guess.
        masked = MaskedSegment(seg.data, seg.start_us, seg.duration_us, seg.frames, seg.width,
                               seg.height, seg.masked, claimed=seg.time_source == "rtcp",
                               time_source=seg.time_source)
        row = await asyncio.shield(commit_segment(self.svc, self.cam, masked))
        self.svc.metrics.ingested_bytes.labels(self.cam.id).inc(len(seg.data))
        return row


_REASON_TEXT = {
    "auth": "the camera refused our credentials",
    "unreachable": "camera unreachable",
    "not_found": "no such stream on the camera",
    "no_video": "the stream has no video track",
    "codec": "unsupported codec",
    "timeout": "the stream went silent",
    "ended": "the stream ended",
    "protocol": "RTSP error",
}
_DROP_TEXT = {
    "behind": "masking fell a whole segment behind real time; the segment was discarded",
    "interrupted": "the stream broke before the segment was complete; it was discarded",
    "corrupt": "the stream was damaged; the segment in progress was discarded",
    "storage_behind": "sealing and storing fell behind; the segment was discarded",
    "refused": "the store refused it",
    "shutdown": "the gateway stopped; the segment in progress (memory only) was discarded",
}


def rtsp_cameras(settings) -> list[CameraSettings]:
    return [c for c in settings.cameras if c.rtsp_url]


@contextlib.asynccontextmanager
async def pullers(svc: Runtime, settings) -> AsyncIterator[list[CameraPuller]]:
    """Start one puller task per RTSP camera; cancel and wait for them on exit."""
    items = [CameraPuller(svc, cam, settings.rtsp) for cam in rtsp_cameras(settings)]
    for p in items:
        if p.cam.audio:
            log.warning("camera %s: audio = true, but the RTSP path records video only",
                        p.cam.id)
    tasks = [asyncio.create_task(p.run(), name=f"rtsp-{p.cam.id}") for p in items]
    try:
        yield items
    finally:
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
