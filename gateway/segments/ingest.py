"""The ingest pipeline: decode and mask (or probe and remux) -> seal -> store -> catalog.

Nothing touches the disk until the video has decoded and been masked; what
reaches the disk is ciphertext only (docs/storage.md, "Writing a segment").
``commit_segment`` is the part every source shares: it takes an already
masked MP4 and seals, stores and catalogs it.
"""

from __future__ import annotations

import errno
import hashlib
import secrets
import time
from dataclasses import dataclass

from ..catalog import segments as seg_sql
from ..clock import US
from ..config import CameraSettings
from ..crashpoints import crash_point
from ..errors import BadRequest, StorageFull
from ..media.masking import Mask, masks_from_settings
from ..media.probe import probe
from ..media.redact import RedactResult, redact
from ..models import Segment
from ..runtime import Runtime
from ..vault import format as fmt
from . import rules

#: A segment may claim to start at most this far in the future (camera clock skew).
MAX_FUTURE_SKEW_US = 300 * US


@dataclass(frozen=True)
class MaskedSegment:
    """A finished, masked MP4 ready to seal, with what is known of it."""

    data: bytes
    start_us: int
    duration_us: int
    frames: int
    width: int
    height: int
    masked: bool


async def ingest(svc: Runtime, camera: CameraSettings, data: bytes,
                 start_hint_us: int | None = None) -> Segment:
    """Mask, seal and store one uploaded segment; return its committed row.

    A retried upload returns the row already stored (see ``ingest_once``).
    """
    return (await ingest_once(svc, camera, data, start_hint_us))[0]


async def ingest_once(svc: Runtime, camera: CameraSettings, data: bytes,
                      start_hint_us: int | None = None) -> tuple[Segment, bool]:
    """``ingest``, idempotent for retries: (segment, True if it was stored now)."""
    # The upload's identity: its bytes and the start it claims (a retry repeats both).
    hint = b"" if start_hint_us is None else str(start_hint_us).encode()
    source = await svc.cpu(lambda: hashlib.sha256(hint + b"\n" + data).hexdigest())
    existing = await svc.catalog.run(seg_sql.find_upload, camera.id, source)
    if existing is not None:
        return existing, False
    return await _ingest(svc, camera, data, start_hint_us, source), True


async def _ingest(svc: Runtime, camera: CameraSettings, data: bytes, start_hint_us: int | None,
                  source_sha256: str) -> Segment:
    check_free_space(svc, len(data))
    masks = masks_from_settings(camera.masks)
    t0 = time.perf_counter()
    result = await svc.cpu(_process, data, masks, camera.audio)
    if masks:
        svc.metrics.redaction_seconds.labels(camera.id).observe(time.perf_counter() - t0)
        svc.metrics.redaction_frames.labels(camera.id).inc(result.frames)
    now = svc.clock.now_us()
    start = start_hint_us if start_hint_us is not None else (
        result.creation_time_us if result.creation_time_us else now - result.duration_us)
    masked = MaskedSegment(result.data, start, result.duration_us, result.frames, result.width,
                           result.height, bool(masks))
    seg = await commit_segment(svc, camera, masked, source_sha256=source_sha256)
    svc.metrics.ingested_bytes.labels(camera.id).inc(len(data))
    return seg


def check_free_space(svc: Runtime, incoming_bytes: int) -> None:
    """StorageFull unless the volume keeps ``storage.min_free_bytes`` after this segment."""
    if svc.storage.free_bytes() < svc.settings.storage.min_free_bytes + incoming_bytes:
        raise StorageFull("storage volume is below storage.min_free_bytes; segment refused")


async def commit_segment(svc: Runtime, camera: CameraSettings, masked: MaskedSegment, *,
                         source_sha256: str | None = None) -> Segment:
    """Seal, store and catalog one masked segment; the returned row is acknowledged.

    BadRequest if it claims to start in the future or is already past its
    deadline (nothing is stored then); StorageFull if the disk fills while writing.
    """
    now = svc.clock.now_us()
    start, end = masked.start_us, masked.start_us + masked.duration_us
    if start > now + MAX_FUTURE_SKEW_US:
        raise BadRequest("segment starts more than 5 minutes in the future; check the "
                         "camera's clock or X-Segment-Start", code="bad_start")
    due = rules.deadline(end, svc.retention_s(camera))
    if due <= now:
        raise BadRequest("segment is already past its retention deadline; it was not stored",
                         code="expired")

    uid = secrets.token_hex(16)
    data_key, key_id = fmt.new_data_key(), fmt.new_key_id()
    blob, digest = await svc.cpu(_seal, masked.data, data_key, key_id)
    kek_id, wrapped = svc.keyring.wrap(data_key, key_id=key_id)
    try:
        await svc.cpu(svc.storage.put, uid, blob)
    except OSError as err:
        if err.errno in (errno.ENOSPC, errno.EDQUOT):
            raise StorageFull("the storage volume filled up while writing; segment refused "
                              "and nothing kept") from None
        raise
    seg = Segment(0, uid, camera.id, svc.policies[camera.id].id, start, end, due, len(blob),
                  digest, masked.frames, masked.width, masked.height, masked.masked, "stored",
                  None, now)
    try:
        seg_id = await svc.catalog.run(seg_sql.insert_segment, seg, key_id, kek_id, wrapped,
                                       source_sha256)
    except Exception:
        # Not acknowledged: the file goes now, not at the next start-up's recovery.
        await svc.cpu(svc.storage.delete, uid)
        raise
    crash_point("write.committed")
    svc.metrics.ingested.labels(camera.id).inc()
    if svc.wake_purger is not None:
        svc.wake_purger.set()
    return Segment(**{**seg.__dict__, "id": seg_id})


def _process(data: bytes, masks: tuple[Mask, ...], keep_audio: bool) -> RedactResult:
    """Mask (decoding every frame, which also rejects corrupt video), or for a camera
    without masks: probe (a full decode, since remuxing alone would copy corrupt
    packets) then remux."""
    if not masks:
        probe(data)
    return redact(data, masks, keep_audio=keep_audio)


def _seal(plain: bytes, data_key: bytes, key_id: bytes) -> tuple[bytes, str]:
    blob = fmt.seal(plain, data_key, key_id)
    return blob, hashlib.sha256(blob).hexdigest()
