"""Every route x every user, end to end: who gets past auth and roles, 401 for every bad
token, path tricks, secrets kept out of logs, bad ids and SQL metacharacters."""

from __future__ import annotations

import asyncio
import io
import logging
from pathlib import Path

import pytest
from aiohttp import web
from click.testing import CliRunner

from gateway.users import service as users
from gateway.cli import main
from gateway.clock import US, iso
from gateway.errors import BadRequest

from gateway.holds import access
from gateway.holds.access import RULES
from gateway.web.openapi import template
from gateway.web.appkeys import ROUTE_OF
from gateway.web.routes import API_ROUTES as ROUTES  # the pages: tests/web/test_access_table.py

from conftest import write_policy
from holds_env import EXPORT, ROOT, T0, Env

#: The public routes, from the route table.
PUBLIC = {(r.method, template(r.path)) for r in ROUTES if RULES[r.action].roles == access.PUBLIC}
ALL = {"dana", "sam", "sue", "aud", "adm"}




# ------------------------------------------------------------------ the route matrix

def route_matrix(hold: int, seg: str) -> dict[tuple[str, str, str], set[str]]:
    """(method, route, concrete path) -> users allowed past auth and role checks.

    Users: dana director; sam staff who requested ``hold``; sue other staff;
    aud auditor; adm admin. The test policy lets staff view under their own hold.
    """
    h = f"/api/v1/holds/{hold}"
    act = {"dana"}
    return {
        ("GET", "/metrics", "/metrics"): ALL,
        ("GET", "/api/v1/openapi.json", "/api/v1/openapi.json"): ALL,
        ("POST", "/api/v1/holds", "/api/v1/holds"): {"dana", "sam", "sue"},
        ("GET", "/api/v1/holds", "/api/v1/holds"): {"dana", "sam", "sue", "aud"},
        ("GET", "/api/v1/holds/{id}", h): {"dana", "sam", "aud"},
        ("POST", "/api/v1/holds/{id}/approve", f"{h}/approve"): act,
        ("POST", "/api/v1/holds/{id}/deny", f"{h}/deny"): act,
        ("POST", "/api/v1/holds/{id}/release", f"{h}/release"): act,
        ("POST", "/api/v1/holds/{id}/renew", f"{h}/renew"): act,
        ("POST", "/api/v1/holds/{id}/court-order", f"{h}/court-order"): act,
        ("GET", "/api/v1/holds/{id}/segments", f"{h}/segments"): {"dana", "sam"},
        ("POST", "/api/v1/holds/{id}/exports", f"{h}/exports"): {"dana"},
        ("GET", "/api/v1/exports/{id}.zip", "/api/v1/exports/1.zip"): {"dana"},
        ("GET", "/api/v1/audit", "/api/v1/audit"): {"dana", "aud"},
        ("GET", "/api/v1/audit/verify", "/api/v1/audit/verify"): {"dana", "aud"},
        # sam's hold is still pending: staff see footage only once a director approved it.
        ("GET", "/api/v1/segments/{id}/video", f"/api/v1/segments/{seg}/video?reason=check"):
            {"dana"},
        # Sealed mode's key (this env is ring mode: past the role check, a director gets
        # 400 for the missing passphrase, 409 to lock; tests/keys/ does the rest).
        ("POST", "/api/v1/keys/unlock", "/api/v1/keys/unlock"): {"dana"},
        ("POST", "/api/v1/keys/lock", "/api/v1/keys/lock"): {"dana"},
        ("GET", "/api/v1/keys/status", "/api/v1/keys/status"): ALL,
        # Cameras only: no personal API token (of any role) pushes footage.
        ("POST", "/api/v1/cameras/{camera}/segments", "/api/v1/cameras/lobby/segments"): set(),
    }


def body_for(route: str) -> dict:
    if route == "/api/v1/holds":
        # the desk camera: a staff member's own new hold must not cover the lobby segment
        return {"cameras": ["desk"], "start": iso(T0 - 120 * US), "end": iso(T0),
                "incident": "INC-1", "reason": "matrix"}
    if route.endswith("/court-order"):
        return {"reference": "CO-1"}
    if route.endswith("/exports"):
        return EXPORT
    return {}


async def matrix_env(env: Env) -> dict:
    seg = await env.ingest("lobby", T0 - 60 * US)
    hold = await (await env.request("sam", ["lobby"], T0 - 120 * US, T0)).json()
    return route_matrix(hold["id"], seg.uid)


async def call(env: Env, method: str, route: str, path: str, headers: dict):
    if method == "GET":
        return await env.client.get(path, headers=headers)
    if route.endswith("/segments") and "cameras" in route:
        return await env.client.post(path, data=b"\0" * 64,
                                     headers=headers | {"Content-Type": "video/mp4"})
    return await env.client.post(path, json=body_for(route), headers=headers)


async def test_every_route_is_in_the_review_matrix(env):
    """A new route must be added here (and to the role tests) before it ships."""
    matrix = await matrix_env(env)
    pages = {r.handler for r in env.app[ROUTE_OF].values() if r.page}
    registered = {(r.method, r.resource.canonical) for r in env.app.router.routes()
                  if r.method != "HEAD" and r.handler not in pages}
    covered = {(m, route) for m, route, _ in matrix} | PUBLIC
    assert registered == covered


@pytest.mark.parametrize("user", sorted(ALL))
async def test_each_role_gets_exactly_its_routes(env, user):
    matrix = await matrix_env(env)
    for (method, route, path), allowed in matrix.items():
        r = await call(env, method, route, path, env.h(user))
        if user in allowed:
            assert r.status not in (401, 403), (user, method, path, r.status, await r.text())
        elif route == "/api/v1/cameras/{camera}/segments":
            assert r.status == 401, (user, path, r.status)
        elif user == "sue" and route.startswith("/api/v1/holds/{id}"):
            # another staff member's hold: hidden (404) or refused (403)
            assert r.status in (403, 404), (user, method, path, r.status)
        else:
            assert r.status == 403, (user, method, path, r.status)


@pytest.mark.parametrize("how", ["none", "revoked", "disabled-scheme", "empty", "junk"])
async def test_no_valid_token_is_401_on_every_private_route(env, how):
    matrix = await matrix_env(env)
    token = env.tokens["dana"]
    if how == "revoked":
        assert await users.revoke_tokens(env.svc.catalog, env.clock, "dana", ROOT) == 1
    headers = {"none": {}, "revoked": {"Authorization": f"Bearer {token}"},
               "disabled-scheme": {"Authorization": f"Basic {token}"},
               "empty": {"Authorization": "Bearer    "},
               "junk": {"Authorization": f"Bearer {token}x"}}[how]
    for (method, route, path) in matrix:
        r = await call(env, method, route, path, headers)
        assert r.status == 401, (how, method, path, r.status)
    for _, path in PUBLIC:
        assert (await env.client.get(path)).status == 200, path


async def raw_request(env: Env, method: str, target: str, headers: str = "") -> int:
    """Send a request line exactly as given (no client-side URL normalisation)."""
    reader, writer = await asyncio.open_connection(env.client.server.host,
                                                   env.client.server.port)
    writer.write(f"{method} {target} HTTP/1.1\r\nHost: gw\r\nContent-Length: 0\r\n"
                 f"Connection: close\r\n{headers}\r\n".encode())
    await writer.drain()
    status_line = (await reader.readline()).decode()
    writer.close()
    return int(status_line.split()[1])


@pytest.mark.parametrize("method,target", [
    ("GET", "//api/v1/holds"),
    ("GET", "/api/v1/holds/"),
    ("GET", "/healthz/../api/v1/holds"),
    ("GET", "/notice/../api/v1/audit"),
    ("GET", "/notice%2f..%2fapi/v1/audit"),
    ("GET", "/notice/signage/../../api/v1/audit"),
    ("GET", "/%61pi/v1/audit"),
    ("GET", "http://gw/api/v1/audit"),
    ("GET", "/api/v1/holds/%31"),
    ("POST", "/api/v1/cameras/lobby/segments/../../../holds"),
    ("POST", "/api/v1/cameras/x%2f..%2f..%2fholds/segments"),
])
async def test_path_tricks_do_not_skip_authentication(env, method, target):
    await matrix_env(env)
    assert await raw_request(env, method, target) in (401, 404)


# ------------------------------------------------------------------ secrets

async def test_tokens_are_kept_only_as_digests_and_never_echoed_or_logged(env, caplog):
    caplog.set_level(logging.DEBUG)
    token = env.tokens["dana"]
    push_token = "lobby-token-0123456789"
    wrong = "fgw_this-is-not-a-real-token-but-looks-like-one"
    r = await env.client.get("/api/v1/holds", headers={"Authorization": f"Bearer {wrong}"})
    assert r.status == 401 and wrong not in await r.text()
    r = await env.client.post("/api/v1/cameras/lobby/segments", data=b"x",
                              headers={"Authorization": f"Bearer {wrong}",
                                       "Content-Type": "video/mp4"})
    assert r.status == 401 and wrong not in await r.text()
    await env.client.get("/api/v1/audit", headers=env.h("dana"))
    await env.ingest("lobby", T0 - 60 * US)
    store = env.svc.settings.storage_path
    blobs = b"".join(p.read_bytes() for p in store.glob("catalog.sqlite3*"))
    for secret in (token, push_token, wrong):
        assert secret.encode() not in blobs, "a token is stored in the catalog in clear"
        assert secret not in caplog.text
    entries = (await (await env.client.get("/api/v1/audit", headers=env.h("aud"))).json())
    assert token not in str(entries) and push_token not in str(entries)


def _serve_kwargs(tmp_path: Path, monkeypatch) -> dict:
    """The keyword arguments ``serve`` passes to ``web.run_app`` (the server is not started)."""
    write_policy(tmp_path / "pol")
    cfg = tmp_path / "config.toml"
    cfg.write_text(f"""
policies_dir = "{tmp_path / 'pol'}"
[storage]
path = "{tmp_path / 'data'}"
[[cameras]]
id = "lobby"
name = "Lobby"
policy = "test5s"
zone = "entrance"
purpose = "physical security of the entrance"
push_token = "test-camera-token-0123456789abcdef"
""")
    seen: dict = {}
    monkeypatch.setattr(web, "run_app", lambda app, **kw: seen.update(kw, called=True))
    result = CliRunner().invoke(main, ["serve", "--config", str(cfg)])
    assert result.exit_code == 0 and seen.get("called"), result.output
    return seen


def _access_log_line(kwargs: dict, target: str, headers: dict) -> str:
    """What serve's access logger writes for one request (None/False: nothing)."""
    from aiohttp.test_utils import make_mocked_request
    from aiohttp.web_log import AccessLogger

    if kwargs.get("access_log", True) is None:
        return ""
    cls = kwargs.get("access_log_class", AccessLogger)
    fmt = kwargs.get("access_log_format", AccessLogger.LOG_FORMAT)
    buf = io.StringIO()
    logger = logging.getLogger("test.security.access")
    logger.handlers[:] = [logging.StreamHandler(buf)]
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    req = make_mocked_request("GET", target, headers=headers)
    cls(logger, fmt).log(req, web.Response(), 0.01)
    return buf.getvalue()


def test_access_log_never_records_the_bearer_token(tmp_path, monkeypatch):
    kwargs = _serve_kwargs(tmp_path, monkeypatch)
    line = _access_log_line(kwargs, "/api/v1/holds",
                            {"Authorization": "Bearer fgw_SECRET_TOKEN_VALUE"})
    assert "SECRET_TOKEN_VALUE" not in line


def test_access_log_does_not_record_view_reasons(tmp_path, monkeypatch):
    kwargs = _serve_kwargs(tmp_path, monkeypatch)
    line = _access_log_line(
        kwargs, "/api/v1/segments/" + "ab" * 16 + "/video?reason=Jane%20Doe%20at%20the%20stacks",
        {"Referer": "http://gw/ui?reason=Jane%20Doe"})
    assert "Jane" not in line


# ------------------------------------------------------------------ bad ids

HUGE = "99999999999999999999999"


@pytest.mark.parametrize("method,path", [
    ("GET", f"/api/v1/holds/{HUGE}"),
    ("GET", f"/api/v1/holds/{HUGE}/segments"),
    ("POST", f"/api/v1/holds/{HUGE}/approve"),
    ("GET", f"/api/v1/exports/{HUGE}.zip"),
    ("GET", f"/api/v1/audit?since={HUGE}"),
])
async def test_out_of_range_ids_are_4xx_not_500(env, method, path):
    r = await (env.client.get(path, headers=env.h("dana")) if method == "GET"
               else env.post("dana", path))
    assert 400 <= r.status < 500, (r.status, await r.text())


async def test_sql_metacharacters_are_data(env):
    evil = "x'); DROP TABLE holds; --"
    r = await env.request("sam", ["lobby"], T0 - 120 * US, T0, incident=evil, reason=evil)
    assert r.status == 201
    hold = await r.json()
    got = await (await env.client.get(f"/api/v1/holds/{hold['id']}", headers=env.h("aud"))).json()
    assert (got["incident"], got["reason"]) == (evil, evil)
    r = await env.client.get("/api/v1/audit?since=0%20OR%201=1", headers=env.h("aud"))
    assert r.status == 400
    r = await env.request("sam", ["lobby' OR '1'='1"], T0 - 120 * US, T0)
    assert r.status == 400 and (await r.json())["error"]["code"] == "unknown_camera"
    with pytest.raises(BadRequest):
        await users.add_user(env.svc.catalog, env.clock, "a'; DROP TABLE users;--", "staff",
                             None, ROOT)
