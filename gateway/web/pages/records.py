"""The audit log (chain status, filters), purge receipts, and the compliance page."""

from __future__ import annotations

import json

from aiohttp import web

from ... import humanize
from ...audit import VerifyResult, verify as verify_chain
from ...catalog import audit_log, browse, holds as holds_sql
from ...catalog import store as store_sql
from ...catalog.segments import camera_stats
from ...clock import US
from ...errors import BadRequest
from ...policy.report import approx, lag_histogram, percentile, svg_bars
from ...segments.purge import due_plan
from ...segments.stats import verify_audit
from ..appkeys import SETTINGS
from .common import local_time, now_us, render, svc

PAGE = 100
ACTION_TEXT = {
    "login": "Signed in", "login.failed": "Failed sign-in", "logout": "Signed out",
    "user.add": "Added a user", "user.token": "Issued an API token",
    "user.revoke_tokens": "Revoked API tokens", "user.password": "Reset a password",
    "hold.request": "Requested a hold", "hold.approve": "Approved a hold",
    "hold.deny": "Denied a hold", "hold.release": "Released a hold",
    "hold.renew": "Renewed a hold", "hold.court_order": "Recorded a court order",
    "hold.lapse": "A hold lapsed", "hold.expire": "A hold expired",
    "segment.view": "Viewed footage", "export.create": "Started an export",
    "export.built": "Export package built", "export.download": "Downloaded an export",
    "export.delete": "Export package deleted", "purge": "Destroyed footage at its deadline",
    "policy.change": "Retention changed", "camera.add": "Camera added",
    "camera.change": "Camera configuration changed", "keys.rotate": "New key epoch",
}
FILTERS = (("", "Everything"), ("login", "Sign-ins"), ("hold", "Holds"),
           ("segment.view", "Footage viewed"), ("export", "Exports"), ("purge", "Destruction"),
           ("user", "Users"), ("camera", "Cameras"), ("policy", "Policy"), ("keys", "Keys"))
COMPLIANCE_DAYS = 30


def _value(key: str, v, zone: str) -> str:
    if key.endswith("_us") and isinstance(v, int):
        return humanize.local(v, zone, seconds=True)
    if key.endswith("_s") and isinstance(v, int):
        return humanize.duration(v)
    if isinstance(v, list):
        return ", ".join(str(x) for x in v)
    return str(v)


def _detail(text: str, zone: str) -> str:
    """An entry's detail as 'key: value' in plain words (instants in local time)."""
    try:
        d = json.loads(text)
    except ValueError:
        return text
    if not isinstance(d, dict):
        return str(d)
    out = []
    for k, v in d.items():
        if v in (None, "", [], {}):
            continue
        label = k.removesuffix("_us").removesuffix("_s").replace("_", " ")
        out.append(f"{label}: {_value(k, v, zone)}")
    return "; ".join(out)


def _object(obj: str) -> str:
    """'hold:3' -> 'hold #3'; 'segment:<uid>' -> 'segment 1a2b3c4d'."""
    kind, _, ident = obj.partition(":")
    if kind in ("hold", "export") and ident.isdigit():
        return f"{kind} #{ident}"
    if kind == "segment":
        return f"segment {ident[:8]}"
    return f"{kind} {ident}" if ident else obj


def _opt_time(request, q, name: str, what: str) -> int | None:
    return local_time(request, q, name, what) if q.get(name) else None


async def audit_page(request: web.Request) -> web.Response:
    s = svc(request)
    q = request.query
    action = q.get("action", "") if q.get("action", "") in dict(FILTERS) else ""
    who = q.get("actor", "").strip()[:80]
    error = None
    try:
        since = _opt_time(request, q, "from", "start")
        until = _opt_time(request, q, "to", "end")
        before = int(q["before"]) if q.get("before", "").isdigit() else None
    except BadRequest as err:
        since = until = before = None
        error = err.message
    rows = await s.catalog.read(lambda db: browse.audit_search(
        db, action=action, actor=who, since_us=since, until_us=until, before_seq=before,
        limit=PAGE + 1))
    more = len(rows) > PAGE
    rows = rows[:PAGE]
    chain, full = await _chain(s, q.get("full") == "1")
    return render(request, "audit.html", {
        "entries": [{"e": e, "what": ACTION_TEXT.get(e.action, e.action),
                     "object": _object(e.object),
                     "detail": _detail(e.detail, request.app[SETTINGS].library.timezone)}
                    for e in rows],
        "chain": chain, "filters": FILTERS, "action": action, "actor": who,
        "from_value": q.get("from", "")[:32], "to_value": q.get("to", "")[:32],
        "older": rows[-1].seq if more and rows else None, "error": error, "full": full,
    }, status=400 if error else 200)


async def _chain(s, full: bool) -> tuple[VerifyResult, bool]:
    """The chain's status: the running check (entries since the last verified one; the stats
    loop checks the whole chain hourly), or the whole chain now when asked."""
    if await verify_audit(s, full=full) and s.audit_ok_upto is not None:
        seq, head = s.audit_ok_upto
        return VerifyResult(True, seq, head), full
    # Broken: say where, from the whole chain (its MACs too, as the running check does).
    key = s.catalog.catalog.audit_key
    return await s.catalog.read(lambda db: verify_chain(audit_log.entries(db), key=key)), True


async def receipts_page(request: web.Request) -> web.Response:
    s = svc(request)
    q = request.query
    now = now_us(request)
    cams = {c.id: c.name for c in request.app[SETTINGS].cameras}
    camera = q.get("camera", "") if q.get("camera", "") in cams else ""
    error = None
    try:
        since = _opt_time(request, q, "from", "start") or now - COMPLIANCE_DAYS * 86400 * US
        until = _opt_time(request, q, "to", "end") or now + US
    except BadRequest as err:
        since, until, error = now - COMPLIANCE_DAYS * 86400 * US, now + US, err.message
    recs = await s.catalog.read(browse.receipts_destroyed, camera or None, since, until, 500)
    return render(request, "receipts.html", {
        "receipts": [{"r": r, "camera": cams.get(r.camera, r.camera),
                      "lag": approx(r.lag_us / US), "held": r.released_us is not None
                      and r.released_us > r.deadline_us} for r in recs],
        "cameras": cams, "camera": camera, "error": error, "truncated": len(recs) == 500,
        "from_value": humanize.to_input(since, request.app[SETTINGS].library.timezone),
        "to_value": humanize.to_input(until, request.app[SETTINGS].library.timezone),
    }, status=400 if error else 200)


async def compliance_page(request: web.Request) -> web.Response:
    s = svc(request)
    now = now_us(request)
    cams = {c.id: c.name for c in request.app[SETTINGS].cameras}
    since = now - COMPLIANCE_DAYS * 86400 * US
    recs = await s.catalog.read(browse.receipts_destroyed, None, since, now + US, 100_000)
    lags = sorted(r.lag_us / US for r in recs)
    hist = lag_histogram(lags)
    overdue = (await s.catalog.read(due_plan, now)).destroy
    per_cam: dict[str, int] = {}
    for seg in overdue:
        per_cam[seg.camera] = per_cam.get(seg.camera, 0) + 1
    counts = await s.catalog.read(holds_sql.hold_counts)
    stats = {c.camera: c for c in await s.catalog.read(camera_stats)}
    store = await s.catalog.read(store_sql.summary)
    st = request.app[SETTINGS].storage
    return render(request, "compliance.html", {
        "storage": {"backend": st.backend, "bucket": st.bucket, "prefix": st.prefix,
                    "endpoint": st.endpoint or (f"AWS {st.region}" if st.backend == "s3" else None),
                    "up": s.metrics.registry.get_sample_value("footage_storage_up") != 0,
                    "summary": store,
                    "oldest_owed": approx(None if store.oldest_owed_us is None
                                          else (now - store.oldest_owed_us) / US)},
        "days": COMPLIANCE_DAYS, "total": len(recs), "bars": svg_bars(hist),
        "p50": approx(percentile(lags, 50)), "p95": approx(percentile(lags, 95)),
        "max": approx(lags[-1] if lags else None),
        "past_deadline": [{"camera": name, "count": per_cam.get(cid, 0),
                           "stored": stats[cid].segments if cid in stats else 0,
                           "bytes": stats[cid].bytes if cid in stats else 0}
                          for cid, name in cams.items()],
        "hold_states": [(state, counts.get(state, 0)) for state in (
            "requested", "active", "denied", "lapsed", "released", "expired")],
    })

