"""Every page route x every role (and the anonymous, a camera token, an expired session):
the answer matches the route's ``allow`` in the page table, and nothing is left out of it.

When the layout's one route table lands (gateway/web/routes.py), this walk extends to it.
"""

from __future__ import annotations

import secrets

import pytest

from gateway.app import create_app
from gateway.catalog import sessions as sessions_sql
from gateway.clock import US
from gateway.models import ROLES, Actor
from gateway.web.auth import PUBLIC
from gateway.web.pages.table import PAGE_ROUTES, setup_pages  # noqa: F401

from uienv import CAMERA_TOKEN, ROLE_USER, Browserless, add_people, new_clock, write_settings

SAMPLE = {"camera": "reading", "id": "1", "name": "sue"}
CALLERS = (*ROLES, "anonymous", "camera", "expired")


def _path(template: str) -> str:
    out = template
    for key, value in SAMPLE.items():
        out = out.replace("{" + key + "}", value)
    assert "{" not in out, template
    return out


@pytest.fixture
async def env(aiohttp_client, tmp_path):
    clock = new_clock()
    app = create_app(write_settings(tmp_path), clock=clock, run_loops=False)
    client = await aiohttp_client(app)
    b = Browserless(client, app, clock)
    await add_people(b.svc)
    seg = await b.ingest("reading", clock.now_us() - 300 * US)
    from gateway import holds_service as hs
    await hs.request_hold(b.svc, Actor("sam", "staff"), ["reading"], seg.start_us, seg.end_us,
                          "INC-1", "walk")
    return b


async def _headers(b: Browserless, caller: str) -> dict:
    h = {"Accept": "text/html"}
    if caller == "camera":
        h["Authorization"] = f"Bearer {CAMERA_TOKEN}"
    elif caller != "anonymous":
        name = ROLE_USER.get(caller, "dee")
        sid, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        created = b.clock.now_us() - (13 * 3600 * US if caller == "expired" else 0)
        await b.svc.catalog.run(sessions_sql.create, sid, name, csrf, created)
        h["Cookie"] = f"fgw_session={sid}"
        h["X-CSRF-Token"] = csrf
    return h


def _expected(allow, caller: str) -> str:
    if allow == PUBLIC:
        return "handler"
    if caller in ("anonymous", "camera", "expired"):
        return "sign-in"
    return "handler" if caller in allow else "forbidden"


async def test_every_page_route_answers_as_its_table_entry_says(env):
    b = env
    assert PAGE_ROUTES, "the page table is empty"
    seen = []
    for route in PAGE_ROUTES:
        for caller in CALLERS:
            headers = await _headers(b, caller)
            resp = await b.client.request(route.method, _path(route.path), headers=headers,
                                          data={} if route.method == "POST" else None,
                                          allow_redirects=False)
            text = await resp.text()
            location = resp.headers.get("Location", "")
            if resp.status == 303 and location.startswith("/login?next="):
                got = "sign-in"
            elif resp.status == 403 and "may not open this page" in text:
                got = "forbidden"
            else:
                got = "handler"
                assert resp.status != 401 and resp.status < 500, (route.path, caller, text[:300])
            want = _expected(route.allow, caller)
            assert got == want, f"{route.method} {route.path} as {caller}: {got} ({resp.status})"
            seen.append((route.method, route.path, caller))
    assert len(seen) == len(PAGE_ROUTES) * len(CALLERS)


async def test_the_table_names_every_page_the_app_serves(env):
    """No page is registered outside the table (it would escape the role check)."""
    table = {(r.method, r.path) for r in PAGE_ROUTES}
    api_or_known = ("/api/", "/static", "/notice", "/healthz", "/metrics")
    for resource in env.app.router.resources():
        info = resource.get_info()
        path = info.get("path") or info.get("formatter") or info.get("prefix", "")
        if path.startswith(api_or_known):
            continue
        for route in resource:
            if route.method == "HEAD":
                continue
            assert (route.method, path) in table, f"{route.method} {path} is not in PAGE_ROUTES"


def test_admin_never_reaches_footage_and_auditor_never_plays():
    footage = [r for r in PAGE_ROUTES if r.path.endswith(("/play", "/frame.jpg"))]
    assert footage
    for r in footage:
        assert "admin" not in r.allow and "auditor" not in r.allow
