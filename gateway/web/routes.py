"""The one route table: method, path, handler, who may call it, and what it answers.

``setup`` registers every route from it; the auth middleware (gateway.web.auth)
looks up the matched route's action and checks the caller's role against
``gateway.holds.access.RULES``; the OpenAPI document is built from it; and
``tests/web/test_access_table.py`` walks every route x every role.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Awaitable, Callable

from aiohttp import web

from ..holds.access import RULES
from . import holds_api, keys_api, notice, push, segments_api, system
from .appkeys import ROUTE_OF
from .pages import cameras, holds as hold_pages, people, records, signin
from .pages.site import setup_pages, static_file
from .openapi import (
    COURT_ORDER,
    EXPORT_ID,
    EXPORT_REQUEST,
    HOLD_ACTION,
    HOLD_ID,
    HOLD_REQUEST,
    OPENAPI_PATH,
    TEXT,
    TIME,
    Op,
    json_content,
    obj,
    openapi_document,
    param,
    ref,
)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Route:
    method: str
    path: str        # aiohttp syntax; {id:\d+} keeps a bad id from reaching the handler
    handler: Handler
    action: str      # a key of gateway.holds.access.RULES: who may call it
    doc: Op          # what it answers (OpenAPI)
    page: bool = False  # a browser page: sessions, and the anonymous are sent to sign in

    def __post_init__(self) -> None:
        if self.action not in RULES:
            raise ValueError(f"route {self.method} {self.path}: unknown action {self.action!r}")


async def openapi_view(request: web.Request) -> web.Response:
    return web.json_response(DOCUMENT)


HOLD = r"/api/v1/holds/{id:\d+}"
_HOLD_ACTIONS = (("approve", "approve"), ("deny", "deny"), ("release", "release"),
                 ("renew", "renew"), ("court-order", "court_order"))
_HELD_SEGMENTS = obj({"segments": {"type": "array", "items": ref("HeldSegment")}})


def _hold_action_route(path: str, action: str) -> Route:
    body = COURT_ORDER if action == "court_order" else HOLD_ACTION
    return Route("POST", f"{HOLD}/{path}", holds_api.action_view(action), "hold.act",
                 Op(f"Hold: {path.replace('-', ' ')} (the hold state machine decides who may)",
                    (200, "The hold after the action", json_content(ref("Hold"))),
                    (400, 404, 409), body=json_content(body), params=(HOLD_ID,)))


API_ROUTES: tuple[Route, ...] = (
    Route("GET", "/healthz", system.healthz, "public",
          Op("Health check", (200, "Up", json_content(obj({"status": {"const": "ok"}}))))),
    Route("GET", "/notice", notice.notice_handler, "public",
          Op("Public notice about the cameras (HTML)", (200, "The notice page",
                                                        {"text/html": {}}))),
    Route("GET", "/notice/signage", notice.signage_handler, "public",
          Op("Printable signs (HTML)", (200, "One sign per policy", {"text/html": {}}))),
    Route("GET", "/metrics", system.metrics_view, "metrics.read",
          Op("Prometheus metrics", (200, "Prometheus text format", {"text/plain": {}}))),
    Route("GET", OPENAPI_PATH, openapi_view, "api.describe",
          Op("This OpenAPI document", (200, "OpenAPI 3.1 document",
                                       json_content({"type": "object"})))),
    Route("POST", "/api/v1/cameras/{camera}/segments", push.push_segment, "camera.push",
          Op("Camera push: store one video segment (masked, encrypted, deleted at its deadline)",
             (201, "Stored", json_content(ref("Segment"))),
             (400, 401, 404, 408, 413, 415, 503, 507),
             body={"video/mp4": {"schema": {"type": "string", "contentMediaType": "video/mp4"}},
                   "video/mp2t": {"schema": {"type": "string",
                                             "contentMediaType": "video/mp2t"}}},
             params=(param("camera", "path", {"type": "string"}, True, "camera id"),
                     param("X-Segment-Start", "header", TIME, False, "time of the first frame")),
             retry_ok=True)),
    Route("POST", "/api/v1/holds", holds_api.create_hold, "hold.request",
          Op("Request a preservation hold", (201, "The hold requested", json_content(ref("Hold"))),
             (400, 404, 409), body=json_content(HOLD_REQUEST))),
    Route("GET", "/api/v1/holds", holds_api.list_holds, "hold.read",
          Op("List holds", (200, "Holds", json_content(obj({"holds": {
              "type": "array", "items": ref("Hold")}}))))),
    Route("GET", HOLD, holds_api.get_hold, "hold.read",
          Op("One hold with its exports", (200, "The hold", json_content(ref("Hold"))),
             (400, 404), params=(HOLD_ID,))),
    *(_hold_action_route(path, action) for path, action in _HOLD_ACTIONS),
    Route("GET", f"{HOLD}/segments", holds_api.hold_segments, "hold.segments",
          Op("The segments a hold preserves", (200, "Segments", json_content(_HELD_SEGMENTS)),
             (400, 404), params=(HOLD_ID,))),
    Route("POST", f"{HOLD}/exports", holds_api.create_export, "export.create",
          Op("Build a signed disclosure package from a hold",
             (201, "The export", json_content(ref("Export"))), (400, 404, 409, 423),
             body=json_content(EXPORT_REQUEST), params=(HOLD_ID,))),
    Route("GET", r"/api/v1/exports/{id:\d+}.zip", holds_api.download_export, "export.download",
          Op("Download an export package", (200, "The package", {"application/zip": {}}),
             (400, 404, 410), params=(EXPORT_ID,))),
    Route("GET", r"/api/v1/segments/{id:[0-9a-f]{32}}/video", segments_api.segment_video,
          "footage.view",
          Op("View one segment: decrypted, masked MP4 (audited)",
             (200, "The video", {"video/mp4": {}}), (400, 404, 423),
             params=(param("id", "path", {"type": "string", "pattern": "^[0-9a-f]{32}$"}, True,
                           "segment id"),
                     param("reason", "query", TEXT, True, "why it is viewed (audited)")))),
    Route("GET", "/api/v1/audit", holds_api.audit_entries, "audit.read",
          Op("Audit log entries after a sequence number (at most 1000)",
             (200, "Entries", json_content(obj({"entries": {"type": "array", "items": ref(
                 "AuditEntry")}}))), (400,),
             params=(param("since", "query", {"type": "integer", "minimum": 0}, False,
                           "audit seq to start after (default 0)"),))),
    Route("POST", "/api/v1/keys/unlock", keys_api.unlock_view, "keys.unlock",
          Op("Sealed mode: give this director's passphrase (unlocks at the quorum)",
             (200, "Unlocked", json_content(ref("KeyStatus"))), (400, 409, 429),
             body=json_content(obj({"passphrase": TEXT | {"format": "password"}})),
             accepted=(202, "Share accepted; more directors must unlock",
                       json_content(ref("KeyStatus"))))),
    Route("POST", "/api/v1/keys/lock", keys_api.lock_view, "keys.lock",
          Op("Sealed mode: lock now (drops the key from memory)",
             (200, "Locked", json_content(ref("KeyStatus"))), (409,))),
    Route("GET", "/api/v1/keys/status", keys_api.status_view, "keys.status",
          Op("Key mode, locked or unlocked, until when",
             (200, "The status", json_content(ref("KeyStatus"))))),
    Route("GET", "/api/v1/audit/verify", holds_api.audit_verify, "audit.read",
          Op("Verify the audit log's hash chain (and MACs): the whole chain, or with "
             "from=checkpoint only the entries after the newest MACed checkpoint",
             (200, "The result", json_content(obj(
                 {"ok": {"type": "boolean"}, "entries": {"type": "integer"}},
                 {"head": {"type": ["string", "null"]},
                  "first_bad_seq": {"type": ["integer", "null"]},
                  "problem": {"type": ["string", "null"]},
                  "checkpoint_seq": {"type": ["integer", "null"]},
                  "read_from_seq": {"type": "integer"}}))), (400,),
             params=(param("from", "query", {"type": "string", "enum": ["start", "checkpoint"]},
                           False, "start (default): every entry; checkpoint: after the "
                           "newest checkpoint (O(new entries))"),))),
)

HTML = {"text/html": {}}
FORM = {"application/x-www-form-urlencoded": {"schema": {"type": "object"}}}
CAMERA_ID = param("camera", "path", {"type": "string"}, True, "camera id")
USER_NAME = param("name", "path", {"type": "string"}, True, "user name")
PAGE_HOLD = r"/holds/{id:\d+}"


def _page(method: str, path: str, handler: Handler, action: str, summary: str,
          params: tuple[dict, ...] = (), errors: tuple[int, ...] = ()) -> Route:
    """A page: HTML for people in a browser; forms are posted with the session's CSRF token."""
    ok = (303, "Done: to the page that shows it", {}) if method == "POST" else (
        200, "The page", HTML)
    return Route(method, path, handler, action,
                 Op(summary, ok, errors, body=FORM if method == "POST" else None,
                    params=params), page=True)


PAGES: tuple[Route, ...] = (
    _page("GET", "/", signin.home, "public", "Sign-in, or the home page of who is signed in"),
    _page("GET", "/login", signin.login_form, "public", "The sign-in form"),
    _page("POST", "/login", signin.login_submit, "public",
          "Sign in (sets the session cookie)", errors=(401, 403, 429)),
    _page("POST", "/logout", signin.logout, "session.end", "Sign out (ends the session)"),
    Route("GET", "/static/{name}", static_file, "public",
          Op("The pages' stylesheet and script", (200, "The file", {"text/css": {}}), (404,),
             params=(param("name", "path", {"type": "string"}, True, "file name"),)), page=True),
    _page("GET", "/cameras", cameras.cameras_page, "camera.read",
          "Cameras: place, policy, retention, masks"),
    _page("GET", "/cameras/{camera}", cameras.timeline_page, "timeline.read",
          "A camera's timeline: stored footage, deadlines, gaps, holds", (CAMERA_ID,), (404,)),
    _page("GET", "/cameras/{camera}/frame.jpg", cameras.frame_image, "footage.play",
          "The first frame of the newest stored (masked) segment (audited)", (CAMERA_ID,),
          (400, 404)),
    _page("GET", "/cameras/{camera}/play", cameras.play_page, "footage.play",
          "Play a window of footage after stating a reason (audited)", (CAMERA_ID,), (400, 404)),
    _page("GET", "/holds", hold_pages.holds_page, "hold.read", "Holds: the director's queue"),
    _page("POST", "/holds", hold_pages.request_hold, "hold.request", "Request a hold",
          errors=(400, 409)),
    _page("GET", PAGE_HOLD, hold_pages.hold_view, "hold.read", "One hold, its exports",
          (HOLD_ID,), (404,)),
    _page("POST", PAGE_HOLD + "/action", hold_pages.hold_action, "hold.act",
          "Approve, deny, release, renew, or record a court order", (HOLD_ID,),
          (400, 404, 409)),
    _page("POST", PAGE_HOLD + "/export", hold_pages.start_export, "export.create",
          "Start building an export package", (HOLD_ID,), (400, 404, 409)),
    _page("GET", "/audit", records.audit_page, "audit.read", "The audit log, with filters",
          errors=(400,)),
    _page("GET", "/receipts", records.receipts_page, "receipts.read", "Purge receipts",
          errors=(400,)),
    _page("GET", "/compliance", records.compliance_page, "compliance.read",
          "Compliance: past-deadline footage, purge lag, holds by state"),
    _page("GET", "/users", people.users_view, "users.manage", "Users"),
    _page("POST", "/users", people.add_user, "users.manage", "Add a user", errors=(400, 409)),
    _page("POST", "/users/{name}/password", people.reset_password, "users.manage",
          "Reset a user's password (ends their sessions)", (USER_NAME,), (400, 404)),
    _page("POST", "/users/{name}/revoke-tokens", people.revoke_tokens, "users.manage",
          "Revoke a user's API tokens", (USER_NAME,), (404,)),
)
#: THE table: the API and the pages. OpenAPI documents the API (the pages answer HTML).
ROUTES: tuple[Route, ...] = API_ROUTES + PAGES

DOCUMENT = openapi_document(API_ROUTES)

def setup(app: web.Application, routes: tuple[Route, ...] = ROUTES) -> None:
    """Register ``routes`` (all of them unless a test picks a few) and what they need."""
    table: dict[Handler, Route] = {}
    for r in routes:
        if r.method == "GET":
            app.router.add_get(r.path, r.handler)  # with HEAD, as aiohttp does by default
        else:
            app.router.add_route(r.method, r.path, r.handler)
        table[r.handler] = r
    app[ROUTE_OF] = table
    if any(r.page for r in routes):
        setup_pages(app)
    if any(r.handler is push.push_segment for r in routes):
        push.setup_push(app)
