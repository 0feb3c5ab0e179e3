"""``GET /api/v1/openapi.json``: an OpenAPI 3.1 description of every route.

The API parses JSON bodies by hand (gateway.web.holds_api ``read_json`` and
its ``_str``/``_time``/``_cameras`` helpers), not with pydantic models, so the
request schemas below are written out to match those parsers field by field;
enumerations come from the policy module's own tuples so they cannot drift.
``tests/test_openapi.py`` checks that the documented (method, path) pairs are
exactly the routes the app registers.

The document itself needs a bearer token like any non-public route: it names
no secrets, but the public surface of the gateway is the notice, and an API
description is for API clients, who have tokens.
"""

from __future__ import annotations

from functools import lru_cache

from aiohttp import web

from ..holds import VIEWERS
from ..holds_service import REQUESTER_ROLES
from ..policy import GROUNDS, RECIPIENTS
from .holds_api import AUDIT_READERS

OPENAPI_VERSION = "3.1.0"
OPENAPI_PATH = "/api/v1/openapi.json"

#: Why each error status can happen; every error body has the same shape.
ERROR_TEXT = {
    400: "Bad request (malformed JSON, a missing or invalid field or parameter)",
    401: "No valid token",
    403: "The caller's role may not do this",
    404: "Not found",
    409: "Conflicts with the current state",
    410: "Gone: the package was deleted (its hold ended, or its time passed)",
    413: "Body too large",
    415: "Unsupported media type",
    503: "Too many uploads in flight: retry after Retry-After seconds",
    507: "Storage full",
}
PUBLIC: list = []  # OpenAPI: an empty security requirement list means "no authentication"
CAMERA_AUTH = [{"cameraToken": []}]

_TIME = {"type": "string", "format": "date-time",
         "description": "RFC 3339 time with an offset, e.g. 2024-05-01T13:00:00Z"}
_CAMERAS = {"type": "array", "items": {"type": "string"}, "description": "camera ids"}
_TEXT = {"type": "string", "minLength": 1}


def _obj(required: dict, optional: dict | None = None) -> dict:
    """A JSON object schema with these required and optional properties."""
    return {"type": "object", "properties": required | (optional or {}),
            "required": list(required)}


HOLD_REQUEST = _obj({"cameras": _CAMERAS, "start": _TIME, "end": _TIME,
                     "incident": _TEXT, "reason": _TEXT})
HOLD_ACTION = _obj({}, {"note": {"type": "string"}})
COURT_ORDER = _obj({"reference": _TEXT | {"description": "the court order's reference"}},
                   {"note": {"type": "string"}})
EXPORT_REQUEST = _obj(
    {"ground": {"type": "string", "enum": list(GROUNDS)},
     "recipient": {"type": "string", "enum": list(RECIPIENTS)},
     "reason": _TEXT},
    {"reference": {"type": "string", "description": "warrant, order or request reference"},
     "recipient_name": {"type": "string"}, "counsel": {"type": "string"},
     "cameras": _CAMERAS | {"description": "a subset of the hold's cameras (default: all)"},
     "start": _TIME, "end": _TIME})


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict) -> dict:
    return {"application/json": {"schema": schema}}


def _param(name: str, where: str, schema: dict, required: bool, description: str) -> dict:
    return {"name": name, "in": where, "required": required, "schema": schema,
            "description": description}


HOLD_ID = _param("id", "path", {"type": "integer", "minimum": 0}, True, "hold id")
EXPORT_ID = _param("id", "path", {"type": "integer", "minimum": 0}, True, "export id")


def _op(summary: str, ok: tuple[int, str, dict], errors: tuple[int, ...] = (),
        security: list | None = None, roles: tuple[str, ...] = (), body: dict | None = None,
        params: tuple[dict, ...] = ()) -> dict:
    """One operation: its success response, the errors it can answer, who may call it."""
    status, what, content = ok
    authed = security is None  # the document-wide bearer requirement applies
    codes = sorted(set(errors) | ({401, 403} if authed and roles else {401} if authed else set()))
    op: dict = {"summary": summary,
                "responses": {str(status): {"description": what} | ({"content": content}
                                                                     if content else {})}}
    for code in codes:
        op["responses"][str(code)] = {"$ref": f"#/components/responses/E{code}"}
    if roles:
        op["description"] = "Roles: " + ", ".join(roles) + "."
    if security is not None:
        op["security"] = security
    if body is not None:
        op["requestBody"] = {"required": True, "content": body}
    if params:
        op["parameters"] = list(params)
    return op


def _with_retry_response(op: dict) -> dict:
    """Push is idempotent: a retried upload answers 200 with the stored segment."""
    op["responses"]["200"] = {"description": "Already stored (a retry of the same upload)",
                              **{k: v for k, v in op["responses"]["201"].items()
                                 if k == "content"}}
    return op


def _hold_action(action: str) -> dict:
    body = COURT_ORDER if action == "court-order" else HOLD_ACTION
    return _op(f"Hold: {action.replace('-', ' ')} (the hold state machine decides who may)",
               (200, "The hold after the action", _json(_ref("Hold"))), (400, 404, 409),
               roles=("director", "staff", "auditor", "admin"), body=_json(body),
               params=(HOLD_ID,))


def operations() -> dict[str, dict[str, dict]]:
    """``{path: {method: operation}}`` for every route the gateway registers."""
    holds = "/api/v1/holds/{id}"
    ops: dict[str, dict[str, dict]] = {
        "/healthz": {"get": _op("Health check", (200, "Up", _json(
            _obj({"status": {"const": "ok"}}))), security=PUBLIC)},
        "/notice": {"get": _op("Public notice about the cameras (HTML)",
                               (200, "The notice page", {"text/html": {}}), security=PUBLIC)},
        "/notice/signage": {"get": _op("Printable signs (HTML)",
                                       (200, "One sign per policy", {"text/html": {}}),
                                       security=PUBLIC)},
        "/metrics": {"get": _op("Prometheus metrics", (200, "Prometheus text format",
                                                       {"text/plain": {}}))},
        OPENAPI_PATH: {"get": _op("This OpenAPI document",
                                  (200, "OpenAPI 3.1 document", _json({"type": "object"})))},
        "/api/v1/cameras/{camera}/segments": {"post": _with_retry_response(_op(
            "Camera push: store one video segment (masked, encrypted, deleted at its deadline)",
            (201, "Stored", _json(_ref("Segment"))), (400, 401, 404, 413, 415, 503, 507),
            security=CAMERA_AUTH,
            body={"video/mp4": {"schema": {"type": "string", "contentMediaType": "video/mp4"}},
                  "video/mp2t": {"schema": {"type": "string", "contentMediaType": "video/mp2t"}}},
            params=(_param("camera", "path", {"type": "string"}, True, "camera id"),
                    _param("X-Segment-Start", "header", _TIME, False,
                           "time of the first frame"))))},
        "/api/v1/holds": {
            "post": _op("Request a preservation hold", (201, "The hold requested",
                                                        _json(_ref("Hold"))), (400, 404, 409),
                        roles=REQUESTER_ROLES, body=_json(HOLD_REQUEST)),
            "get": _op("List holds", (200, "Holds", _json(_obj({"holds": {
                "type": "array", "items": _ref("Hold")}}))),
                roles=("director", "staff", "auditor"))},
        holds: {"get": _op("One hold with its exports", (200, "The hold", _json(_ref("Hold"))),
                           (400, 404), roles=("director", "staff", "auditor"),
                           params=(HOLD_ID,))},
        f"{holds}/segments": {"get": _op(
            "The segments a hold preserves", (200, "Segments", _json(_obj({"segments": {
                "type": "array", "items": _ref("HeldSegment")}}))), (400, 404),
            roles=("director", "staff"), params=(HOLD_ID,))},
        f"{holds}/exports": {"post": _op(
            "Build a signed disclosure package from a hold", (201, "The export",
                                                              _json(_ref("Export"))),
            (400, 404, 409), roles=("director",), body=_json(EXPORT_REQUEST),
            params=(HOLD_ID,))},
        "/api/v1/exports/{id}.zip": {"get": _op(
            "Download an export package", (200, "The package", {"application/zip": {}}),
            (400, 404, 410), roles=("director",), params=(EXPORT_ID,))},
        "/api/v1/segments/{id}/video": {"get": _op(
            "View one segment: decrypted, masked MP4 (audited)",
            (200, "The video", {"video/mp4": {}}), (400, 404), roles=VIEWERS,
            params=(_param("id", "path", {"type": "string", "pattern": "^[0-9a-f]{32}$"}, True,
                           "segment id"),
                    _param("reason", "query", _TEXT, True, "why it is viewed (audited)")))},
        "/api/v1/audit": {"get": _op(
            "Audit log entries after a sequence number (at most 1000)",
            (200, "Entries", _json(_obj({"entries": {"type": "array", "items": _ref(
                "AuditEntry")}}))), (400,), roles=AUDIT_READERS,
            params=(_param("since", "query", {"type": "integer", "minimum": 0}, False,
                           "audit seq to start after (default 0)"),))},
        "/api/v1/audit/verify": {"get": _op(
            "Verify the audit log's hash chain", (200, "The result", _json(_obj(
                {"ok": {"type": "boolean"}, "entries": {"type": "integer"}},
                {"head": {"type": ["string", "null"]},
                 "first_bad_seq": {"type": ["integer", "null"]},
                 "problem": {"type": ["string", "null"]}}))), roles=AUDIT_READERS)},
    }
    for action in ("approve", "deny", "release", "renew", "court-order"):
        ops[f"{holds}/{action}"] = {"post": _hold_action(action)}
    return ops


def _schemas() -> dict:
    nullable_time = {"type": ["string", "null"], "format": "date-time"}
    nullable_text = {"type": ["string", "null"]}
    return {
        "Error": _obj({"error": _obj({"code": {"type": "string"},
                                      "message": {"type": "string"}})}),
        "Segment": _obj({"id": {"type": "string"}, "camera": {"type": "string"},
                         "start": _TIME, "end": _TIME, "deadline": _TIME,
                         "bytes": {"type": "integer"}}),
        "HeldSegment": _obj({"id": {"type": "string"}, "camera": {"type": "string"},
                             "start": _TIME, "end": _TIME, "video": {"type": "string"}}),
        "Hold": _obj({"id": {"type": "integer"}, "state": {"type": "string"},
                      "cameras": _CAMERAS, "start": _TIME, "end": _TIME},
                     {k: nullable_text for k in ("incident", "reason", "requested_by",
                                                 "decided_by", "court_order", "note")}
                     | {k: nullable_time for k in ("requested_at", "grace_until", "decided_at",
                                                   "review_at", "ended_at", "preserves_until")}
                     | {"exports": {"type": "array", "items": _ref("Export")},
                        "segments_kept": {"type": "integer"},
                        "segments_already_destroyed": {"type": "integer"},
                        "warning": {"type": "string"}}),
        "Export": _obj({"id": {"type": "integer"}, "hold": {"type": "integer"},
                        "state": {"type": "string"}, "download": nullable_text},
                       {"cameras": _CAMERAS, "start": _TIME, "end": _TIME,
                        "ground": {"type": "string", "enum": list(GROUNDS)},
                        "recipient": {"type": "string", "enum": list(RECIPIENTS)},
                        "clips": {"type": ["integer", "null"]},
                        "bytes": {"type": ["integer", "null"]}}
                       | {k: nullable_text for k in ("reference", "recipient_name", "counsel",
                                                     "reason", "decided_by",
                                                     "manifest_sha256")}
                       | {k: nullable_time for k in ("created_at", "expires_at")}),
        "AuditEntry": _obj({"seq": {"type": "integer"}, "at": _TIME,
                            "actor": {"type": "string"}, "role": {"type": "string"},
                            "action": {"type": "string"}, "object": {"type": "string"},
                            "reason": {"type": "string"}, "detail": {"type": "object"},
                            "prev_hash": {"type": "string"}, "hash": {"type": "string"}}),
    }


@lru_cache(maxsize=1)
def openapi_document() -> dict:
    """The whole OpenAPI 3.1 document (pure: built from the tables above)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        ver = version("footage-gateway")
    except PackageNotFoundError:  # running from a source tree that was never installed
        ver = "0"
    return {
        "openapi": OPENAPI_VERSION,
        "info": {"title": "footage-gateway", "version": ver,
                 "description": "Ingests CCTV segments, masks them, encrypts each at rest "
                                "and destroys it at its retention deadline. Every error "
                                "body is {\"error\": {\"code\", \"message\"}}."},
        "security": [{"bearerAuth": []}],
        "paths": operations(),
        "components": {
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer",
                               "description": "a personal API token"},
                "cameraToken": {"type": "http", "scheme": "bearer",
                                "description": "the camera's push token (push_token_file)"},
            },
            "schemas": _schemas(),
            "responses": {f"E{code}": {"description": text, "content": _json(_ref("Error"))}
                          for code, text in ERROR_TEXT.items()},
        },
    }


async def openapi_view(request: web.Request) -> web.Response:
    return web.json_response(openapi_document())


def setup_openapi(app: web.Application) -> None:
    """Add GET /api/v1/openapi.json (bearer token required, as the auth middleware decides)."""
    app.router.add_get(OPENAPI_PATH, openapi_view)
