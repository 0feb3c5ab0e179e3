"""The operations the web views and the CLI share: ingest, read, rotate keys, stats.

Everything CPU-bound (probing, masking, encryption, hashing) runs in a thread
pool; every SQL call runs on the catalog's single writer thread. The purge
procedure lives in ``gateway.purger``.
"""

from __future__ import annotations

import asyncio
import errno
import hashlib
import json
import logging
import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import AsyncIterator

from . import retention
from .audit import GENESIS, canonical_detail, verify as verify_chain
from .catalog import AsyncCatalog, Catalog
from .catalog import audit_log, cameras as cameras_sql, holds as holds_sql, segments as seg_sql
from .clock import US, Clock
from .config import CameraSettings, Settings
from .crashpoints import crash_point
from .durations import parse_duration
from .errors import BadRequest, GatewayError, IntegrityError, NotFound, StorageFull
from .media.masking import Mask, masks_from_settings
from .media.probe import probe
from .media.redact import RedactResult, redact
from .metrics import Metrics
from .models import SYSTEM, Actor, Segment
from .policy import Policy, load_policy, recompute_deadline, retention_seconds
from .vault import format as fmt
from .vault.keyring import KeyRing, plan_retire, rewrap, rotation_due
from .vault.storage import LocalStorage, Storage

log = logging.getLogger(__name__)

#: A segment may claim to start at most this far in the future (camera clock skew).
MAX_FUTURE_SKEW_US = 300 * US
#: A KEK superseded this long ago may be destroyed once no data key needs it.
KEK_RETIRE_GRACE_US = 600 * US


@dataclass
class Services:
    settings: Settings
    catalog: AsyncCatalog
    keyring: KeyRing
    storage: Storage
    policies: dict[str, Policy]
    clock: Clock
    metrics: Metrics
    pool: ThreadPoolExecutor
    wake_purger: asyncio.Event | None = None
    #: Set after a hold changes: the notifier (gateway.notify) looks for events now.
    wake_notifier: asyncio.Event | None = None
    _audit_ok_upto: tuple[int, str] | None = None

    async def cpu(self, fn, *args):
        return await asyncio.get_running_loop().run_in_executor(self.pool, fn, *args)

    def retention_s(self, camera: CameraSettings) -> int:
        return retention_seconds(camera, self.policies[camera.id])

    # ------------------------------------------------------------------ ingest

    async def ingest(self, camera: CameraSettings, data: bytes,
                     start_hint_us: int | None = None) -> Segment:
        """Mask, seal and store one uploaded segment; return its committed row.

        Nothing touches the disk until the video has decoded and been masked;
        what reaches the disk is ciphertext only. A retried upload returns the
        row already stored (see ``ingest_once``).
        """
        return (await self.ingest_once(camera, data, start_hint_us))[0]

    async def ingest_once(self, camera: CameraSettings, data: bytes,
                          start_hint_us: int | None = None) -> tuple[Segment, bool]:
        """``ingest``, idempotent for retries: (segment, True if it was stored now)."""
        # The upload's identity: its bytes and the start it claims (a retry repeats both).
        hint = b"" if start_hint_us is None else str(start_hint_us).encode()
        source = await self.cpu(lambda: hashlib.sha256(hint + b"\n" + data).hexdigest())
        existing = await self.catalog.run(seg_sql.find_upload, camera.id, source)
        if existing is not None:
            return existing, False
        return await self._ingest(camera, data, start_hint_us, source), True

    async def _ingest(self, camera: CameraSettings, data: bytes, start_hint_us: int | None,
                      source_sha256: str) -> Segment:
        if self.storage.free_bytes() < self.settings.storage.min_free_bytes + len(data):
            raise StorageFull("storage volume is below storage.min_free_bytes; segment refused")
        masks = masks_from_settings(camera.masks)
        t0 = time.perf_counter()
        result = await self.cpu(_process, data, masks, camera.audio)
        if masks:
            self.metrics.redaction_seconds.labels(camera.id).observe(time.perf_counter() - t0)
            self.metrics.redaction_frames.labels(camera.id).inc(result.frames)

        now = self.clock.now_us()
        start = start_hint_us if start_hint_us is not None else (
            result.creation_time_us if result.creation_time_us else now - result.duration_us)
        end = start + result.duration_us
        if start > now + MAX_FUTURE_SKEW_US:
            raise BadRequest("segment starts more than 5 minutes in the future; check the "
                             "camera's clock or X-Segment-Start", code="bad_start")
        due = retention.deadline(end, self.retention_s(camera))
        if due <= now:
            raise BadRequest("segment is already past its retention deadline; it was not stored",
                             code="expired")

        uid = secrets.token_hex(16)
        data_key, key_id = fmt.new_data_key(), fmt.new_key_id()
        blob, digest = await self.cpu(_seal, result.data, data_key, key_id)
        kek_id, wrapped = self.keyring.wrap(data_key, key_id=key_id)
        try:
            await self.cpu(self.storage.put, uid, blob)
        except OSError as err:
            if err.errno in (errno.ENOSPC, errno.EDQUOT):
                raise StorageFull("the storage volume filled up while writing; segment refused "
                                  "and nothing kept") from None
            raise
        seg = Segment(0, uid, camera.id, self.policies[camera.id].id, start, end, due, len(blob),
                      digest, result.frames, result.width, result.height, bool(masks), "stored",
                      None, now)
        try:
            seg_id = await self.catalog.run(seg_sql.insert_segment, seg, key_id, kek_id, wrapped,
                                            source_sha256)
        except Exception:
            # Not acknowledged: the file goes now, not at the next start-up's recovery.
            await self.cpu(self.storage.delete, uid)
            raise
        crash_point("write.committed")
        self.metrics.ingested.labels(camera.id).inc()
        self.metrics.ingested_bytes.labels(camera.id).inc(len(data))
        if self.wake_purger is not None:
            self.wake_purger.set()
        return Segment(**{**seg.__dict__, "id": seg_id})

    # ------------------------------------------------------------------ read

    async def read_plaintext(self, uid: str) -> tuple[Segment, bytes]:
        """Decrypt a kept segment (the masked MP4). Fails closed; marks tampered files corrupt."""
        seg = await self.catalog.run(seg_sql.get_segment, uid)
        if seg is None or seg.state == "shredded":
            raise NotFound(f"no segment {uid!r} (it may have been destroyed)")
        key = await self.catalog.run(seg_sql.get_data_key, seg.id)
        if key is None:
            raise NotFound(f"segment {uid!r} has no data key (destroyed)")
        data_key = self.keyring.unwrap(key.kek_id, key.wrapped, key_id=key.key_id)
        try:
            plain = await self.cpu(_open, self.storage, uid, data_key, key.key_id)
        except (IntegrityError, FileNotFoundError) as err:
            await self.catalog.run(seg_sql.mark_corrupt, uid)
            log.error("segment %s failed to open and is marked corrupt: %s", uid, err)
            raise IntegrityError(f"segment {uid} failed integrity checks and is marked corrupt")
        return seg, plain

    # ------------------------------------------------------------------ policy changes

    async def reconcile_deadlines(self) -> list[dict]:
        """After a policy or retention change, move stored deadlines (docs/policies.md).

        Shortening applies to stored footage, never below the legal minimum of
        the policy it was recorded under nor of the new one; lengthening applies
        only to footage recorded from now on. Each change is one audit entry.
        """
        changes = []
        now = self.clock.now_us()
        for cam in self.settings.cameras:
            new_pol = self.policies[cam.id]
            new_ret = self.retention_s(cam)
            for old_policy, offset_us, count in await self.catalog.run(seg_sql.retention_groups,
                                                                       cam.id):
                floor = new_pol.retention.legal_minimum_s
                try:
                    old_pol = new_pol if old_policy == new_pol.id else load_policy(
                        old_policy, self.settings.policies_dir)
                    floor = max(floor, old_pol.retention.legal_minimum_s)
                except GatewayError:
                    log.warning("camera %s: footage recorded under policy %r, which is no longer "
                                "installed; using the new policy's minimum", cam.id, old_policy)
                new_offset = recompute_deadline(0, offset_us, offset_us // US, new_ret, floor)
                if new_offset == offset_us and old_policy == new_pol.id:
                    continue
                n = await self.catalog.run(seg_sql.shift_deadlines, cam.id, old_policy, offset_us,
                                           new_offset, new_pol.id)
                change = {"camera": cam.id, "segments": n, "from_policy": old_policy,
                          "to_policy": new_pol.id, "old_retention_s": offset_us // US,
                          "new_retention_s": new_offset // US}
                await self.catalog.run(audit_log.append, now, SYSTEM.name, SYSTEM.role, "policy.change",
                                       f"camera:{cam.id}", "camera policy or retention changed",
                                       change)
                log.warning("camera %s: %d stored segments moved from %s s to %s s retention "
                            "(policy %s -> %s)", cam.id, n, change["old_retention_s"],
                            change["new_retention_s"], old_policy, new_pol.id)
                changes.append(change)
        if changes and self.wake_purger is not None:
            self.wake_purger.set()
        return changes

    async def audit_config_changes(self) -> list[str]:
        """At start: one audit entry per camera whose policy-relevant settings changed."""
        now = self.clock.now_us()
        seen = await self.catalog.run(cameras_sql.last_configs)
        changed = []
        for cam in self.settings.cameras:
            current = canonical_detail({
                "policy": self.policies[cam.id].id, "retention_s": self.retention_s(cam),
                "retention_reason": cam.retention_reason, "zone": cam.zone,
                "purpose": cam.purpose, "audio": cam.audio,
                "masks": [m.model_dump(mode="json") for m in cam.masks]})
            before = seen.get(cam.id)
            if before == current:
                continue

            def tx(db, cam_id=cam.id, before=before, current=current):
                with db.tx():
                    audit_log.append(db, now, SYSTEM.name, SYSTEM.role,
                                     "camera.add" if before is None else "camera.change",
                                     f"camera:{cam_id}", "configuration at start-up",
                                     {"before": None if before is None else json.loads(before),
                                      "after": json.loads(current)})
                    cameras_sql.save_config(db, cam_id, current, now)
            await self.catalog.run(tx)
            changed.append(cam.id)
        return changed

    # ------------------------------------------------------------------ keys

    async def rotate_keys(self, actor: Actor = SYSTEM) -> dict:
        """Start a new key epoch: new KEK, re-wrap every kept data key, destroy unused KEKs."""
        now = self.clock.now_us()
        new_id = await self.cpu(self.keyring.rotate, now)  # file lock + fsync: off the loop
        old = [k for k in self.keyring.ids() if k != new_id]
        rewrapped = 0
        if old:
            rows = await self.catalog.run(seg_sql.keys_wrapped_by, old)
            for i in range(0, len(rows), 1000):
                updates = await self.cpu(self._rewrap_batch, rows[i:i + 1000])
                await self.catalog.run(seg_sql.replace_wrapped, updates)
                rewrapped += len(updates)
        retired = await self.retire_keks()
        await self.catalog.run(audit_log.append, now, actor.name, actor.role, "keys.rotate",
                               f"kek:{new_id}",
                               "key epoch", {"rewrapped": rewrapped, "retired": retired})
        return {"kek": new_id, "rewrapped": rewrapped, "retired": retired}

    def _rewrap_batch(self, rows: list) -> list[tuple[int, str, bytes]]:
        return [(r.segment_id, *rewrap(self.keyring, r.kek_id, r.wrapped, key_id=r.key_id))
                for r in rows]

    async def retire_keks(self, grace_us: int = KEK_RETIRE_GRACE_US) -> list[str]:
        in_use = await self.catalog.run(seg_sql.kek_ids_in_use)
        doomed = plan_retire(self.keyring.entries(), self.keyring.current_id, in_use,
                             self.clock.now_us(), grace_us)
        if doomed:
            await self.cpu(self.keyring.retire, doomed)
            await self.catalog.run(lambda db: db.checkpoint())
        return doomed

    async def rotate_if_due(self) -> dict | None:
        epoch_us = self.settings_epoch_us()
        now = self.clock.now_us()
        if rotation_due(self.keyring.created_us(self.keyring.current_id), now, epoch_us):
            return await self.rotate_keys()
        return None

    def settings_epoch_us(self) -> int:
        return parse_duration(self.settings.keys.rotate_every) * US

    # ------------------------------------------------------------------ stats

    async def refresh_stats(self, full_audit: bool = False) -> None:
        """Recompute the gauges that summarise the catalog."""
        now = self.clock.now_us()
        m = self.metrics
        stats = {s.camera: s for s in await self.catalog.read(seg_sql.camera_stats)}
        for cam in self.settings.cameras:
            s = stats.get(cam.id)
            m.segments_stored.labels(cam.id).set(s.segments if s else 0)
            m.bytes_stored.labels(cam.id).set(s.bytes if s else 0)
            m.oldest_age.labels(cam.id).set(
                (now - s.oldest_start_us) / US if s and s.oldest_start_us else 0)
            m.retention.labels(cam.id).set(self.retention_s(cam))
        past = await self.catalog.read(_past_deadline_counts, now)
        for cam in self.settings.cameras:
            m.past_deadline.labels(cam.id).set(past.get(cam.id, 0))
        counts = await self.catalog.read(holds_sql.hold_counts)
        for state in ("requested", "active", "denied", "lapsed", "released", "expired"):
            m.holds.labels(state).set(counts.get(state, 0))
        m.storage_free.set(self.storage.free_bytes())
        await self.verify_audit(full=full_audit)

    async def verify_audit(self, full: bool = False) -> bool:
        """Check the audit chain (only new entries unless ``full``) and export the result."""
        after = (0, GENESIS) if full or self._audit_ok_upto is None else self._audit_ok_upto
        result = await self.catalog.read(
            lambda db: verify_chain(audit_log.entries(db, after[0]), after=after))
        if result.ok:
            self._audit_ok_upto = (after[0] + result.entries, result.head)
        else:
            self._audit_ok_upto = None
            log.error("audit chain broken at entry %s: %s", result.first_bad_seq, result.problem)
        self.metrics.audit_verified.set(1 if result.ok else 0)
        return result.ok


def _past_deadline_counts(db, now_us: int) -> dict[str, int]:
    """Segments past deadline that no live hold preserves, per camera (must all be 0)."""
    out: dict[str, int] = {}
    for seg in seg_sql.due_plan(db, now_us).destroy:
        out[seg.camera] = out.get(seg.camera, 0) + 1
    return out


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


def _open(storage: Storage, uid: str, data_key: bytes, key_id: bytes) -> bytes:
    return fmt.open_sealed(storage.get(uid), data_key, expected_key_id=key_id)


@asynccontextmanager
async def open_services(settings: Settings, clock: Clock, policies: dict[str, Policy],
                        metrics: Metrics, *, server: bool,
                        wake_purger: asyncio.Event | None = None) -> AsyncIterator[Services]:
    """The services on the catalog, key ring and storage; closed on exit.

    ``server=True`` (the gateway itself) creates what is missing and runs the
    start-up recovery first. The CLI passes False: the key ring must exist, and
    recovery is not run because a running server may own in-flight files.
    """
    from .purger import recover  # purger imports this module

    if server:
        settings.storage_path.mkdir(parents=True, exist_ok=True, mode=0o700)
    keyring = KeyRing.open(settings.keyring_path, create=server, clock=clock)
    catalog = Catalog.open(settings.catalog_path)
    storage = LocalStorage(settings.storage_path)
    if server:
        recover(catalog, storage)
    db = AsyncCatalog(catalog)
    pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="media")
    try:
        yield Services(settings, db, keyring, storage, policies, clock, metrics, pool,
                       wake_purger)
    finally:
        pool.shutdown(wait=True)
        db.close()
