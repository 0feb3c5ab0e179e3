"""Holds, exports and views as service functions the web API and the CLI share.

Each decision is pure (``gateway.holds``); here we load, decide, save and
audit, in one catalog transaction so two deciders (or a decider and ``tick``)
cannot interleave. Plaintext footage only passes through memory, except the
export package, which is the deliverable (see docs/holds.md, "Export files").
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Sequence

from . import export as pkg
from .catalog import Catalog
from .catalog import audit_log, exports as exp_sql, holds as holds_sql, segments as seg_sql
from .clock import US, iso
from .errors import BadRequest, Conflict, Forbidden, GatewayError, Gone, IntegrityError, NotFound
from .holds import (DEFAULT_APPROVERS, REQUESTERS, VIEWERS, ExportRequest, check_export,
                    check_view, due_action, require_reason, new_hold, transition)
from .models import SYSTEM, Actor, Hold, Segment
from .services import Services

log = logging.getLogger(__name__)

#: A built package is deleted this long after it was made (it is plaintext footage).
EXPORT_TTL_S = 24 * 3600
#: Who may list every hold (staff see the holds they requested).
HOLD_READERS = ("director", "auditor")
#: Who may ask for a hold, and so see their own.
REQUESTER_ROLES = REQUESTERS


# ------------------------------------------------------------------ policy lookups

def _policies(svc: Services, cameras: Sequence[str], strict: bool = True):
    """The policies of these cameras; ``strict=False`` skips cameras no longer configured
    (a hold outlives a camera's removal and must still lapse, expire or be released)."""
    unknown = [c for c in cameras if c not in svc.policies]
    if unknown and strict:
        raise BadRequest(f"unknown camera(s): {', '.join(unknown)}", code="unknown_camera")
    return [svc.policies[c] for c in cameras if c in svc.policies]


def _roles(svc: Services, cameras: Sequence[str], kind: str) -> tuple[str, ...]:
    """Roles every covered camera's policy allows for ``kind``: approvers.holds,
    approvers.disclosures or access.view_roles (no configured camera: the director)."""
    sets = [set(p.access.view_roles if kind == "view" else getattr(p.approvers, kind))
            for p in _policies(svc, cameras, strict=False)]
    return tuple(sorted(set.intersection(*sets))) if sets else DEFAULT_APPROVERS


def _counsel_required(svc: Services, cameras: Sequence[str]) -> bool:
    return any(p.approvers.counsel_before_disclosure
               for p in _policies(svc, cameras, strict=False))


def _review_s(svc: Services, cameras: Sequence[str]) -> int:
    pols = _policies(svc, cameras, strict=False)
    if not pols:
        raise Conflict("none of the hold's cameras is configured any more; it cannot be "
                       "approved or renewed", code="unknown_camera")
    return min(p.retention.hold_review_s for p in pols)


def _grace_s(svc: Services, cameras: Sequence[str]) -> int:
    return min(p.retention.hold_request_grace_s for p in _policies(svc, cameras))


def disclosure_allowed(svc: Services, camera: str, recipient: str, ground: str) -> bool:
    """The camera's policy decides; a camera no longer configured allows nothing."""
    policy = svc.policies.get(camera)
    return policy is not None and policy.disclosure_allowed(recipient, ground)


# ------------------------------------------------------------------ holds

@dataclass(frozen=True)
class RequestOutcome:
    hold: Hold
    kept: int        # segments in the window the hold now preserves
    destroyed: int   # segments in the window destroyed before the request


def hold_json(h: Hold) -> dict:
    """The API shape of a hold (times as RFC 3339)."""
    t = lambda us: iso(us) if us is not None else None  # noqa: E731
    return {"id": h.id, "state": h.state, "cameras": list(h.cameras), "start": t(h.start_us),
            "end": t(h.end_us), "incident": h.incident, "reason": h.reason,
            "requested_by": h.requested_by, "requested_at": t(h.requested_us),
            "grace_until": t(h.grace_until_us), "decided_by": h.decided_by,
            "decided_at": t(h.decided_us), "review_at": t(h.review_us),
            "court_order": h.court_order_ref, "ended_at": t(h.ended_us), "note": h.note,
            "preserves_until": t(h.preserves_until())}


async def request_hold(svc: Services, actor: Actor, cameras: Sequence[str], start_us: int,
                       end_us: int, incident: str, reason: str) -> RequestOutcome:
    """Ask for footage to be preserved; Conflict when all of it is already destroyed."""
    now = svc.clock.now_us()
    hold = new_hold(cameras, start_us, end_us, incident, reason, actor, now,
                    _grace_s(svc, cameras))

    def tx(db: Catalog) -> RequestOutcome:
        with db.tx():
            cams = list(hold.cameras)
            kept = len(seg_sql.segments_in_window(db, cams, hold.start_us, hold.end_us))
            gone = holds_sql.destroyed_in_window(db, cams, hold.start_us, hold.end_us)
            if kept == 0 and gone > 0:
                raise Conflict(
                    f"the footage of {', '.join(cams)} from {iso(hold.start_us)} to "
                    f"{iso(hold.end_us)} was already destroyed at its retention deadline "
                    f"({gone} segment(s)); a hold cannot bring it back", code="already_destroyed")
            hold_id = holds_sql.insert_hold(db, hold)
            audit_log.append(db, now, actor.name, actor.role, "hold.request", f"hold:{hold_id}",
                             hold.reason, {"cameras": cams, "start_us": hold.start_us,
                                           "end_us": hold.end_us, "incident": hold.incident,
                                           "kept": kept, "destroyed": gone})
            return RequestOutcome(holds_sql.get_hold(db, hold_id), kept, gone)
    out = await svc.catalog.run(tx)
    log.info("hold %d requested by %s (%s): cameras %s, %d segment(s) preserved pending a "
             "decision", out.hold.id, actor.name, actor.role, ",".join(out.hold.cameras), out.kept)
    return out


async def act(svc: Services, hold_id: int, action: str, actor: Actor, *, note: str = "",
              reference: str = "") -> Hold:
    """Apply one action (approve, deny, release, renew, court_order, lapse, expire); audited."""
    now = svc.clock.now_us()

    def tx(db: Catalog) -> Hold:
        with db.tx():
            h = holds_sql.get_hold(db, hold_id)
            if h is None:
                raise NotFound(f"no hold {hold_id}")
            review_s = _review_s(svc, h.cameras) if action in ("approve", "renew") else 0
            new = transition(h, action, actor, now, note=note, reference=reference,
                             review_s=review_s,
                             approvers=_roles(svc, h.cameras, "holds"))
            holds_sql.save_hold(db, new)
            audit_log.append(db, now, actor.name, actor.role, f"hold.{action}", f"hold:{h.id}",
                             reference.strip() or note.strip(),
                             {"from": h.state, "to": new.state, "review_us": new.review_us,
                              "court_order": new.court_order_ref})
            return new
    new = await svc.catalog.run(tx)
    log.info("hold %d: %s by %s (%s) -> %s", new.id, action, actor.name, actor.role, new.state)
    if new.preserves_until() is None:
        # The hold ended: its packages go with it, so no plaintext outlives the footage.
        for e in await svc.catalog.run(exp_sql.exports_of_hold, new.id):
            if e.state in ("building", "ready"):
                await _delete_package(svc, e.id, f"hold {new.id} {new.state}")
        if svc.wake_purger is not None:
            svc.wake_purger.set()  # footage past its deadline goes now, not at the next wake-up
    return new


async def get_hold(svc: Services, actor: Actor, hold_id: int) -> Hold:
    """One hold, to a role that may read it (staff: only their own)."""
    h = await svc.catalog.run(holds_sql.get_hold, hold_id)
    if h is None or (actor.role not in HOLD_READERS and h.requested_by != actor.name):
        if actor.role not in HOLD_READERS + REQUESTER_ROLES:
            raise Forbidden(f"role {actor.role!r} may not read holds")
        raise NotFound(f"no hold {hold_id}")
    return h


async def list_holds(svc: Services, actor: Actor) -> list[Hold]:
    if actor.role in HOLD_READERS or actor.role == "system":
        return await svc.catalog.run(holds_sql.list_holds)
    if actor.role in REQUESTER_ROLES:
        return [h for h in await svc.catalog.run(holds_sql.list_holds)
                if h.requested_by == actor.name]
    raise Forbidden(f"role {actor.role!r} may not read holds")


async def hold_segments(svc: Services, actor: Actor, hold_id: int) -> list[Segment]:
    """The kept segments a hold covers (metadata only), to those who may view them."""
    h = await get_hold(svc, actor, hold_id)
    if actor.role not in VIEWERS or actor.role not in _roles(svc, h.cameras, "view"):
        raise Forbidden(f"role {actor.role!r} may not list footage")
    return await svc.catalog.run(seg_sql.segments_in_window, list(h.cameras), h.start_us,
                                 h.end_us)


async def tick(svc: Services) -> None:
    """Move holds whose time has come (requested -> lapsed, active -> expired); drop old packages."""
    now = svc.clock.now_us()
    for h in await svc.catalog.run(holds_sql.live_holds):
        action = due_action(h, now)
        if action is None:
            continue
        try:
            await act(svc, h.id, action, SYSTEM,
                      note="no decision within the grace period" if action == "lapse"
                      else "review date passed without renewal")
        except Conflict:
            pass  # decided by someone in the meantime
        except GatewayError:
            # One bad hold must not stop the others (nor the purge pass after us);
            # its protection ends on time anyway (Hold.preserves_until).
            log.exception("could not %s hold %s", action, h.id)
    for e in await svc.catalog.run(exp_sql.with_files, now):
        await _delete_package(svc, e.id, "package kept for its full time")


# ------------------------------------------------------------------ viewing

async def view_segment(svc: Services, actor: Actor, uid: str, reason: str) -> tuple[Segment, bytes]:
    """The masked MP4 of one kept segment, after checking role and reason and auditing the view."""
    if actor.role not in VIEWERS:
        raise Forbidden(f"role {actor.role!r} may not view footage")
    require_reason(reason)  # before anything is looked up
    seg = await svc.catalog.run(seg_sql.get_segment, uid)
    if seg is None or seg.state == "shredded":
        raise NotFound(f"no segment {uid!r} (it may have been destroyed)")
    holds = await svc.catalog.run(holds_sql.live_holds)
    check_view(actor, seg.camera, seg.start_us, seg.end_us, reason, holds,
               _roles(svc, [seg.camera], "view"))
    # Audit first: if the entry cannot be written, no footage leaves.
    await svc.catalog.run(audit_log.append, svc.clock.now_us(), actor.name, actor.role,
                          "segment.view", f"segment:{uid}", reason.strip(),
                          {"camera": seg.camera, "start_us": seg.start_us, "end_us": seg.end_us})
    return await svc.read_plaintext(uid)


# ------------------------------------------------------------------ exports

def export_path(svc: Services, export_id: int) -> Path:
    return svc.settings.storage_path / "exports" / f"{export_id}.zip"


def export_json(e: exp_sql.ExportRow) -> dict:
    return {"id": e.id, "hold": e.hold_id, "state": e.state, "cameras": list(e.cameras),
            "start": iso(e.start_us), "end": iso(e.end_us), "ground": e.ground,
            "reference": e.reference, "recipient": e.recipient,
            "recipient_name": e.recipient_name, "counsel": e.counsel, "reason": e.reason,
            "decided_by": e.decided_by, "created_at": iso(e.created_us),
            "expires_at": iso(e.expires_us), "clips": e.clips, "bytes": e.bytes,
            "manifest_sha256": e.manifest_sha256,
            "download": f"/api/v1/exports/{e.id}.zip" if e.state == "ready" else None}


async def create_export(svc: Services, hold_id: int, actor: Actor, *, ground: str,
                        reference: str, recipient: str, reason: str, recipient_name: str = "",
                        counsel: str = "",
                        cameras: Sequence[str] | None = None, start_us: int | None = None,
                        end_us: int | None = None,
                        progress: Callable[[int, int], None] | None = None,
                        on_start: Callable[[int, int], None] | None = None,
                        ) -> exp_sql.ExportRow:
    """Build and sign the package of (part of) an active hold; audited. See gateway.holds.check_export."""
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
    allowed = lambda cam, rcpt, grd: disclosure_allowed(svc, cam, rcpt, grd)  # noqa: E731
    req = check_export(hold, req, actor, now, allowed, _roles(svc, hold.cameras, "disclosures"),
                       _counsel_required(svc, req.cameras))
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
                             req.reason, {"hold": hold.id, "cameras": list(req.cameras),
                                          "start_us": req.start_us, "end_us": req.end_us,
                                          "ground": req.ground, "reference": req.reference,
                                          "recipient": req.recipient,
                                          "recipient_name": req.recipient_name,
                                          "counsel": req.counsel})
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


async def _build(svc: Services, export_id: int, hold: Hold, req: ExportRequest, actor: Actor,
                 segments: list[Segment], progress) -> tuple[str, int, int]:
    key = await svc.cpu(pkg.signing_key, svc.settings.storage_path)
    writer = await svc.cpu(pkg.PackageWriter, export_path(svc, export_id), export_id)
    clips, omitted = [], []
    try:
        for i, seg in enumerate(segments):
            try:
                _, plain = await svc.read_plaintext(seg.uid)
            except (NotFound, IntegrityError) as err:
                omitted.append({**_seg_json(seg), "why": err.message})
            else:
                name = f"clips/{seg.camera}_{iso(seg.start_us).replace(':', '')}_{seg.uid}.mp4"
                digest = await svc.cpu(writer.add, name, plain)
                clips.append({**_seg_json(seg), "file": name, "sha256": digest,
                              "bytes": len(plain)})
            if progress is not None:
                progress(i + 1, len(segments))
        objects = [f"hold:{hold.id}", f"export:{export_id}"] + [f"segment:{s.uid}"
                                                                  for s in segments]
        entries = await svc.catalog.run(exp_sql.custody_entries, objects)
        head_seq, head_hash = await svc.catalog.run(audit_log.head)
        custody = {"hold": hold_json(hold), "segments": [_seg_json(s) for s in segments],
                   "audit": [asdict(e) for e in entries],
                   "audit_head": {"seq": head_seq, "hash": head_hash}}
        await svc.cpu(writer.add, "custody.json", pkg.package_json(custody))
        await svc.cpu(writer.add, "README.txt", pkg.readme(export_id, pkg.fingerprint(key)))
        await svc.cpu(writer.add, "signing-key.pem", pkg.public_pem(key).encode())
        manifest = {
            "export": {"id": export_id, "hold": hold.id, "cameras": list(req.cameras),
                       "start": iso(req.start_us), "end": iso(req.end_us), "ground": req.ground,
                       "reference": req.reference, "recipient": req.recipient,
                       "recipient_name": req.recipient_name, "counsel": req.counsel,
                       "reason": req.reason, "decided_by": actor.name,
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
    return manifest_sha, len(clips), writer.bytes


def _seg_json(s: Segment) -> dict:
    return {"segment": s.uid, "camera": s.camera, "start": iso(s.start_us), "end": iso(s.end_us),
            "ingested_at": iso(s.created_us), "masked": s.masked, "policy": s.policy,
            "stored_sha256": s.sha256}


async def export_package(svc: Services, export_id: int, actor: Actor) -> Path:
    """The package file of a ready export, to an approver (audited as a download)."""
    e = await svc.catalog.run(exp_sql.get_export, export_id)
    if e is None:
        if actor.role not in DEFAULT_APPROVERS:  # say nothing about what exists
            raise Forbidden(f"role {actor.role!r} may not download exports")
        raise NotFound(f"no export {export_id}")
    hold = await svc.catalog.run(holds_sql.get_hold, e.hold_id)
    if actor.role not in _roles(svc, hold.cameras, "disclosures"):
        raise Forbidden(f"role {actor.role!r} may not download exports")
    if hold.state != "active":
        raise Gone(f"hold {hold.id} is {hold.state}: its exports are no longer available")
    path = export_path(svc, export_id)
    if e.state != "ready" or e.expires_us <= svc.clock.now_us() or not path.exists():
        raise Gone(f"export {export_id} is {e.state}; its package is no longer kept "
                   "(build a new export)")
    await svc.catalog.run(audit_log.append, svc.clock.now_us(), actor.name, actor.role,
                          "export.download", f"export:{export_id}", "", {"bytes": e.bytes})
    return path


async def delete_package(svc: Services, export_id: int, actor: Actor, why: str) -> None:
    """Remove a package file now (e.g. after the CLI copied it out); the record stays."""
    await _delete_package(svc, export_id, why, actor)


async def _delete_package(svc: Services, export_id: int, why: str, actor: Actor = SYSTEM) -> None:
    export_path(svc, export_id).unlink(missing_ok=True)
    now = svc.clock.now_us()

    def tx(db: Catalog) -> None:
        with db.tx():
            exp_sql.mark_state(db, export_id, "deleted", now)
            audit_log.append(db, now, actor.name, actor.role, "export.delete",
                             f"export:{export_id}", why, {})
    await svc.catalog.run(tx)


async def recover_exports(svc: Services) -> int:
    """At start-up: builds that never finished are failed and their temp files removed."""
    n = 0
    for e in await svc.catalog.run(exp_sql.with_files):
        if e.state == "building":
            await svc.catalog.run(exp_sql.mark_state, e.id, "failed", None)
            n += 1
    exports_dir = svc.settings.storage_path / "exports"
    if exports_dir.is_dir():
        for tmp in exports_dir.glob("*.tmp"):
            tmp.unlink(missing_ok=True)
    return n
