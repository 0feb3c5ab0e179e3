"""Holds for people: request from the timeline, the director's queue, decisions, court
orders, exports with their progress. The actor is always the signed-in person: a form
field cannot name another user or role, and the hold state machine refuses what the
role may not do, whatever the page showed."""

from __future__ import annotations

import asyncio

from aiohttp import web

from ...catalog import exports as exp_sql, holds as holds_sql
from ...catalog.segments import segments_in_window
from ...errors import BadRequest, GatewayError, NotFound
from ...holds import exports as hx, service as hs
from ...holds.lookups import counsel_required, roles_for
from ...policy.loading import GROUNDS, RECIPIENTS
from ...policy.notice import GROUND_TEXT, RECIPIENT_TEXT
from ..appkeys import SETTINGS
from .common import actor, field, form, local_time, now_us, render, see_other, svc
from .site import EXPORT_PROGRESS, EXPORT_TASKS

STATE_TEXT = {"requested": "Waiting for a decision", "active": "Preserved (approved)",
              "denied": "Denied", "lapsed": "Lapsed (no decision in time)",
              "released": "Released", "expired": "Expired (review date passed)"}
ACTIONS = {"approve": "approve", "deny": "deny", "release": "release", "renew": "renew",
           "court_order": "court_order"}
DONE_TEXT = {"requested": "Your request was recorded. The footage is preserved until a "
                          "director decides, or until the request lapses.",
             "approve": "Approved: the footage is preserved until the review date.",
             "deny": "Denied: the footage returns to its normal deadline.",
             "release": "Released: the footage returns to its normal deadline.",
             "renew": "Renewed: the review date moved.",
             "court_order": "The court order is recorded on this hold.",
             "export": "The export is building; this page shows its progress."}


def _hold_id(request: web.Request) -> int:
    text = request.match_info["id"]
    if not text.isdigit() or len(text) > 18:
        raise NotFound("there is no such hold")
    return int(text)


def _camera_names(request) -> dict[str, str]:
    return {c.id: c.name for c in request.app[SETTINGS].cameras}


def _decorate(request, h, approvers: tuple[str, ...]) -> dict:
    who = actor(request)
    now = now_us(request)
    names = _camera_names(request)
    may_decide = who.role in approvers
    return {
        "h": h, "state_text": STATE_TEXT.get(h.state, h.state),
        "cameras": [names.get(c, c) for c in h.cameras],
        "lapses_in": h.grace_until_us - now if h.state == "requested" else None,
        "review_in": (h.review_us - now) if h.state == "active" and h.review_us else None,
        "own": h.requested_by == who.name,
        "may_decide": may_decide and h.requested_by != who.name and h.state == "requested",
        "may_manage": may_decide and h.state == "active",
        "decider_text": " or ".join(approvers),
    }


async def holds_page(request: web.Request) -> web.Response:
    s = svc(request)
    holds = await hs.list_holds(s, actor(request))
    rows = [_decorate(request, h, roles_for(s, h.cameras, "holds")) for h in holds]
    return render(request, "holds.html", {
        "waiting": [r for r in rows if r["h"].state == "requested"],
        "active": [r for r in rows if r["h"].state == "active"],
        "ended": [r for r in reversed(rows) if r["h"].state not in ("requested", "active")][:100],
        "done": DONE_TEXT.get(request.query.get("done", "")),
    })


def _hold_form_values(data) -> dict:
    cams = [c for c in data.getall("cameras", []) if isinstance(c, str) and c.strip()]
    return {"cameras": cams, "start": str(data.get("start", ""))[:32],
            "end": str(data.get("end", ""))[:32], "incident": str(data.get("incident", ""))[:2000],
            "reason": str(data.get("reason", ""))[:2000]}


async def request_hold(request: web.Request) -> web.Response:
    data = await form(request)
    values = _hold_form_values(data)
    try:
        cams = values["cameras"]
        if not cams:
            raise BadRequest("Choose at least one camera", code="bad_cameras")
        unknown = [c for c in cams if request.app[SETTINGS].camera(c) is None]
        if unknown:
            raise BadRequest("There is no camera " + ", ".join(unknown), code="unknown_camera")
        start = local_time(request, data, "start", "start of the window")
        end = local_time(request, data, "end", "end of the window")
        incident = field(data, "incident", required=True, what="the incident reference",
                         max_len=200)
        reason = field(data, "reason", required=True, what="the reason")
        out = await hs.request_hold(svc(request), actor(request), cams, start, end, incident,
                                    reason)
    except GatewayError as err:
        if err.status not in (400, 403, 409):
            raise
        return render(request, "hold_request.html", {
            "hold_form": values, "cameras": request.app[SETTINGS].cameras,
            "error": _plain(err)}, status=err.status)
    raise see_other(f"/holds/{out.hold.id}?done=requested")


def _plain(err: GatewayError) -> str:
    """The service's message, for a person: the API's UTC times are fine but say so."""
    msg = err.message
    if err.code == "already_destroyed":
        msg = ("That footage was already destroyed at its retention deadline; a hold cannot "
               "bring it back. (" + msg + ")")
    return msg[:1].upper() + msg[1:]


async def hold_page(request: web.Request, *, error: str | None = None, status: int = 200,
                    export_values: dict | None = None) -> web.Response:
    s = svc(request)
    h = await hs.get_hold(s, actor(request), _hold_id(request))
    row = _decorate(request, h, roles_for(s, h.cameras, "holds"))
    exports = await s.catalog.run(exp_sql.exports_of_hold, h.id)
    disclosers = roles_for(s, h.cameras, "disclosures")
    kept = await s.catalog.read(segments_in_window, list(h.cameras), h.start_us,
                                h.end_us)
    destroyed = await s.catalog.read(holds_sql.destroyed_in_window, list(h.cameras), h.start_us,
                                     h.end_us)
    progress = request.app[EXPORT_PROGRESS].get(h.id)
    building = any(e.state == "building" for e in exports)
    return render(request, "hold.html", row | {
        "exports": exports, "may_export": actor(request).role in disclosers
        and h.state == "active", "kept": len(kept), "kept_bytes": sum(x.bytes for x in kept),
        "destroyed": destroyed, "progress": progress if building else None,
        "building": building, "grounds": [(g, GROUND_TEXT[g]) for g in GROUNDS],
        "recipients": [(r, RECIPIENT_TEXT[r]) for r in RECIPIENTS],
        "export_values": export_values or {}, "error": error,
        "done": ("The export is ready: download it below." if request.query.get("done") ==
                 "export" and not building else DONE_TEXT.get(request.query.get("done", ""))),
        "ground_text": GROUND_TEXT, "recipient_text": RECIPIENT_TEXT,
        "counsel_required": counsel_required(s, h.cameras),
    }, status=status)


async def hold_view(request: web.Request) -> web.Response:
    return await hold_page(request)


async def _refused(request: web.Request, err: GatewayError, **kw) -> web.Response:
    """The hold page with the refusal on it; the plain error page when the caller may not
    read the hold at all (then the refusal itself is what they get)."""
    try:
        return await hold_page(request, error=_plain(err), status=err.status, **kw)
    except GatewayError:
        raise err from None


async def hold_action(request: web.Request) -> web.Response:
    data = await form(request)
    action = ACTIONS.get(str(data.get("action", "")))
    hold_id = _hold_id(request)
    try:
        if action is None:
            raise BadRequest("Unknown action", code="bad_action")
        await hs.act(svc(request), hold_id, action, actor(request),
                     note=field(data, "note", what="the note"),
                     reference=field(data, "reference", what="the court order's reference",
                                     required=action == "court_order", max_len=200))
    except GatewayError as err:
        if err.status not in (400, 403, 409):
            raise
        return await _refused(request, err)
    raise see_other(f"/holds/{hold_id}?done={action}")


async def start_export(request: web.Request) -> web.Response:
    """Start building the package in the background; the hold page shows its progress."""
    data = await form(request)
    hold_id = _hold_id(request)
    keys = ("ground", "recipient", "recipient_name", "reference", "counsel", "reason")
    values = {k: str(data.get(k, ""))[:2000] for k in keys}
    app, s, who = request.app, svc(request), actor(request)
    started = asyncio.Event()

    def progress(done: int, total: int) -> None:
        app[EXPORT_PROGRESS][hold_id] = (done, total)

    def on_start(export_id: int, total: int) -> None:
        app[EXPORT_PROGRESS][hold_id] = (0, total)
        started.set()

    async def build():
        try:
            return await hx.create_export(
                s, hold_id, who,
                ground=field(data, "ground", required=True, what="the ground"),
                reference=field(data, "reference", what="the reference", max_len=200),
                recipient=field(data, "recipient", required=True, what="the recipient"),
                reason=field(data, "reason", required=True, what="the reason"),
                recipient_name=field(data, "recipient_name", what="the recipient's name",
                                     max_len=200),
                counsel=field(data, "counsel", what="the counsel consulted", max_len=200),
                progress=progress, on_start=on_start)
        finally:
            app[EXPORT_PROGRESS].pop(hold_id, None)

    task = asyncio.get_running_loop().create_task(build())
    app[EXPORT_TASKS].add(task)
    task.add_done_callback(app[EXPORT_TASKS].discard)
    waiter = asyncio.ensure_future(started.wait())
    await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
    waiter.cancel()
    if task.done():
        err = task.exception()
        if isinstance(err, GatewayError) and err.status in (400, 403, 409):
            return await _refused(request, err, export_values=values)
        if err is not None:
            raise err
    raise see_other(f"/holds/{hold_id}?done=export")

