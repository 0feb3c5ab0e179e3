"""Every route x every caller against the one route table (gateway.web.routes + holds.access).

For each route of ``ROUTES`` and each caller -- every role, anonymous, a camera's
push token, a revoked token -- the edge must do what ``RULES[route.action]``
says: public routes answer everyone; person routes refuse anonymous callers
and camera tokens with 401 and roles outside the rule with 403 (the edge's own
message); a role inside the rule always gets past the edge (the service may
still refuse, naming the policy rule).
"""

from __future__ import annotations

import re

import pytest

from gateway.holds.access import CAMERA, PUBLIC, RULES
from gateway.models import ROLES
from gateway.users import service as users
from gateway.web.routes import ROUTES

from holds_env import ROOT, make_env

EDGE_REFUSAL = "may not do this (needs:"
CALLERS = (*ROLES, "anonymous", "camera", "revoked")
USER_OF = {"director": "dana", "staff": "sam", "auditor": "aud", "admin": "adm"}


def concrete(path: str) -> str:
    path = path.replace("{camera}", "lobby").replace("/static/{name}", "/static/gateway.css")
    path = path.replace("{name}", "sue")
    path = re.sub(r"\{id:\[0-9a-f\]\{32\}\}", "0" * 32, path)
    return re.sub(r"\{id:\\d\+\}", "1", path)


@pytest.fixture
async def env(aiohttp_client, tmp_path):
    env = await make_env(aiohttp_client, tmp_path)
    env.tokens["revoked"] = env.tokens["sue"]
    assert await users.revoke_tokens(env.svc.catalog, env.clock, "sue", ROOT) == 1
    return env


def headers(env, caller: str) -> dict:
    if caller == "anonymous":
        return {}
    if caller == "camera":
        return {"Authorization": "Bearer lobby-token-0123456789"}
    token = env.tokens["revoked" if caller == "revoked" else USER_OF[caller]]
    return {"Authorization": f"Bearer {token}"}


def test_the_table_names_real_rules_and_unique_routes():
    assert all(r.action in RULES for r in ROUTES)
    keys = [(r.method, r.path) for r in ROUTES]
    assert len(keys) == len(set(keys))


async def test_every_route_is_registered_from_the_table(env):
    registered = {(r.method, r.resource.canonical) for r in env.app.router.routes()
                  if r.method != "HEAD"}
    from gateway.web.openapi import template
    assert registered == {(r.method, template(r.path)) for r in ROUTES}


@pytest.mark.parametrize("caller", CALLERS)
async def test_each_caller_gets_what_the_table_says_on_every_route(env, caller):
    for route in ROUTES:
        rule = RULES[route.action]
        path = concrete(route.path)
        h = headers(env, caller)
        if route.method == "GET":
            r = await env.client.get(path, headers=h, allow_redirects=False)
        else:
            r = await env.client.post(path, json={}, headers=h, allow_redirects=False)
        body = await r.text()
        where = (caller, route.method, route.path, r.status, body[:200])
        if rule.roles == PUBLIC and route.page:
            # The sign-in form refuses a post without its own form token (403), not the edge.
            assert r.status != 401 and EDGE_REFUSAL not in body, where
        elif rule.roles == PUBLIC:
            assert r.status not in (401, 403), where
        elif rule.roles == CAMERA:
            # Only the camera's own token passes (it then fails on the empty body: 415).
            assert (r.status == 401) == (caller != "camera"), where
        elif caller in ("anonymous", "camera", "revoked") and route.page:
            # A browser without a person behind it is sent to sign in.
            assert r.status == 303 and r.headers["Location"].startswith("/login?next="), where
        elif caller in ("anonymous", "camera", "revoked"):
            assert r.status == 401, where
        elif caller in rule.roles:
            assert r.status != 401 and EDGE_REFUSAL not in body, where
        else:
            assert r.status == 403 and EDGE_REFUSAL in body, where


# ------------------------------------------------------------------ browsers (session cookie)

SESSION_CALLERS = (*ROLES, "anonymous", "camera", "expired")


async def session_headers(env, caller: str, csrf: bool = True) -> dict:
    """A real catalog session per person (no password check: that is tested on its own)."""
    import secrets

    from gateway.catalog import sessions as sessions_sql
    from gateway.clock import US

    h = {"Accept": "text/html"}
    if caller == "camera":
        return h | {"Authorization": "Bearer lobby-token-0123456789"}
    if caller == "anonymous":
        return h
    sid, token = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    created = env.clock.now_us() - (13 * 3600 * US if caller == "expired" else 0)
    await env.svc.catalog.run(sessions_sql.create, sid, USER_OF.get(caller, "dana"), token,
                              created)
    h["Cookie"] = f"fgw_session={sid}"
    if csrf:
        h["X-CSRF-Token"] = token
    return h


@pytest.mark.parametrize("caller", SESSION_CALLERS)
async def test_each_browser_gets_what_the_table_says_on_every_page(env, caller):
    pages = [r for r in ROUTES if r.page]
    assert pages
    for route in pages:
        rule = RULES[route.action]
        r = await env.client.request(route.method, concrete(route.path),
                                     headers=await session_headers(env, caller),
                                     data={} if route.method == "POST" else None,
                                     allow_redirects=False)
        body = await r.text()
        where = (caller, route.method, route.path, r.status, body[:200])
        assert r.status < 500, where
        signed_out = r.status == 303 and r.headers["Location"].startswith("/login?next=")
        if rule.roles == PUBLIC:
            assert not signed_out and EDGE_REFUSAL not in body, where
        elif caller in ("anonymous", "camera", "expired"):
            assert signed_out, where
            if caller == "expired":  # and the dead cookie is cleared
                assert r.headers["Location"].endswith("&expired=1"), where
        elif caller in rule.roles:
            assert not signed_out and EDGE_REFUSAL not in body and r.status != 401, where
        else:
            assert r.status == 403 and EDGE_REFUSAL in body, where


async def test_every_unsafe_request_with_the_cookie_needs_the_csrf_token(env):
    """Pages and API alike: a cookie without the token is refused before the handler."""
    unsafe = [r for r in ROUTES if r.method == "POST" and RULES[r.action].roles not in
              (PUBLIC, CAMERA)]
    assert len(unsafe) > 10
    for route in unsafe:
        caller = next(c for c in ("director", "staff", "admin", "auditor")
                      if c in RULES[route.action].roles)
        h = await session_headers(env, caller, csrf=False)
        for extra in ({}, {"X-CSRF-Token": "forged-" + "x" * 36}):
            r = await env.client.post(concrete(route.path), data={"csrf": "also-forged"},
                                      headers=h | extra, allow_redirects=False)
            assert r.status == 403 and "CSRF" in await r.text(), (route.path, extra)


def test_no_role_outside_the_viewers_reaches_a_footage_page():
    for r in ROUTES:
        if r.page and r.action == "footage.play":
            assert set(RULES[r.action].roles) == {"director", "staff"}, r.path
