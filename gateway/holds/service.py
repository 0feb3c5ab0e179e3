"""Holds and views as service functions the web API and the CLI share.

Each decision is pure (``gateway.holds.rules``); here we load, decide, save and
audit, in one catalog transaction so two deciders (or a decider and ``tick``)
cannot interleave. Plaintext footage only passes through memory. Exports are
``gateway.holds.exports``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Sequence

from ..catalog import Catalog, audit_log
from ..catalog import exports as exp_sql
from ..catalog import holds as holds_sql
from ..catalog import segments as seg_sql
from ..clock import iso
from ..errors import Conflict, Forbidden, GatewayError, NotFound
from ..models import SYSTEM, Actor, Hold, Segment
from ..keys.unlock import require_unlocked
from ..runtime import Runtime
from ..segments.read import read_plaintext
from . import lookups as lk
from .access import HOLD_READERS, REQUESTERS, VIEWERS
from .exports import delete_package_now
from .rules import check_view, due_action, new_hold, require_reason, transition

log = logging.getLogger(__name__)



# ------------------------------------------------------------------ holds

@dataclass(frozen=True)
class RequestOutcome:
    hold: Hold
    kept: int        # segments in the window the hold now preserves
    destroyed: int   # segments in the window destroyed before the request


async def request_hold(svc: Runtime, actor: Actor, cameras: Sequence[str], start_us: int,
                       end_us: int, incident: str, reason: str) -> RequestOutcome:
    """Ask for footage to be preserved; Conflict when all of it is already destroyed."""
    now = svc.clock.now_us()
    hold = new_hold(cameras, start_us, end_us, incident, reason, actor, now,
                    lk.grace_s(svc, cameras))

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
    _wake_notifier(svc)
    log.info("hold %d requested by %s (%s): cameras %s, %d segment(s) preserved pending a "
             "decision", out.hold.id, actor.name, actor.role, ",".join(out.hold.cameras), out.kept)
    return out


async def act(svc: Runtime, hold_id: int, action: str, actor: Actor, *, note: str = "",
              reference: str = "") -> Hold:
    """Apply one action (approve, deny, release, renew, court_order, lapse, expire); audited."""
    now = svc.clock.now_us()

    def tx(db: Catalog) -> Hold:
        with db.tx():
            h = holds_sql.get_hold(db, hold_id)
            if h is None:
                raise NotFound(f"no hold {hold_id}")
            review_s = lk.review_s(svc, h.cameras) if action in ("approve", "renew") else 0
            new = transition(h, action, actor, now, note=note, reference=reference,
                             review_s=review_s,
                             approvers=lk.roles_for(svc, h.cameras, "holds"))
            holds_sql.save_hold(db, new)
            audit_log.append(db, now, actor.name, actor.role, f"hold.{action}", f"hold:{h.id}",
                             reference.strip() or note.strip(),
                             {"from": h.state, "to": new.state, "review_us": new.review_us,
                              "court_order": new.court_order_ref})
            return new
    new = await svc.catalog.run(tx)
    _wake_notifier(svc)
    svc.wake_store.set()  # the store's legal holds follow (gateway.segments.store_loop)
    log.info("hold %d: %s by %s (%s) -> %s", new.id, action, actor.name, actor.role, new.state)
    if new.preserves_until() is None:
        # The hold ended: its packages go with it, so no plaintext outlives the footage.
        for e in await svc.catalog.run(exp_sql.exports_of_hold, new.id):
            if e.state in ("building", "ready"):
                await delete_package_now(svc, e.id, f"hold {new.id} {new.state}")
        if svc.wake_purger is not None:
            svc.wake_purger.set()  # footage past its deadline goes now, not at the next wake-up
    return new


def _wake_notifier(svc: Runtime) -> None:
    """Tell the notifier a hold changed; it never waits for a message to go out."""
    if svc.wake_notifier is not None:
        svc.wake_notifier.set()


async def get_hold(svc: Runtime, actor: Actor, hold_id: int) -> Hold:
    """One hold, to a role that may read it (staff: only their own)."""
    h = await svc.catalog.run(holds_sql.get_hold, hold_id)
    if h is None or (actor.role not in HOLD_READERS and h.requested_by != actor.name):
        if actor.role not in HOLD_READERS + REQUESTERS:
            raise Forbidden(f"role {actor.role!r} may not read holds")
        raise NotFound(f"no hold {hold_id}")
    return h


async def list_holds(svc: Runtime, actor: Actor) -> list[Hold]:
    if actor.role in HOLD_READERS or actor.role == "system":
        return await svc.catalog.run(holds_sql.list_holds)
    if actor.role in REQUESTERS:
        return [h for h in await svc.catalog.run(holds_sql.list_holds)
                if h.requested_by == actor.name]
    raise Forbidden(f"role {actor.role!r} may not read holds")


async def hold_segments(svc: Runtime, actor: Actor, hold_id: int) -> list[Segment]:
    """The kept segments a hold covers (metadata only), to those who may view them."""
    h = await get_hold(svc, actor, hold_id)
    if actor.role not in VIEWERS or actor.role not in lk.roles_for(svc, h.cameras, "view"):
        raise Forbidden(f"role {actor.role!r} may not list footage")
    return await svc.catalog.run(seg_sql.segments_in_window, list(h.cameras), h.start_us,
                                 h.end_us)


async def tick(svc: Runtime, now_us: int | None = None) -> None:
    """Move holds whose time has come (requested -> lapsed, active -> expired); drop old packages.

    ``now_us``: the wall time the caller judged trustworthy (gateway.loops).
    """
    now = svc.clock.now_us() if now_us is None else now_us
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
        await delete_package_now(svc, e.id, "package kept for its full time")


# ------------------------------------------------------------------ viewing

async def view_segment(svc: Runtime, actor: Actor, uid: str, reason: str) -> tuple[Segment, bytes]:
    """The masked MP4 of one kept segment, after checking role and reason and auditing the view."""
    if actor.role not in VIEWERS:
        raise Forbidden(f"role {actor.role!r} may not view footage")
    require_reason(reason)  # before anything is looked up
    seg = await svc.catalog.run(seg_sql.get_segment, uid)
    if seg is None or seg.state == "shredded":
        raise NotFound(f"no segment {uid!r} (it may have been destroyed)")
    holds = await svc.catalog.run(holds_sql.live_holds)
    check_view(actor, seg.camera, seg.start_us, seg.end_us, reason, holds,
               lk.roles_for(svc, [seg.camera], "view"))
    await require_unlocked(svc)  # sealed mode: refused (423) before anything is audited
    # Audit first: if the entry cannot be written, no footage leaves.
    await svc.catalog.run(audit_log.append, svc.clock.now_us(), actor.name, actor.role,
                          "segment.view", f"segment:{uid}", reason.strip(),
                          {"camera": seg.camera, "start_us": seg.start_us, "end_us": seg.end_us})
    return await read_plaintext(svc, uid)
