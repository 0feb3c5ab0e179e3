"""HTTP API for preservation holds, exports and the audit log (docs/interface.md).

Thin: parse, check the role, call ``gateway.holds.service``, render JSON.
"""

from __future__ import annotations

import asyncio
import json

from aiohttp import web

from ..catalog import audit_log
from ..catalog import exports as exp_sql
from ..clock import iso, parse_iso
from ..errors import BadRequest
from ..holds import exports as ex
from ..holds import service as hs
from ..holds.records import export_json, hold_json
from .appkeys import RUNTIME
from .auth import caller

MAX_JSON_BYTES = 64 * 1024
AUDIT_PAGE = 1000


async def read_json(request: web.Request) -> dict:
    """The request's JSON object body, or BadRequest (empty body: {}).

    Read to its end however it arrives: ``content.read(n)`` returns what has
    arrived so far, which for a body sent in pieces is only its start.
    """
    if request.content_length is not None and request.content_length > MAX_JSON_BYTES:
        raise BadRequest("JSON body too large", code="bad_json")
    buf = bytearray()
    while len(buf) <= MAX_JSON_BYTES:
        chunk = await request.content.read(MAX_JSON_BYTES + 1 - len(buf))
        if not chunk:
            break
        buf += chunk
    raw = bytes(buf)
    if len(raw) > MAX_JSON_BYTES:
        raise BadRequest("JSON body too large", code="bad_json")
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError as err:
        raise BadRequest(f"body is not valid JSON: {err}", code="bad_json") from None
    if not isinstance(body, dict):
        raise BadRequest("body must be a JSON object", code="bad_json")
    return body


def _str(body: dict, key: str, required: bool = True) -> str:
    v = body.get(key, "")
    if not isinstance(v, str):
        raise BadRequest(f"{key} must be a string", code="bad_field")
    if required and not v.strip():
        raise BadRequest(f"{key} is required", code=f"{key}_required")
    return v


def _time(body: dict, key: str, required: bool = True) -> int | None:
    v = body.get(key)
    if v is None and not required:
        return None
    if not isinstance(v, str):
        raise BadRequest(f"{key} must be an RFC 3339 time, e.g. 2024-05-01T13:00:00Z",
                         code="bad_time")
    try:
        return parse_iso(v)
    except ValueError as err:
        raise BadRequest(f"{key}: {err}", code="bad_time") from None


def _cameras(body: dict, required: bool = True) -> list[str] | None:
    v = body.get("cameras")
    if v is None and not required:
        return None
    if not isinstance(v, list) or not all(isinstance(c, str) for c in v):
        raise BadRequest("cameras must be a list of camera ids", code="bad_cameras")
    return v


#: SQLite integers are signed 64-bit; anything larger is a bad id, not a server error.
MAX_ID = 2**63 - 1


def _int_param(text: str, what: str, code: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise BadRequest(f"{what} must be an integer", code=code) from None
    if not 0 <= value <= MAX_ID:
        raise BadRequest(f"{what} must be between 0 and {MAX_ID}", code=code)
    return value


def _hold_id(request: web.Request) -> int:
    return _int_param(request.match_info["id"], "hold id", "bad_id")


async def create_hold(request: web.Request) -> web.Response:
    actor = caller(request)
    body = await read_json(request)
    out = await hs.request_hold(request.app[RUNTIME], actor, _cameras(body),
                                _time(body, "start"), _time(body, "end"),
                                _str(body, "incident"), _str(body, "reason"))
    doc = hold_json(out.hold) | {"segments_kept": out.kept,
                                    "segments_already_destroyed": out.destroyed}
    if out.destroyed:
        doc["warning"] = (f"{out.destroyed} segment(s) in this window were already destroyed; "
                          "the hold preserves only what is left")
    elif not out.kept:
        doc["warning"] = ("no footage of these cameras is stored in this window (yet): check "
                          "the cameras and the times (UTC); nothing can be exported until there is")
    return web.json_response(doc, status=201)


async def list_holds(request: web.Request) -> web.Response:
    actor = caller(request)
    holds = await hs.list_holds(request.app[RUNTIME], actor)
    return web.json_response({"holds": [hold_json(h) for h in holds]})


async def get_hold(request: web.Request) -> web.Response:
    actor = caller(request)
    h = await hs.get_hold(request.app[RUNTIME], actor, _hold_id(request))
    exports = await request.app[RUNTIME].catalog.run(exp_sql.exports_of_hold, h.id)
    return web.json_response(hold_json(h) | {"exports": [export_json(e) for e in exports]})


def action_view(action: str):
    async def view(request: web.Request) -> web.Response:
        actor = caller(request)
        body = await read_json(request)
        h = await hs.act(request.app[RUNTIME], _hold_id(request), action, actor,
                         note=_str(body, "note", required=False),
                         reference=_str(body, "reference", required=action == "court_order"))
        return web.json_response(hold_json(h))
    view.__name__ = f"hold_{action}"
    return view


async def hold_segments(request: web.Request) -> web.Response:
    actor = caller(request)
    segs = await hs.hold_segments(request.app[RUNTIME], actor, _hold_id(request))
    return web.json_response({"segments": [
        {"id": s.uid, "camera": s.camera, "start": iso(s.start_us), "end": iso(s.end_us),
         "video": f"/api/v1/segments/{s.uid}/video"} for s in segs]})


async def create_export(request: web.Request) -> web.Response:
    actor = caller(request)
    body = await read_json(request)
    e = await ex.create_export(
        request.app[RUNTIME], _hold_id(request), actor,
        ground=_str(body, "ground"), reference=_str(body, "reference", required=False),
        recipient=_str(body, "recipient"), reason=_str(body, "reason"),
        recipient_name=_str(body, "recipient_name", required=False),
        counsel=_str(body, "counsel", required=False),
        cameras=_cameras(body, required=False), start_us=_time(body, "start", required=False),
        end_us=_time(body, "end", required=False))
    return web.json_response(export_json(e), status=201)


async def download_export(request: web.Request) -> web.StreamResponse:
    actor = caller(request)
    export_id = _int_param(request.match_info["id"], "export id", "bad_id")
    svc = request.app[RUNTIME]
    await ex.export_package(svc, export_id, actor)
    chunks = ex.package_chunks(svc, export_id)  # sealed at rest: decrypted as it goes out
    first = await svc.cpu(next, chunks, None)    # a bad file fails here, before the 200
    resp = web.StreamResponse(headers={
        "Content-Type": "application/zip", "Cache-Control": "no-store",
        "Content-Disposition": f'attachment; filename="footage-export-{export_id}.zip"'})
    await resp.prepare(request)
    try:
        chunk = first
        while chunk is not None:
            await resp.write(chunk)
            chunk = await svc.cpu(next, chunks, None)
    finally:
        chunks.close()
    await resp.write_eof()
    return resp


async def audit_entries(request: web.Request) -> web.Response:
    since = _int_param(request.query.get("since", "0"), "since (an audit seq)", "bad_query")

    entries = await request.app[RUNTIME].catalog.read(
        lambda db: list(audit_log.entries(db, since, limit=AUDIT_PAGE)))
    return web.json_response({"entries": [
        {"seq": e.seq, "at": iso(e.at_us), "actor": e.actor, "role": e.role, "action": e.action,
         "object": e.object, "reason": e.reason, "detail": json.loads(e.detail),
         "prev_hash": e.prev_hash, "hash": e.hash} for e in entries]})


async def audit_verify(request: web.Request) -> web.Response:
    """The whole chain (``from=start``, default) or from the newest checkpoint. The whole
    walk takes minutes at a year of entries (docs/scale.md): it runs on a read-only
    connection and thread of its own, so the shared reader (metrics, pages) is not
    held up by it, nor the writer."""
    since = request.query.get("from", "start")
    if since not in ("start", "checkpoint"):
        raise BadRequest("from must be 'start' or 'checkpoint'", code="bad_from")
    svc = request.app[RUNTIME]
    key = svc.catalog.catalog.audit_key

    check = await asyncio.to_thread(audit_log.check_chain_alone, svc.catalog.catalog.path, key,
                                    since_checkpoint=since == "checkpoint")
    r = check.result
    return web.json_response({"ok": r.ok, "entries": check.verified_upto, "head": r.head,
                              "first_bad_seq": r.first_bad_seq, "problem": r.problem,
                              "checkpoint_seq": check.checkpoint_seq,
                              "read_from_seq": check.from_seq + 1})
