"""Cameras, a camera's timeline, a stored frame, and playback after stating a reason."""

from __future__ import annotations

from urllib.parse import urlencode

import av
import cv2
from aiohttp import web

from ... import humanize
from ...catalog import browse, holds as holds_sql
from ...catalog.segments import camera_stats
from ...clock import US
from ...errors import BadRequest, Forbidden, GatewayError, NotFound
from ...holds import service as hs
from ...holds.access import HOLD_READERS, REQUESTERS, VIEWERS
from ...holds.lookups import roles_for
from ...holds.rules import check_view
from ...policy.loading import retention_seconds
from ...policy.notice import area_title, describe_masks
from ...segments import timeline
from ..appkeys import SETTINGS
from .common import actor, local_time, now_us, render, svc, tz

#: At most this many segments are grouped into a timeline (the newest, if more).
MAX_TIMELINE_SEGMENTS = 5000
#: At most this many segments play as one window.
MAX_PLAY_SEGMENTS = 120
PLACEHOLDER = (640, 360)
DEFAULT_WINDOW_US = 24 * 3600 * US
HOLD_FORM_DEFAULT_US = 30 * 60 * US


def _camera(request: web.Request):
    cam = request.app[SETTINGS].camera(request.match_info["camera"])
    if cam is None:
        raise NotFound(f"there is no camera {request.match_info['camera']!r}")
    return cam


def _view_roles(request, camera_id: str) -> tuple[str, ...]:
    return roles_for(svc(request), [camera_id], "view")


def _may_view(request, seg, live) -> bool:
    try:
        check_view(actor(request), seg.camera, seg.start_us, seg.end_us, "-", live,
                   _view_roles(request, seg.camera))
    except (Forbidden, BadRequest):
        return False
    return True


def _masks_svg(cam, width: int, height: int) -> list[dict]:
    return [{"zone": m.zone, "mode": m.mode,
             "points": " ".join(f"{x * width:.1f},{y * height:.1f}" for x, y in m.polygon)}
            for m in cam.masks]


async def cameras_page(request: web.Request) -> web.Response:
    s = svc(request)
    who = actor(request)
    stats = {c.camera: c for c in await s.catalog.read(camera_stats)}
    live = await s.catalog.run(holds_sql.live_holds)
    show = request.query.get("frame", "")
    reason = request.query.get("reason", "").strip()
    cards = []
    for cam in request.app[SETTINGS].cameras:
        pol = s.policies[cam.id]
        newest = await s.catalog.read(browse.newest_segment, cam.id)
        w, h = (newest.width, newest.height) if newest else PLACEHOLDER
        viewable = newest is not None and who.role in VIEWERS and _may_view(request, newest, live)
        frame_url = None
        if viewable and show == cam.id and reason:
            frame_url = f"/cameras/{cam.id}/frame.jpg?" + urlencode({"reason": reason})
        st = stats.get(cam.id)
        cards.append({
            "id": cam.id, "name": cam.name, "area": area_title(pol, cam.zone),
            "purpose": cam.purpose, "policy": pol.title,
            "retention": humanize.duration(retention_seconds(cam, pol)),
            "masked": describe_masks(cam) or "nothing is masked",
            "width": w, "height": h, "masks": _masks_svg(cam, w, h),
            "viewable": viewable, "frame_url": frame_url,
            "stored": st.segments if st else 0, "bytes": st.bytes if st else 0,
        })
    return render(request, "cameras.html", {"cards": cards, "reason_missing":
                                            bool(show) and not reason})


def _first_frame_jpeg(mp4: bytes) -> bytes:
    import io
    with av.open(io.BytesIO(mp4)) as container:
        for frame in container.decode(video=0):
            ok, jpg = cv2.imencode(".jpg", frame.to_ndarray(format="bgr24"),
                                   [cv2.IMWRITE_JPEG_QUALITY, 80])
            if not ok:
                break
            return jpg.tobytes()
    raise GatewayError("the stored segment has no decodable frame")


async def frame_image(request: web.Request) -> web.Response:
    """The first frame of the newest stored (masked) segment, as a JPEG; an audited view."""
    cam = _camera(request)
    s = svc(request)
    newest = await s.catalog.read(browse.newest_segment, cam.id)
    if newest is None:
        raise NotFound(f"no footage of {cam.name} is stored")
    _, mp4 = await hs.view_segment(s, actor(request), newest.uid,
                                   request.query.get("reason", ""))
    jpg = await s.cpu(_first_frame_jpeg, mp4)
    return web.Response(body=jpg, content_type="image/jpeg",
                        headers={"Cache-Control": "no-store"})


def _window(request: web.Request, cam) -> tuple[int, int]:
    now = now_us(request)
    q = request.query
    if q.get("from") or q.get("to"):
        start = local_time(request, q, "from", "start of the window")
        end = local_time(request, q, "to", "end of the window")
        if end <= start:
            raise BadRequest("The end of the window must be after its start", code="bad_window")
        return start, end
    keep = retention_seconds(cam, svc(request).policies[cam.id]) * US
    return now - min(max(keep + 600 * US, 3600 * US), 7 * DEFAULT_WINDOW_US), now


async def timeline_page(request: web.Request) -> web.Response:
    cam = _camera(request)
    s = svc(request)
    who = actor(request)
    now = now_us(request)
    try:
        start, end = _window(request, cam)
        error = None
    except BadRequest as err:
        start, end = now - DEFAULT_WINDOW_US, now
        error = err.message
    segs = await s.catalog.read(browse.camera_segments, cam.id, start, end,
                                MAX_TIMELINE_SEGMENTS + 1)
    truncated = len(segs) > MAX_TIMELINE_SEGMENTS
    segs = segs[-MAX_TIMELINE_SEGMENTS:]
    receipts = await s.catalog.read(browse.camera_receipts, cam.id, start, end, 10_000)
    holds = await s.catalog.read(holds_sql.holds_covering, cam.id, start, end)
    tl = timeline.build(segs, receipts, holds, start, end, now, truncated)
    live = [h for h in holds if h.state in ("requested", "active")]
    can_play = who.role in VIEWERS and any(_may_view(request, x, live) for x in segs[-200:])
    return render(request, "timeline.html", {
        "cam": cam, "area": area_title(s.policies[cam.id], cam.zone),
        "retention": humanize.duration(retention_seconds(cam, s.policies[cam.id])),
        "tl": tl, "start": start, "end": end, "error": error,
        "can_request": who.role in REQUESTERS, "can_play": can_play,
        "cameras": request.app[SETTINGS].cameras, "hold_form": {
            # A request names the incident's minutes, not the whole view: the last 30 min.
            "cameras": [cam.id], "start": humanize.to_input(
                max(start, min(end, now) - HOLD_FORM_DEFAULT_US), tz(request)),
            "end": humanize.to_input(min(end, now), tz(request)), "incident": "", "reason": ""},
        "show_hold_text": who.role in HOLD_READERS,
    })


async def play_page(request: web.Request) -> web.Response:
    """Several consecutive segments as one window; each segment's fetch is an audited view."""
    cam = _camera(request)
    s = svc(request)
    now = now_us(request)
    q = request.query
    reason = q.get("reason", "").strip()
    error = None
    try:
        start, end = _window(request, cam)
    except BadRequest as err:
        start, end, error = now - 3600 * US, now, err.message
    clips, refused = [], 0
    if reason and error is None:
        segs = await s.catalog.read(browse.camera_segments, cam.id, start, end,
                                    MAX_PLAY_SEGMENTS)
        live = await s.catalog.run(holds_sql.live_holds)
        for seg in segs:
            if not _may_view(request, seg, live):
                refused += 1
                continue
            clips.append({"src": f"/api/v1/segments/{seg.uid}/video?" + urlencode(
                {"reason": reason}), "start": seg.start_us, "end": seg.end_us})
        if not segs:
            error = "No footage of this camera is stored in this window."
        elif not clips:
            error = ("You may not view this footage: " + (
                "staff may view only footage under an approved hold they requested."
                if actor(request).role == "staff" else "the camera's policy does not allow it."))
    elif q.get("submitted") and not reason:
        error = "Say why you are viewing this footage: the reason is written to the audit log."
    return render(request, "play.html", {
        "cam": cam, "reason": reason, "clips": clips, "refused": refused, "error": error,
        "from_value": humanize.to_input(start, tz(request)),
        "to_value": humanize.to_input(end, tz(request)), "start": start, "end": end,
    }, status=400 if error and q.get("submitted") else 200, script=bool(clips))

