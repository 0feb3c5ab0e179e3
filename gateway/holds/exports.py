"""Exports: the signed disclosure package of (part of) an active hold, and its life.

Who may export what is ``rules.check_export`` (pure); the package format is
``gateway.holds.package``. A package is deleted when its hold ends or after
``EXPORT_TTL_S`` (docs/holds.md, "Export files").

At rest a package is sealed under its own key, which lives only in the memory
of the process that built it (``Runtime.export_keys``): a disk image, a backup
or a crash leaves no readable footage. A download decrypts while streaming; a
restart loses the key, so start-up deletes the unreadable packages (build a
new export).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import asdict
from pathlib import Path
from typing import Callable, Iterator, Sequence

from ..catalog import Catalog, audit_log
from ..catalog import exports as exp_sql
from ..catalog import holds as holds_sql
from ..catalog import segments as seg_sql
from ..clock import US, iso
from ..errors import Conflict, Forbidden, Gone, IntegrityError, NotFound
from ..models import SYSTEM, Actor, Hold, Segment
from ..keys.unlock import require_unlocked
from ..runtime import Runtime
from ..segments.read import read_plaintext
from ..vault import format as fmt
from . import lookups as lk
from . import package as pkg
from .access import DEFAULT_APPROVERS
from .records import hold_json, segment_json
from .rules import ExportRequest, check_export

log = logging.getLogger(__name__)

#: A built package is deleted this long after it was made (it decrypts to footage).
EXPORT_TTL_S = 24 * 3600


def export_path(svc: Runtime, export_id: int) -> Path:
    return svc.settings.storage_path / "exports" / f"{export_id}.zip"


async def create_export(svc: Runtime, hold_id: int, actor: Actor, *, ground: str,
                        reference: str, recipient: str, reason: str, recipient_name: str = "",
                        counsel: str = "",
                        cameras: Sequence[str] | None = None, start_us: int | None = None,
                        end_us: int | None = None,
                        progress: Callable[[int, int], None] | None = None,
                        on_start: Callable[[int, int], None] | None = None,
                        ) -> exp_sql.ExportRow:
    """Build and sign the package of (part of) an active hold; audited. See gateway.holds.rules.check_export."""
    now = svc.clock.now_us()
    hold = await svc.catalog.run(holds_sql.get_hold, hold_id)
    if hold is None:
        if actor.role not in DEFAULT_APPROVERS:
            raise Forbidden(f"role {actor.role!r} may not export footage")
        raise NotFound(f"no hold {hold_id}")
    req = ExportRequest(tuple(cameras) if cameras else hold.cameras,
                        hold.start_us if start_us is None else start_us,
                        hold.end_us if end_us is None else end_us,
                        ground, reference, recipient, reason, recipient_name, counsel)
    allowed = lambda cam, rcpt, grd: lk.disclosure_allowed(svc, cam, rcpt, grd)  # noqa: E731
    req = check_export(hold, req, actor, now, allowed, lk.roles_for(svc, hold.cameras, "disclosures"),
                       lk.counsel_required(svc, req.cameras))
    await require_unlocked(svc)  # sealed mode: no export row, no audit entry, nothing built
    row = exp_sql.ExportRow(0, hold.id, "building", req.cameras, req.start_us, req.end_us,
                            req.ground, req.reference, req.recipient, req.reason, actor.name,
                            now, now + EXPORT_TTL_S * US, req.recipient_name, req.counsel)

    def start_tx(db: Catalog) -> tuple[int, list[Segment]]:
        with db.tx():
            fresh = holds_sql.get_hold(db, hold.id)
            if fresh is None or fresh.state != "active":
                raise Conflict(f"hold {hold.id} is no longer active", code="hold_not_active")
            segments = seg_sql.segments_in_window(db, list(req.cameras), req.start_us, req.end_us)
            if not segments:  # never hand over a signed package with nothing in it
                raise Conflict(f"no footage of {', '.join(req.cameras)} is kept between "
                               f"{iso(req.start_us)} and {iso(req.end_us)}: nothing to export",
                               code="no_footage")
            eid = exp_sql.insert_export(db, row)
            audit_log.append(db, now, actor.name, actor.role, "export.create", f"export:{eid}",
                             req.reason, {"hold": hold.id, **{
                                 k: v for k, v in req.record(iso_times=False).items()
                                 if k != "reason"}})  # the reason is the entry's own field
            return eid, segments
    export_id, segments = await svc.catalog.run(start_tx)
    if on_start is not None:
        on_start(export_id, len(segments))  # recorded, about to build (the web page waits)
    try:
        manifest_sha, clips, nbytes = await _build(svc, export_id, hold, req, actor, segments,
                                                   progress)
    except BaseException:
        await asyncio.shield(svc.catalog.run(exp_sql.mark_state, export_id, "failed", None))
        raise

    def finish_tx(db: Catalog) -> exp_sql.ExportRow:
        with db.tx():
            exp_sql.mark_ready(db, export_id, clips, nbytes, manifest_sha)
            audit_log.append(db, svc.clock.now_us(), actor.name, actor.role, "export.built",
                             f"export:{export_id}", req.reason,
                             {"clips": clips, "bytes": nbytes, "manifest_sha256": manifest_sha})
        return exp_sql.get_export(db, export_id)
    return await svc.catalog.run(finish_tx)


async def _build(svc: Runtime, export_id: int, hold: Hold, req: ExportRequest, actor: Actor,
                 segments: list[Segment], progress) -> tuple[str, int, int]:
    key = await svc.cpu(pkg.signing_key, svc.settings.storage_path)
    sealing = (fmt.new_data_key(), fmt.new_key_id())  # this package's own key, memory only
    writer = await svc.cpu(pkg.PackageWriter, export_path(svc, export_id), export_id, sealing)
    clips, omitted = [], []
    try:
        for i, seg in enumerate(segments):
            try:
                _, plain = await read_plaintext(svc, seg.uid)
            except (NotFound, IntegrityError) as err:
                omitted.append({**segment_json(seg), "why": err.message})
            else:
                name = f"clips/{seg.camera}_{iso(seg.start_us).replace(':', '')}_{seg.uid}.mp4"
                digest = await svc.cpu(writer.add, name, plain)
                clips.append({**segment_json(seg), "file": name, "sha256": digest,
                              "bytes": len(plain)})
            if progress is not None:
                progress(i + 1, len(segments))
        objects = [f"hold:{hold.id}", f"export:{export_id}"] + [f"segment:{s.uid}"
                                                                  for s in segments]
        entries = await svc.catalog.run(exp_sql.custody_entries, objects)
        head_seq, head_hash = await svc.catalog.run(audit_log.head)
        custody = {"hold": hold_json(hold), "segments": [segment_json(s) for s in segments],
                   "audit": [asdict(e) for e in entries],
                   "audit_head": {"seq": head_seq, "hash": head_hash}}
        await svc.cpu(writer.add, "custody.json", pkg.package_json(custody))
        await svc.cpu(writer.add, "README.txt", pkg.readme(export_id, pkg.fingerprint(key)))
        await svc.cpu(writer.add, "signing-key.pem", pkg.public_pem(key).encode())
        manifest = {
            "export": {"id": export_id, "hold": hold.id, **req.record(iso_times=True),
                       "decided_by": actor.name,
                       "created_at": iso(svc.clock.now_us()),
                       "library": svc.settings.library.name},
            "hold": {"incident": hold.incident, "requested_by": hold.requested_by,
                     "approved_by": hold.decided_by, "court_order": hold.court_order_ref},
            "clips": clips, "omitted": omitted,
            "audit_head": {"seq": head_seq, "hash": head_hash},
        }
        manifest_sha = await svc.cpu(writer.finish, manifest, key)
    except BaseException:
        await asyncio.shield(svc.cpu(writer.abort))
        raise
    svc.export_keys[export_id] = sealing
    return manifest_sha, len(clips), writer.bytes


def package_chunks(svc: Runtime, export_id: int) -> Iterator[bytes]:
    """The package's zip, decrypted chunk by chunk (64 KiB; run each ``next`` in the pool).

    Gone when this process does not hold its key (built before a restart).
    IntegrityError from the last chunk if the file was cut or changed.
    """
    sealing = svc.export_keys.get(export_id)
    if sealing is None:
        raise Gone(f"export {export_id}'s package was built before the gateway restarted and "
                   "cannot be decrypted any more (build a new export)")
    return _chunks(export_path(svc, export_id), *sealing)


def _chunks(path: Path, data_key: bytes, key_id: bytes) -> Iterator[bytes]:
    with open(path, "rb") as fh:
        yield from fmt.iter_open(fh, data_key, expected_key_id=key_id)


async def export_package(svc: Runtime, export_id: int, actor: Actor) -> Path:
    """The package file of a ready export, to an approver (audited as a download)."""
    e = await svc.catalog.run(exp_sql.get_export, export_id)
    if e is None:
        if actor.role not in DEFAULT_APPROVERS:  # say nothing about what exists
            raise Forbidden(f"role {actor.role!r} may not download exports")
        raise NotFound(f"no export {export_id}")
    hold = await svc.catalog.run(holds_sql.get_hold, e.hold_id)
    if actor.role not in lk.roles_for(svc, hold.cameras, "disclosures"):
        raise Forbidden(f"role {actor.role!r} may not download exports")
    if hold.state != "active":
        raise Gone(f"hold {hold.id} is {hold.state}: its exports are no longer available")
    path = export_path(svc, export_id)
    if e.state != "ready" or e.expires_us <= svc.clock.now_us() or not path.exists():
        raise Gone(f"export {export_id} is {e.state}; its package is no longer kept "
                   "(build a new export)")
    if export_id not in svc.export_keys:
        raise Gone(f"export {export_id}'s package cannot be decrypted since the gateway "
                   "restarted (build a new export)")
    await svc.catalog.run(audit_log.append, svc.clock.now_us(), actor.name, actor.role,
                          "export.download", f"export:{export_id}", "", {"bytes": e.bytes})
    return path


async def delete_package(svc: Runtime, export_id: int, actor: Actor, why: str) -> None:
    """Remove a package file now (e.g. after the CLI copied it out); the record stays."""
    await delete_package_now(svc, export_id, why, actor)


async def delete_package_now(svc: Runtime, export_id: int, why: str, actor: Actor = SYSTEM) -> None:
    svc.export_keys.pop(export_id, None)
    export_path(svc, export_id).unlink(missing_ok=True)
    now = svc.clock.now_us()

    def tx(db: Catalog) -> None:
        with db.tx():
            exp_sql.mark_state(db, export_id, "deleted", now)
            audit_log.append(db, now, actor.name, actor.role, "export.delete",
                             f"export:{export_id}", why, {})
    await svc.catalog.run(tx)


async def recover_exports(svc: Runtime) -> int:
    """At start-up: builds that never finished are failed and their temp files removed;
    ready packages are deleted (their keys died with the process that built them)."""
    n = 0
    for e in await svc.catalog.run(exp_sql.with_files):
        if e.state == "building":
            await svc.catalog.run(exp_sql.mark_state, e.id, "failed", None)
            n += 1
        elif e.id not in svc.export_keys:
            await delete_package_now(svc, e.id, "the gateway restarted: the package's key, "
                                     "kept only in memory, is gone")
    exports_dir = svc.settings.storage_path / "exports"
    if exports_dir.is_dir():
        for tmp in exports_dir.glob("*.tmp"):
            tmp.unlink(missing_ok=True)
    return n
