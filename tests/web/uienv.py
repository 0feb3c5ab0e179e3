"""Shared set-up of the page tests: an app from explicit settings, one user per role with a
password, a fake clock, real H.264 segments ingested through the real pipeline.

Used by the aiohttp-client tests (test_pages_*.py) and the browser tests (test_browser.py).
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

from gateway.users import service as users
from gateway.clock import US, FakeClock
from gateway.config import parse_settings

T0 = 1_764_590_400 * US   # Mon 1 Dec 2025, 12:00 UTC (06:00 in Chicago)
RETENTION_S = 3 * 86400
PASSWORD = "correct horse battery"
USERS = {"dana": "director", "dee": "director", "sam": "staff", "sue": "staff",
         "aud": "auditor", "adm": "admin"}
ROLE_USER = {"director": "dana", "staff": "sam", "auditor": "aud", "admin": "adm"}
CAMERA_TOKEN = "test-camera-token-0123456789abcdef"

POLICY = f"""
id = "ui-policy"
title = "Test library policy"
jurisdiction = "Testland"
[retention]
minimum = "{RETENTION_S}s"
minimum_source = "test"
maximum = "30d"
maximum_source = "test"
hold_request_grace = "2h"
hold_review = "90d"
[access]
view_roles = ["director", "staff"]
source = "test: staff may confirm the incident they flagged"
[approvers]
holds = ["director"]
disclosures = ["director"]
counsel_before_disclosure = false
source = "test"
[zones.reading_area]
label = "Reading and study areas"
rule = "allowed"
source = "test"
"""


def write_settings(tmp: Path, **sessions):
    pol = tmp / "policies"
    pol.mkdir(parents=True, exist_ok=True)
    (pol / "ui-policy.toml").write_text(POLICY)
    from gateway.media import synth
    masks = [{"zone": "shelves", "polygon": [list(p) for p in synth.SHELF_REGION],
              "mode": "fill"},
             {"zone": "screen", "polygon": [list(p) for p in synth.SCREEN_REGION],
              "mode": "pixelate"}]
    cams = [{"id": cid, "name": name, "policy": "ui-policy", "zone": "reading_area",
             "purpose": purpose, "push_token": CAMERA_TOKEN, "masks": masks}
            for cid, name, purpose in (
                ("reading", "Reading room", "physical security of the reading room"),
                ("lobby", "Main entrance", "physical security of the entrance"))]
    return parse_settings({
        "storage": {"path": str(tmp / "data"), "min_free_bytes": 0},
        "policies_dir": str(pol),
        "library": {"name": "Testville Library", "timezone": "America/Chicago"},
        "sessions": sessions,
        "cameras": cams,
    })


@functools.lru_cache(maxsize=None)
def clip(seed: int = 0) -> bytes:
    from gateway.media.synth import make_segment
    return make_segment(seconds=1.0, fps=5, width=160, height=96, seed=seed)


@functools.lru_cache(maxsize=1)
def password_hash() -> str:
    """One real argon2 hash of PASSWORD, shared by every test user (hashing is slow by design)."""
    return users._hasher.hash(PASSWORD)


async def add_people(svc) -> None:
    from gateway.catalog import users as users_sql
    for name, role in USERS.items():
        await svc.catalog.run(users_sql.add_user, name, role, password_hash(), svc.clock.now_us())


def csrf_of(html: str) -> str:
    m = re.search(r'name="csrf" value="([^"]+)"', html)
    assert m, "no CSRF field on the page"
    return m.group(1)


def new_clock() -> FakeClock:
    return FakeClock(T0)


class Browserless:
    """An aiohttp test client signed in (or not) as one person, with the page's CSRF token."""

    def __init__(self, client, app, clock):
        self.client, self.app, self.clock = client, app, clock
        self.csrf = ""

    @property
    def svc(self):
        from gateway.web.appkeys import RUNTIME as SERVICES
        return self.app[SERVICES]

    async def login(self, name: str, password: str = PASSWORD, **extra):
        page = await self.client.get("/login")
        token = csrf_of(await page.text())
        resp = await self.client.post("/login", data={"csrf": token, "username": name,
                                                      "password": password, **extra},
                                      allow_redirects=False)
        if resp.status == 303:
            home = await self.client.get("/")
            self.csrf = csrf_of(await home.text())
        return resp

    async def sign_in_as(self, name: str) -> str:
        """A real session for ``name`` without the (slow by design) password check; the id."""
        import secrets
        from gateway.catalog import sessions as sessions_sql
        sid, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        await self.svc.catalog.run(sessions_sql.create, sid, name, csrf, self.clock.now_us())
        self.client.session.cookie_jar.update_cookies({"fgw_session": sid})
        self.csrf = csrf
        return sid

    async def get(self, path: str, **kw):
        kw.setdefault("headers", {"Accept": "text/html"})
        return await self.client.get(path, allow_redirects=False, **kw)

    async def post(self, path: str, data: dict | list, csrf: bool = True, **kw):
        if csrf:
            data = list(data.items()) if isinstance(data, dict) else list(data)
            data.append(("csrf", self.csrf))
        kw.setdefault("headers", {"Accept": "text/html"})
        return await self.client.post(path, data=data, allow_redirects=False, **kw)

    async def ingest(self, camera: str, start_us: int, seed: int = 0):
        """Store a 1 s segment as if it arrived when recorded (deadlines run from receipt)."""
        from gateway.segments.ingest import ingest
        clock, now = self.svc.clock, self.svc.clock.now_us()
        clock.t = min(now, start_us + 1_000_000)  # the wall clock only: no jump is watched here
        try:
            return await ingest(self.svc, self.svc.settings.camera(camera), clip(seed),
                                start_hint_us=start_us)
        finally:
            clock.t = now
