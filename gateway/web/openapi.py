"""``GET /api/v1/openapi.json``: an OpenAPI 3.1 description of every route.

The document is built from the one route table (gateway.web.routes): each
route carries its ``Op`` (what it answers) and its access rule (who may call
it, gateway.holds.access), so paths, methods and roles cannot drift from what
the app serves. The API parses JSON bodies by hand (gateway.web.holds_api
``read_json`` and its ``_str``/``_time``/``_cameras`` helpers), so the request
schemas below are written out to match those parsers field by field;
enumerations come from the policy module's own tuples and the export's fields
from ``EXPORT_FIELDS``.

The document itself needs a bearer token like any non-public route: it names
no secrets, but the public surface of the gateway is the notice, and an API
description is for API clients, who have tokens.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

from ..holds.access import CAMERA, RULES
from ..holds.access import PUBLIC as PUBLIC_RULE
from ..holds.rules import EXPORT_FIELDS
from ..models import ROLES
from ..policy.loading import GROUNDS, RECIPIENTS

if TYPE_CHECKING:  # the route table imports this module for its Op
    from .routes import Route

OPENAPI_VERSION = "3.1.0"
OPENAPI_PATH = "/api/v1/openapi.json"

#: Why each error status can happen; every error body has the same shape.
ERROR_TEXT = {
    400: "Bad request (malformed JSON, a missing or invalid field or parameter)",
    401: "No valid token",
    403: "The caller's role may not do this",
    404: "Not found",
    409: "Conflicts with the current state",
    408: "The body did not arrive within server.body_timeout_s",
    410: "Gone: the package was deleted (its hold ended, or its time passed)",
    413: "Body too large, or more video than media.* allows (frame size, pixel-frames)",
    415: "Unsupported media type",
    423: "Sealed mode: the key is locked; a director must unlock (footage-gateway keys unlock)",
    429: "Too many wrong passphrases: retry after Retry-After seconds",
    503: "Too many uploads in flight: retry after Retry-After seconds",
    507: "Storage full",
}
PUBLIC: list = []  # OpenAPI: an empty security requirement list means "no authentication"
CAMERA_AUTH = [{"cameraToken": []}]

TIME = {"type": "string", "format": "date-time",
         "description": "RFC 3339 time with an offset, e.g. 2024-05-01T13:00:00Z"}
CAMERAS = {"type": "array", "items": {"type": "string"}, "description": "camera ids"}
TEXT = {"type": "string", "minLength": 1}


def obj(required: dict, optional: dict | None = None) -> dict:
    """A JSON object schema with these required and optional properties."""
    return {"type": "object", "properties": required | (optional or {}),
            "required": list(required)}


HOLD_REQUEST = obj({"cameras": CAMERAS | {"minItems": 1}, "start": TIME, "end": TIME,
                     "incident": TEXT, "reason": TEXT})
HOLD_ACTION = obj({}, {"note": {"type": "string"}})
COURT_ORDER = obj({"reference": TEXT | {"description": "the court order's reference"}},
                   {"note": {"type": "string"}})
#: The schema of each export field (EXPORT_FIELDS), as a request sends it.
EXPORT_FIELD_SCHEMA = {
    "cameras": CAMERAS | {"description": "a subset of the hold's cameras (default: all)"},
    "start": TIME, "end": TIME,
    "ground": {"type": "string", "enum": list(GROUNDS)},
    "reference": {"type": "string", "description": "warrant, order or request reference"},
    "recipient": {"type": "string", "enum": list(RECIPIENTS)},
    "recipient_name": {"type": "string"}, "counsel": {"type": "string"},
    "reason": TEXT,
}
assert set(EXPORT_FIELD_SCHEMA) == set(EXPORT_FIELDS)
_EXPORT_REQUIRED = ("ground", "recipient", "reason")
#: Export fields that always have a value of their own type in a response.
_EXPORT_TYPED = ("cameras", "start", "end", "ground", "recipient")
EXPORT_REQUEST = obj({k: EXPORT_FIELD_SCHEMA[k] for k in EXPORT_FIELDS if k in _EXPORT_REQUIRED},
                      {k: EXPORT_FIELD_SCHEMA[k] for k in EXPORT_FIELDS
                       if k not in _EXPORT_REQUIRED})


def ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def json_content(schema: dict) -> dict:
    return {"application/json": {"schema": schema}}


def param(name: str, where: str, schema: dict, required: bool, description: str) -> dict:
    return {"name": name, "in": where, "required": required, "schema": schema,
            "description": description}


HOLD_ID = param("id", "path", {"type": "integer", "minimum": 0}, True, "hold id")
EXPORT_ID = param("id", "path", {"type": "integer", "minimum": 0}, True, "export id")


@dataclass(frozen=True)
class Op:
    """What one route answers, for the OpenAPI document."""

    summary: str
    ok: tuple[int, str, dict]            # status, description, content
    errors: tuple[int, ...] = ()
    body: dict | None = None
    params: tuple[dict, ...] = ()
    retry_ok: bool = False               # a retry of the same request answers 200 (push)
    accepted: tuple[int, str, dict] | None = None  # a second success status (status, what, content)


def operation(op: Op, action: str) -> dict:
    """The OpenAPI operation of a route: its success, its errors, who may call it."""
    rule = RULES[action]
    status, what, content = op.ok
    authed = rule.roles not in (PUBLIC_RULE, CAMERA)
    # Anyone signed in, nothing narrowing it: only "no valid token" can refuse.
    narrowed = authed and (rule.roles != ROLES or rule.decided_by or rule.succeeds is not None)
    codes = sorted(set(op.errors) | ({401, 403} if narrowed else {401} if authed else set()))
    out: dict = {"summary": op.summary,
                 "responses": {str(status): {"description": what} | ({"content": content}
                                                                      if content else {})}}
    for code in codes:
        out["responses"][str(code)] = {"$ref": f"#/components/responses/E{code}"}
    if narrowed:
        out["description"] = "Roles: " + ", ".join(rule.who_succeeds) + "."
    if rule.roles == PUBLIC_RULE:
        out["security"] = PUBLIC
    elif rule.roles == CAMERA:
        out["security"] = CAMERA_AUTH
    if op.body is not None:
        out["requestBody"] = {"required": True, "content": op.body}
    if op.params:
        out["parameters"] = list(op.params)
    if op.accepted is not None:
        code, what2, content2 = op.accepted
        out["responses"][str(code)] = {"description": what2, "content": content2}
    if op.retry_ok:  # push is idempotent: a retried upload answers 200 with the stored segment
        out["responses"]["200"] = {"description": "Already stored (a retry of the same upload)",
                                   **{k: v for k, v in out["responses"]["201"].items()
                                      if k == "content"}}
    return out


_TEMPLATE_VAR = re.compile(r"\{(\w+):")


def template(path: str) -> str:
    """An aiohttp path (``/holds/{id:\\d+}``) as an OpenAPI template (``/holds/{id}``)."""
    out, i = [], 0
    while (m := _TEMPLATE_VAR.search(path, i)) is not None:
        out.append(path[i:m.start()] + "{" + m.group(1) + "}")
        depth, j = 1, m.end()
        while depth:  # skip the regex, which may hold braces of its own ({32})
            depth += {"{": 1, "}": -1}.get(path[j], 0)
            j += 1
        i = j
    return "".join(out) + path[i:]


def operations(routes: Sequence["Route"]) -> dict[str, dict[str, dict]]:
    """``{path: {method: operation}}`` for every route of the table."""
    ops: dict[str, dict[str, dict]] = {}
    for r in routes:
        ops.setdefault(template(r.path), {})[r.method.lower()] = operation(r.doc, r.action)
    return ops


def _schemas() -> dict:
    nullable_time = {"type": ["string", "null"], "format": "date-time"}
    nullable_text = {"type": ["string", "null"]}
    return {
        "Error": obj({"error": obj({"code": {"type": "string"},
                                      "message": {"type": "string"}})}),
        "Segment": obj({"id": {"type": "string"}, "camera": {"type": "string"},
                         "start": TIME, "end": TIME, "deadline": TIME,
                         "bytes": {"type": "integer"}},
                        {"camera_start": nullable_time}),
        "HeldSegment": obj({"id": {"type": "string"}, "camera": {"type": "string"},
                             "start": TIME, "end": TIME, "video": {"type": "string"}}),
        "Hold": obj({"id": {"type": "integer"}, "state": {"type": "string"},
                      "cameras": CAMERAS, "start": TIME, "end": TIME},
                     {k: nullable_text for k in ("incident", "reason", "requested_by",
                                                 "decided_by", "court_order", "note")}
                     | {k: nullable_time for k in ("requested_at", "grace_until", "decided_at",
                                                   "review_at", "ended_at", "preserves_until")}
                     | {"exports": {"type": "array", "items": ref("Export")},
                        "segments_kept": {"type": "integer"},
                        "segments_already_destroyed": {"type": "integer"},
                        "warning": {"type": "string"}}),
        "Export": obj({"id": {"type": "integer"}, "hold": {"type": "integer"},
                        "state": {"type": "string"}, "download": nullable_text},
                       {k: (EXPORT_FIELD_SCHEMA[k] if k in _EXPORT_TYPED else nullable_text)
                        for k in EXPORT_FIELDS}
                       | {"clips": {"type": ["integer", "null"]},
                          "bytes": {"type": ["integer", "null"]}}
                       | {k: nullable_text for k in ("decided_by", "manifest_sha256")}
                       | {k: nullable_time for k in ("created_at", "expires_at")}),
        "KeyStatus": obj({"mode": {"type": "string", "enum": ["ring", "sealed"]},
                          "state": {"type": "string",
                                    "enum": ["ring", "locked", "pending", "unlocked"]}},
                         {"quorum": {"type": "integer"}, "epochs": {"type": "integer"},
                          "current_epoch": {"type": "string"},
                          "directors_enrolled": {"type": "array", "items": {"type": "string"}},
                          "unlocked_by": {"type": "array", "items": {"type": "string"}},
                          "given_by": {"type": "array", "items": {"type": "string"}},
                          "need": {"type": "integer"}, "epochs_unlocked": {"type": "integer"},
                          "unlocked_at": TIME, "locks_at": TIME}),
        "AuditEntry": obj({"seq": {"type": "integer"}, "at": TIME,
                            "actor": {"type": "string"}, "role": {"type": "string"},
                            "action": {"type": "string"}, "object": {"type": "string"},
                            "reason": {"type": "string"}, "detail": {"type": "object"},
                            "prev_hash": {"type": "string"}, "hash": {"type": "string"}}),
    }


def openapi_document(routes: Sequence["Route"]) -> dict:
    """The whole OpenAPI 3.1 document (pure: built from the route table)."""
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
        "paths": operations(routes),
        "components": {
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer",
                               "description": "a personal API token"},
                "cameraToken": {"type": "http", "scheme": "bearer",
                                "description": "the camera's push token (push_token_file)"},
            },
            "schemas": _schemas(),
            "responses": {f"E{code}": {"description": text, "content": json_content(ref("Error"))}
                          for code, text in ERROR_TEXT.items()},
        },
    }
