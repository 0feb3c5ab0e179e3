"""HTTP push ingest: ``POST /api/v1/cameras/{camera}/segments``.

Order matters: the camera and its token are checked before a byte of the body
is read; the body is streamed into memory with a hard cap; nothing is written
to disk until the video has decoded and been masked (``gateway.segments.ingest``).
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from aiohttp import web

from ..budget import Budget
from ..clock import iso, parse_iso
from ..config import CAMERA_ID, CameraSettings, Settings
from ..errors import (
    BadRequest,
    Busy,
    GatewayError,
    NotFound,
    RequestTimeout,
    TooLarge,
    Unauthorized,
    UnsupportedMedia,
)
from ..media.probe import sniff_container
from ..segments.ingest import ingest_once
from .appkeys import METRICS, RUNTIME, SETTINGS

log = logging.getLogger(__name__)

#: Content-Type -> the container its bytes must be (by their magic bytes), so a body
#: declared as MP4 never reaches another FFmpeg demuxer (Matroska, say).
CONTAINER_OF_TYPE = {"video/mp4": "mp4", "video/mp2t": "mpegts"}
ACCEPTED_TYPES = tuple(CONTAINER_OF_TYPE)
PUSH_TOKENS: web.AppKey[dict[str, str]] = web.AppKey("push_tokens")
UPLOAD_SLOTS: web.AppKey[Budget] = web.AppKey("upload_slots")
#: Per camera: so one camera's token cannot take every slot (issue 10, finding 4).
CAMERA_SLOTS: web.AppKey[dict[str, Budget]] = web.AppKey("camera_slots")
#: Upload bodies held in memory, by declared size (media.max_bytes_in_flight).
BODY_BYTES: web.AppKey[Budget] = web.AppKey("body_bytes")


def load_push_tokens(settings: Settings) -> dict[str, str]:
    """Camera id -> push token, read from the config or the token files (at start-up)."""
    out: dict[str, str] = {}
    for cam in settings.cameras:
        if cam.push_token is not None:
            out[cam.id] = cam.push_token.get_secret_value()
        elif cam.push_token_file is not None:
            try:
                token = Path(cam.push_token_file).read_text(encoding="utf-8").strip()
            except OSError as err:
                raise GatewayError(f"camera {cam.id!r}: cannot read push_token_file "
                                   f"{cam.push_token_file}: {err.strerror}") from None
            if len(token) < 16:
                raise GatewayError(f"camera {cam.id!r}: push token in {cam.push_token_file} "
                                   "is shorter than 16 characters")
            out[cam.id] = token
    return out


def _check_token(request: web.Request, cam: CameraSettings) -> None:
    expected = request.app[PUSH_TOKENS].get(cam.id)
    header = request.headers.get("Authorization", "")
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer" or not given:
        raise Unauthorized("missing camera push token (Authorization: Bearer <token>)")
    # Compare in constant time, and do the comparison even when no token is set.
    ok = hmac.compare_digest(given.strip().encode(), (expected or "\0" * 32).encode())
    if not ok or expected is None:
        raise Unauthorized("wrong camera push token")


async def _read_capped(request: web.Request, limit: int) -> bytes | bytearray:
    declared = request.content_length
    if declared is not None and declared > limit:
        raise TooLarge(f"segment is {declared} bytes; the limit is {limit} "
                       "(storage.max_segment_bytes)")
    if declared is not None:
        # One buffer of the declared size, filled in place: the body is in memory once
        # (the media code reads it through a memoryview, never copying it).
        body, size = bytearray(declared), 0
        async for chunk in request.content.iter_chunked(1 << 16):
            body[size:size + len(chunk)] = chunk  # aiohttp stops at Content-Length
            size += len(chunk)
        if size < declared:  # aiohttp raises first; never store a body cut in transfer
            raise BadRequest(f"the body ended after {size} of its {declared} bytes "
                             "(Content-Length); nothing was stored")
        return body
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_chunked(1 << 16):
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            raise TooLarge(f"segment exceeds {limit} bytes (storage.max_segment_bytes)")
    # One join: at most twice the body for a moment (a growing bytearray plus the
    # final copy would be three times).
    return b"".join(chunks)


async def push_segment(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    camera_id = request.match_info["camera"]
    cam = settings.camera(camera_id) if CAMERA_ID.match(camera_id) else None
    metrics = request.app[METRICS]
    label = cam.id if cam else "unknown"
    try:
        if cam is None:
            raise NotFound("unknown camera")
        _check_token(request, cam)
        ctype = request.content_type
        if ctype not in ACCEPTED_TYPES:
            raise UnsupportedMedia(f"Content-Type {ctype!r} is not accepted; send video/mp4 or "
                                   "video/mp2t")
        start_hint = None
        if "X-Segment-Start" in request.headers:
            try:
                start_hint = parse_iso(request.headers["X-Segment-Start"])
            except ValueError:
                raise BadRequest("X-Segment-Start must be an RFC 3339 time with an offset, e.g. "
                                 "2026-11-25T13:08:00Z", code="bad_start") from None
        with _reserve(request, settings, cam):
            try:
                async with asyncio.timeout(settings.server.body_timeout_s):
                    data = await _read_capped(request, settings.storage.max_segment_bytes)
            except TimeoutError:
                raise RequestTimeout(f"the body did not arrive within "
                                     f"{settings.server.body_timeout_s:g} s "
                                     "(server.body_timeout_s); nothing was stored") from None
            if not data:
                raise UnsupportedMedia("empty body: no video was sent", code="empty")
            found = sniff_container(data)
            if found != CONTAINER_OF_TYPE[ctype]:
                raise UnsupportedMedia(f"the body is {found or 'no container we take'}, not "
                                       f"what Content-Type {ctype} says; nothing stored")
            seg, created = await ingest_once(request.app[RUNTIME], cam, data, start_hint)
    except GatewayError as err:
        metrics.rejected.labels(label, err.code).inc()
        raise
    return web.json_response(
        {"id": seg.uid, "camera": seg.camera, "start": iso(seg.start_us), "end": iso(seg.end_us),
         "deadline": iso(seg.deadline_us), "bytes": seg.bytes,
         "camera_start": None if seg.claimed_start_us is None else iso(seg.claimed_start_us)},
        status=201 if created else 200,  # 200: a retry of an upload already stored
    )


@contextmanager
def _reserve(request: web.Request, settings: Settings, cam: CameraSettings) -> Iterator[None]:
    """A slot overall, one of the camera's, and its body's bytes; Busy when any is taken.

    Refused before reading the body: memory stays bounded however many
    cameras push at once, and a camera holding its slots with slow bodies
    (freed after server.body_timeout_s) leaves the others theirs.
    """
    slots, mine = request.app[UPLOAD_SLOTS], request.app[CAMERA_SLOTS][cam.id]
    body = request.app[BODY_BYTES]
    declared = request.content_length
    size = settings.storage.max_segment_bytes if declared is None else min(
        declared, settings.storage.max_segment_bytes)
    if not mine.take(1):
        raise Busy(f"camera {cam.id} already has {mine.capacity} upload(s) in flight "
                   "(server.max_uploads_per_camera); retry in a few seconds")
    with mine.held(1):
        if not slots.take(1):
            raise Busy(f"{settings.server.max_concurrent_uploads} uploads are already being "
                       "processed; retry in a few seconds")
        with slots.held(1):
            if not body.take(size):
                raise Busy(f"{body.used} bytes of uploads are already in memory "
                           "(media.max_bytes_in_flight); retry in a few seconds")
            with body.held(size):
                yield


def setup_push(app: web.Application) -> None:
    """The camera tokens and the upload budgets the push handler needs."""
    settings = app[SETTINGS]
    app[PUSH_TOKENS] = load_push_tokens(settings)
    app[UPLOAD_SLOTS] = Budget(settings.server.max_concurrent_uploads)
    app[CAMERA_SLOTS] = {c.id: Budget(settings.server.max_uploads_per_camera)
                         for c in settings.cameras}
    app[BODY_BYTES] = Budget(settings.media.max_bytes_in_flight)
