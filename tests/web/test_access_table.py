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
    path = path.replace("{camera}", "lobby")
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
            r = await env.client.get(path, headers=h)
        else:
            r = await env.client.post(path, json={}, headers=h)
        body = await r.text()
        where = (caller, route.method, route.path, r.status, body[:200])
        if rule.roles == PUBLIC:
            assert r.status not in (401, 403), where
        elif rule.roles == CAMERA:
            # Only the camera's own token passes (it then fails on the empty body: 415).
            assert (r.status == 401) == (caller != "camera"), where
        elif caller in ("anonymous", "camera", "revoked"):
            assert r.status == 401, where
        elif caller in rule.roles:
            assert r.status != 401 and EDGE_REFUSAL not in body, where
        else:
            assert r.status == 403 and EDGE_REFUSAL in body, where
