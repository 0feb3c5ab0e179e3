"""The ingest pipeline: decode and mask (or probe and remux) -> seal -> store -> catalog.

Nothing touches the disk until the video has decoded and been masked; what
reaches the disk is ciphertext only (docs/storage.md, "Writing a segment").
``commit_segment`` is the part every source shares: it takes an already
masked MP4 and seals, stores and catalogs it.

Time (docs/storage.md, "Deadlines"): a segment's end is when the gateway
received it, by the gateway's own clock, and its deadline counts from there.
What the camera claims (``X-Segment-Start``, the MP4's ``creation_time``) is
kept beside it for display; the difference is the camera's clock skew, a
metric. Footage cannot have been recorded after it arrived, so no camera
clock, however wrong, brings a deadline forward.
"""

from __future__ import annotations

import asyncio
import errno
import hashlib
import logging
import secrets
import shutil
import sqlite3
import time
from dataclasses import dataclass

from ..catalog import segments as seg_sql
from ..catalog import store as store_sql
from ..clock import US
from ..config import CameraSettings
from ..crashpoints import crash_point
from ..errors import Busy, GatewayError, StorageFull, TooLarge
from ..media.masking import Mask, masks_from_settings
from ..media.probe import StreamHeader, probe, read_header
from ..media.redact import RedactResult, redact
from ..models import Segment
from ..runtime import Runtime
from ..timeguard import receipt_time
from ..vault import format as fmt
from ..vault.sealbuf import Sealed, SealedBuffer
from . import rules
from .purge import uninterrupted

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class MaskedSegment:
    """A finished, masked MP4 ready to seal (or sealed already), with what is known of it."""

    data: bytes  # empty when ``sealed`` holds it
    start_us: int
    duration_us: int
    frames: int
    width: int
    height: int
    masked: bool
    #: False when ``start_us`` is the gateway's own guess (the camera claimed no time).
    claimed: bool = True
    #: Where ``start_us`` came from (docs/rtsp.md, "Time"): rtcp | arrival (RTSP),
    #: header | container | arrival (push).
    time_source: str | None = None
    #: The MP4 sealed as it was made (uploads: it never existed whole in plaintext).
    sealed: Sealed | None = None


async def ingest(svc: Runtime, camera: CameraSettings, data: bytes,
                 start_hint_us: int | None = None) -> Segment:
    """Mask, seal and store one uploaded segment; return its committed row.

    A retried upload returns the row already stored (see ``ingest_once``).
    """
    return (await ingest_once(svc, camera, data, start_hint_us))[0]


#: Uploads being ingested now, by (runtime, camera, source digest): identical uploads
#: that arrive together wait for the first instead of each storing a copy.
_IN_FLIGHT: dict[tuple[int, str, str], asyncio.Future] = {}


async def ingest_once(svc: Runtime, camera: CameraSettings, data: bytes,
                      start_hint_us: int | None = None) -> tuple[Segment, bool]:
    """``ingest``, idempotent for retries: (segment, True if it was stored now).

    Identical uploads at the same moment store one copy: the others wait for
    it and get (its row, False). The catalog's unique index on (camera,
    source_sha256) backs this up (migration 0015).
    """
    # The upload's identity: its bytes and the start it claims (a retry repeats both).
    hint = b"" if start_hint_us is None else str(start_hint_us).encode()
    source = await svc.cpu(_source_digest, hint, data)
    key = (id(svc), camera.id, source)
    while (first := _IN_FLIGHT.get(key)) is not None:
        try:
            return await asyncio.shield(first), False
        except GatewayError:
            continue  # the first was refused: this one tries for itself (and is refused too)
    mine = _IN_FLIGHT[key] = asyncio.get_running_loop().create_future()  # no await before
    try:
        existing = await svc.catalog.run(seg_sql.find_upload, camera.id, source)
        if existing is not None:
            mine.set_result(existing)
            return existing, False
        try:
            seg = await _ingest(svc, camera, data, start_hint_us, source)
        except sqlite3.IntegrityError:
            # The unique index: another process stored these bytes first. Its row answers.
            existing = await svc.catalog.run(seg_sql.find_upload, camera.id, source)
            if existing is None:
                raise
            mine.set_result(existing)
            return existing, False
    except BaseException as err:
        mine.set_exception(err if isinstance(err, GatewayError) else GatewayError("retry"))
        mine.exception()  # retrieved: no "never retrieved" warning when nobody waited
        raise
    else:
        mine.set_result(seg)
    finally:
        del _IN_FLIGHT[key]
    return seg, True


async def _ingest(svc: Runtime, camera: CameraSettings, data: bytes, start_hint_us: int | None,
                  source_sha256: str) -> Segment:
    check_free_space(svc, len(data))
    masks = masks_from_settings(camera.masks)
    media = svc.settings.media
    head = await svc.cpu(read_header, data, media.max_frame_pixels)
    work = check_work(head, media.max_segment_pixel_frames)
    budget = svc.pixel_frames
    if budget is not None and not budget.take(work):
        raise Busy(f"uploads worth {budget.used} pixel-frames are already being decoded "
                   "(media.max_pixel_frames_in_flight); retry in a few seconds")
    t0 = time.perf_counter()
    try:
        result, sealed = await svc.cpu(_process, data, masks, camera.audio)
    finally:
        if budget is not None:
            budget.give(work)
    if masks:
        svc.metrics.redaction_seconds.labels(camera.id).observe(time.perf_counter() - t0)
        svc.metrics.redaction_frames.labels(camera.id).inc(result.frames)
    claim = start_hint_us if start_hint_us is not None else result.creation_time_us
    start = claim if claim is not None else svc.clock.now_us() - result.duration_us
    time_source = ("header" if start_hint_us is not None
                   else "container" if claim is not None else "arrival")
    masked = MaskedSegment(b"", start, result.duration_us, result.frames, result.width,
                           result.height, bool(masks), claimed=claim is not None,
                           time_source=time_source, sealed=sealed)
    seg = await commit_segment(svc, camera, masked, source_sha256=source_sha256)
    svc.metrics.ingested_bytes.labels(camera.id).inc(len(data))
    return seg


def check_work(head: StreamHeader, limit: int) -> int:
    """The upload's width x height x frames; TooLarge (413) beyond ``limit``, before decoding."""
    if head.pixel_frames > limit:
        raise TooLarge(f"the video is {head.width}x{head.height} x {head.frames} frames = "
                       f"{head.pixel_frames} pixel-frames, more than "
                       f"media.max_segment_pixel_frames = {limit}; send shorter segments or a "
                       "smaller stream profile (nothing was decoded)", code="too_much_video")
    return head.pixel_frames


def check_free_space(svc: Runtime, incoming_bytes: int) -> None:
    """StorageFull unless the volume keeps ``storage.min_free_bytes`` after this segment.
    On S3 the catalog's volume still fills (receipts, audit): it is the one measured."""
    if free_bytes(svc) < svc.settings.storage.min_free_bytes + incoming_bytes:
        raise StorageFull("storage volume is below storage.min_free_bytes; segment refused")


def free_bytes(svc: Runtime) -> int:
    """Free bytes where the next write lands: the store, or the catalog's volume."""
    free = svc.storage.free_bytes()
    return shutil.disk_usage(svc.settings.storage_path).free if free is None else free


async def commit_segment(svc: Runtime, camera: CameraSettings, masked: MaskedSegment, *,
                         source_sha256: str | None = None) -> Segment:
    """Seal, store and catalog one masked segment; the returned row is acknowledged.

    Its end is the receipt (now, never earlier than the last trusted clock
    reading: ``timeguard.receipt_time``), its deadline the end plus the
    retention; the camera's claimed start is kept as ``claimed_start_us``.
    No claimed time is refused. StorageFull if the disk fills while writing.
    """
    now = receipt_time(svc.clock_guard, svc.clock.now_us(), svc.clock.monotonic_us())
    end = now
    start = end - masked.duration_us
    claimed = masked.start_us if masked.claimed else None
    if claimed is not None:
        svc.metrics.camera_skew.labels(camera.id).set(
            (claimed + masked.duration_us - end) / US)
    due = rules.deadline(end, svc.retention_s(camera))

    uid = secrets.token_hex(16)
    data_key, key_id, blob, digest = await svc.cpu(_sealed, masked)
    # Sealed mode's HPKE wrap is ~0.1 ms of X25519: off the event loop like all crypto.
    kek_id, wrapped = await svc.cpu(lambda: svc.keyring.wrap(data_key, key_id=key_id))
    # The intent first: a crash from here on leaves a write recovery can find.
    await svc.catalog.run(store_sql.begin_write, uid, now)
    lock_until = due if svc.storage.locks else None
    try:
        # To its end even if the request is cancelled: discarding a put still running
        # in its thread could leave its object behind with no intent to find it.
        await uninterrupted(svc.io(lambda: svc.storage.put(uid, blob,
                                                           retain_until_us=lock_until)))
    except BaseException as err:
        await _abandon(svc, uid)
        if isinstance(err, OSError) and err.errno in (errno.ENOSPC, errno.EDQUOT):
            raise StorageFull("the storage volume filled up while writing; segment refused "
                              "and nothing kept") from None
        raise
    seg = Segment(0, uid, camera.id, svc.policies[camera.id].id, start, end, due, len(blob),
                  digest, masked.frames, masked.width, masked.height, masked.masked, "stored",
                  None, now, claimed)
    try:
        seg_id = await svc.catalog.run(seg_sql.insert_segment, seg, key_id, kek_id, wrapped,
                                       source_sha256, masked.time_source, lock_until)
    except BaseException:
        # Not acknowledged: the object goes now, not at the next start-up's recovery.
        await _abandon(svc, uid)
        raise
    crash_point("write.committed")
    svc.metrics.ingested.labels(camera.id).inc()
    if svc.wake_purger is not None:
        svc.wake_purger.set()
    return Segment(**{**seg.__dict__, "id": seg_id})


async def _abandon(svc: Runtime, uid: str) -> None:
    """An unacknowledged write: discard whatever reached the store, then its intent.
    If the store cannot be reached now, the intent stays and recovery finishes it."""
    try:
        await svc.io(svc.storage.discard, uid)
    except Exception as err:  # noqa: BLE001 (logged; the intent keeps it for recovery)
        log.warning("could not discard unacknowledged write %s (%s); start-up recovery "
                    "will", uid, err)
        return
    await svc.catalog.run(store_sql.end_write, uid)


def _process(data: bytes, masks: tuple[Mask, ...],
             keep_audio: bool) -> tuple[RedactResult, Sealed]:
    """Mask (decoding every frame, which also rejects corrupt video), or for a camera
    without masks: probe (a full decode, since remuxing alone would copy corrupt
    packets) then remux. The MP4 is sealed chunk by chunk as the muxer writes it
    (``vault.sealbuf``): it is never whole in memory as plaintext."""
    if not masks:
        probe(data)
    sink = SealedBuffer(fmt.new_data_key(), fmt.new_key_id())
    result = redact(data, masks, keep_audio=keep_audio, out=sink)
    return result, sink.finish()


def _source_digest(hint: bytes, data: bytes) -> str:
    h = hashlib.sha256(hint)  # fed in parts: no second copy of a large body
    h.update(b"\n")
    h.update(data)
    return h.hexdigest()


def _sealed(masked: MaskedSegment) -> tuple[bytes, bytes, bytearray, str]:
    """(data key, key id, sealed blob, its SHA-256): as sealed at ingest, or sealed now.

    One copy of the ciphertext, grown in place (no list of chunks and their join).
    """
    if masked.sealed is not None:
        s = masked.sealed
        return s.data_key, s.key_id, s.blob, s.sha256
    data_key, key_id = fmt.new_data_key(), fmt.new_key_id()
    blob = bytearray()
    for piece in fmt.iter_seal([masked.data], data_key, key_id):
        blob += piece
    return data_key, key_id, blob, hashlib.sha256(blob).hexdigest()
