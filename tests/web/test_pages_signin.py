"""Sign-in, sessions and CSRF, as a browser sees them (aiohttp client, real app, fake clock)."""

from __future__ import annotations

import pytest

from gateway.users import service as users
from gateway.app import create_app
from gateway.catalog import audit_log, sessions as sessions_sql

from uienv import PASSWORD, Browserless, add_people, csrf_of, new_clock, write_settings


@pytest.fixture
async def ui(aiohttp_client, tmp_path):
    async def build(**sessions) -> Browserless:
        clock = new_clock()
        app = create_app(write_settings(tmp_path, **sessions), clock=clock, run_loops=False)
        client = await aiohttp_client(app)
        b = Browserless(client, app, clock)
        await add_people(b.svc)
        return b
    return build


async def _audit(b: Browserless):
    return await b.svc.catalog.read(lambda db: list(audit_log.entries(db)))


async def test_sign_in_sets_a_strict_http_only_cookie_and_shows_home(ui):
    b = await ui()
    resp = await b.login("dana", next="/holds")
    assert resp.status == 303 and resp.headers["Location"] == "/holds"
    cookie = resp.cookies["fgw_session"]
    assert cookie["httponly"] and cookie["samesite"] == "Strict" and not cookie["secure"]
    page = await b.get("/")
    text = await page.text()
    assert "Signed in as <strong>dana</strong> (Director)" in text
    assert page.headers["Cache-Control"] == "no-store"
    # The catalog keeps only the digest: the cookie value is nowhere in it.
    raw = (b.svc.settings.catalog_path).read_bytes()
    assert cookie.value.encode() not in raw


async def test_cookie_is_secure_when_served_over_https(ui):
    b = await ui()
    # public_url https (TLS at a proxy in front) marks both cookies Secure.
    object.__setattr__(b.svc.settings.server, "public_url", "https://cctv.example.org")
    page = await b.client.get("/login")
    assert page.cookies["fgw_login"]["secure"]
    token = csrf_of(await page.text())
    resp = await b.client.post("/login", data={"csrf": token, "username": "dana",
                                               "password": PASSWORD},
                               headers={"Cookie": f"fgw_login={token}"}, allow_redirects=False)
    assert resp.status == 303 and resp.cookies["fgw_session"]["secure"]


async def test_wrong_password_and_unknown_user_get_the_same_answer_and_work(ui, monkeypatch):
    b = await ui()
    calls = []
    real = users._verify
    monkeypatch.setattr(users, "_verify", lambda h, p: calls.append(h) or real(h, p))
    wrong = await b.login("dana", "not the password at all")
    unknown = await b.login("nobody", "not the password at all")
    assert wrong.status == unknown.status == 401
    t1, t2 = await wrong.text(), await unknown.text()
    assert "Wrong user name or password." in t1 and "Wrong user name or password." in t2
    assert len(calls) == 2  # argon2 ran for the unknown name too (same time)
    actions = [e.action for e in await _audit(b)]
    assert actions.count("login.failed") == 2
    assert PASSWORD not in "".join(e.detail + e.reason + e.object for e in await _audit(b))


async def test_rate_limit_per_user_then_window_passes(ui):
    b = await ui(login_attempts=3, login_window="10m")
    for _ in range(3):
        assert (await b.login("dana", "wrong password!!")).status == 401
    limited = await b.login("dana")  # even the right password now waits
    assert limited.status == 429
    assert "Too many failed sign-ins: try again in 600 s." in await limited.text()
    assert limited.headers["Retry-After"] == "600"
    b.clock.advance(240)
    again = await b.login("dana")
    assert again.status == 429 and "try again in 360 s" in await again.text()
    b.clock.advance(361)
    assert (await b.login("dana")).status == 303


async def test_rate_limit_per_address_across_user_names(ui):
    b = await ui(login_attempts=3)
    for name in ("a1", "a2", "a3"):
        assert (await b.login(name, "wrong password!!")).status == 401
    assert (await b.login("sam")).status == 429  # same address, another (real) user


async def test_login_form_needs_its_own_token(ui):
    b = await ui()
    resp = await b.client.post("/login", data={"username": "dana", "password": PASSWORD},
                               allow_redirects=False)
    assert resp.status == 403 and "out of date" in await resp.text()
    assert "fgw_session" not in resp.cookies


async def test_next_is_never_an_open_redirect(ui):
    b = await ui()
    for target in ("//evil.example/x", "https://evil.example/", "\\\\evil"):
        b.client.session.cookie_jar.clear()
        resp = await b.login("dana", next=target)
        assert resp.headers["Location"] == "/"


async def test_idle_timeout_sends_the_browser_to_sign_in(ui):
    b = await ui(idle_timeout="30m", absolute_timeout="12h")
    await b.login("sam")
    b.clock.advance(29 * 60)
    assert (await b.get("/holds")).status == 200
    b.clock.advance(29 * 60)  # used 29 min ago: still fine
    assert (await b.get("/holds")).status == 200
    b.clock.advance(30 * 60 + 1)
    resp = await b.get("/holds")
    assert resp.status == 303 and resp.headers["Location"] == "/login?next=/holds&expired=1"
    page = await b.client.get(resp.headers["Location"])
    assert "Your session ended. Please sign in again." in await page.text()
    # The API says 401 for a timed-out cookie.
    assert (await b.client.get("/api/v1/holds")).status == 401


async def test_absolute_timeout_ends_a_busy_session(ui):
    b = await ui(idle_timeout="30m", absolute_timeout="1h")
    await b.login("sam")
    for _ in range(3):
        b.clock.advance(20 * 60)
        status = (await b.get("/holds")).status
    assert status == 303  # 60 min after sign-in, though used every 20 min


async def test_logout_ends_the_session_on_the_server(ui):
    b = await ui()
    resp = await b.login("sam")
    sid = resp.cookies["fgw_session"].value
    out = await b.post("/logout", {})
    assert out.status == 303 and out.headers["Location"] == "/login"
    assert await b.svc.catalog.run(sessions_sql.get, sid) is None
    b.client.session.cookie_jar.update_cookies({"fgw_session": sid})  # a copied cookie
    assert (await b.get("/holds")).status == 303
    assert "logout" in [e.action for e in await _audit(b)]


async def test_post_without_or_with_a_forged_csrf_token_is_refused(ui):
    b = await ui()
    await b.login("sam")
    form = {"cameras": "reading", "start": "2025-12-01T05:00", "end": "2025-12-01T05:30",
            "incident": "INC-1", "reason": "bag stolen"}
    missing = await b.post("/holds", form, csrf=False)
    forged = await b.post("/holds", list(form.items()) + [("csrf", "x" * 43)], csrf=False)
    for resp in (missing, forged):
        assert resp.status == 403 and "CSRF" in await resp.text()
    # Same for the JSON API when the caller uses the cookie; a header token works.
    api = await b.client.post("/api/v1/holds", json={})
    assert api.status == 403 and (await api.json())["error"]["code"] == "csrf"
    ok = await b.client.post("/api/v1/holds", json={}, headers={"X-CSRF-Token": b.csrf})
    assert ok.status == 400  # past the CSRF check: the body is what is wrong
    assert await b.svc.catalog.read(lambda db: db.conn.execute(
        "SELECT COUNT(*) FROM holds").fetchone()[0]) == 0


async def test_api_tokens_keep_working_without_csrf(ui):
    b = await ui()
    token = await users.issue_token(b.svc.catalog, b.clock, "sam", users.Actor("t", "operator"))
    resp = await b.client.post("/api/v1/holds", json={}, headers={
        "Authorization": f"Bearer {token}"})
    assert resp.status == 400  # authenticated, no CSRF needed for a bearer token


async def test_password_reset_ends_the_users_sessions(ui, aiohttp_client):
    b = await ui()
    await b.login("sam")
    admin = Browserless(await aiohttp_client(b.client.server), b.app, b.clock)
    await admin.login("adm")
    page = await admin.get("/users")
    assert "sam" in await page.text()
    resp = await admin.post("/users/sam/password", {"password": "a brand new passphrase"})
    assert resp.status == 303
    assert (await b.get("/holds")).status == 303  # sam's session ended
    assert (await b.login("sam", "a brand new passphrase")).status == 303


async def test_every_page_carries_the_strict_csp(ui):
    b = await ui()
    resp = await b.get("/")
    csp = resp.headers["Content-Security-Policy"]
    assert csp.startswith("default-src 'none'; style-src 'self'; img-src 'self' data:; "
                          "media-src 'self'; form-action 'self'; frame-ancestors 'none'")
    assert "script-src" not in csp and "<script" not in await resp.text()
    css = await b.get("/static/gateway.css")
    assert css.status == 200 and css.content_type == "text/css"
