"""GET /api/v1/openapi.json: the document matches the routes the app really registers."""

from __future__ import annotations

import json

import pytest

from gateway.users import service as users
from gateway.models import Actor
from gateway.holds.access import PUBLIC, RULES
from gateway.web.appkeys import ROUTE_OF
from gateway.web.routes import API_ROUTES as ROUTES  # the pages answer HTML: not in it
from gateway.web.appkeys import RUNTIME
from gateway.web.openapi import HOLD_REQUEST, OPENAPI_PATH, openapi_document, template

PUBLIC_PATHS = {template(r.path) for r in ROUTES if RULES[r.action].roles == PUBLIC}

METHODS = ("get", "post", "put", "patch", "delete")


def registered(app) -> set[tuple[str, str]]:
    """(method, path template) of every route; HEAD is aiohttp's automatic twin of GET."""
    pages = {r.handler for r in app[ROUTE_OF].values() if r.page}
    return {(r.method.lower(), r.resource.canonical) for r in app.router.routes()
            if r.method != "HEAD" and r.handler not in pages}


def documented(doc: dict) -> set[tuple[str, str]]:
    return {(m, p) for p, item in doc["paths"].items() for m in item if m in METHODS}


@pytest.fixture
async def api(gateway_client):
    """(client, app, headers with a director's API token)."""
    client, app = await gateway_client()
    svc = app[RUNTIME]
    root = Actor("root", "operator")
    await users.add_user(svc.catalog, svc.clock, "dana", "director", None, root)
    token = await users.issue_token(svc.catalog, svc.clock, "dana", root)
    return client, app, {"Authorization": f"Bearer {token}"}


async def test_every_registered_route_is_documented_and_nothing_else(api):
    _, app, _ = api
    routes, doc = registered(app), documented(openapi_document(ROUTES))
    assert routes - doc == set(), "routes missing from the OpenAPI document"
    assert doc - routes == set(), "documented paths the app does not serve"
    assert ("get", OPENAPI_PATH) in routes and ("post", "/api/v1/cameras/{camera}/segments") in routes


async def test_served_document_is_openapi_3_1_json_and_needs_a_token(api):
    client, _, headers = api
    r = await client.get(OPENAPI_PATH)
    assert r.status == 401
    err = await r.json()
    assert set(err) == {"error"} and set(err["error"]) >= {"code", "message"}
    r = await client.get(OPENAPI_PATH, headers=headers)
    assert r.status == 200 and r.content_type == "application/json"
    doc = json.loads(await r.text())
    assert doc["openapi"] == "3.1.0"
    assert doc == json.loads(json.dumps(openapi_document(ROUTES)))


def test_document_passes_the_openapi_validator():
    validator = pytest.importorskip("openapi_spec_validator")
    validator.validate(openapi_document(ROUTES))


def test_security_public_paths_camera_token_and_bearer_elsewhere():
    doc = openapi_document(ROUTES)
    assert doc["security"] == [{"bearerAuth": []}]
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if path in PUBLIC_PATHS:
                assert op["security"] == [], path
                assert not any(code in op["responses"] for code in ("401", "403")), path
            elif path == "/api/v1/cameras/{camera}/segments":
                assert op["security"] == [{"cameraToken": []}]
            else:  # inherits the document's bearer requirement, and says what happens without it
                assert "security" not in op, path
                assert "401" in op["responses"], path


def test_every_error_response_has_the_error_shape():
    doc = openapi_document(ROUTES)
    err = doc["components"]["schemas"]["Error"]
    assert err["required"] == ["error"] and err["properties"]["error"]["required"] == ["code", "message"]
    responses = doc["components"]["responses"]
    for item in doc["paths"].values():
        for op in item.values():
            for status, resp in op["responses"].items():
                if int(status) >= 400:
                    name = resp["$ref"].rsplit("/", 1)[1]
                    schema = responses[name]["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/Error"}


async def test_hold_request_schema_matches_what_the_api_requires(api):
    client, _, headers = api
    body = {"cameras": ["lobby"], "start": "2026-01-01T10:00:00Z", "end": "2026-01-01T10:05:00Z",
            "incident": "INC-1", "reason": "bag stolen"}
    assert set(HOLD_REQUEST["required"]) == set(body)
    for field in HOLD_REQUEST["required"]:  # each documented required field is really required
        r = await client.post("/api/v1/holds", json={k: v for k, v in body.items() if k != field},
                              headers=headers)
        assert r.status == 400, field
    r = await client.post("/api/v1/holds", json=body, headers=headers)  # and they suffice
    assert r.status == 201, await r.text()
