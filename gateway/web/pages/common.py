"""What every page handler shares: who is asking, forms, rendering, security headers."""

from __future__ import annotations

from typing import Any

import aiohttp_jinja2
from aiohttp import web

from ... import humanize
from ...errors import BadRequest
from ...models import Actor
from ..auth import IDENTITY, SESSION
from ..appkeys import CLOCK, RUNTIME, SETTINGS

#: The pages' Content-Security-Policy: nothing but our own CSS, images, media and forms.
CSP = ("default-src 'none'; style-src 'self'; img-src 'self' data:; media-src 'self'; "
       "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
#: The playback page adds its one small script (plays a window's segments in order).
CSP_WITH_SCRIPT = CSP + "; script-src 'self'"
PAGE_CSP: web.RequestKey[str] = web.RequestKey("page_csp", str)
#: A form field longer than this is refused (incidents, reasons, notes are short text).
MAX_FIELD = 2000
ROLE_TEXT = {"director": "Director", "staff": "Staff", "auditor": "Auditor", "admin": "Administrator"}
#: What each role finds in the navigation bar.
NAV = (
    ("/", "Home", ("director", "staff", "auditor", "admin")),
    ("/cameras", "Cameras", ("director", "staff", "auditor", "admin")),
    ("/holds", "Holds", ("director", "staff", "auditor")),
    ("/audit", "Audit log", ("director", "auditor")),
    ("/receipts", "Purge receipts", ("director", "auditor")),
    ("/compliance", "Compliance", ("director", "auditor", "admin")),
    ("/users", "Users", ("admin",)),
)


def actor(request: web.Request) -> Actor:
    return request[IDENTITY]


def svc(request: web.Request):
    return request.app[RUNTIME]


def tz(request: web.Request) -> str:
    return request.app[SETTINGS].library.timezone


def now_us(request: web.Request) -> int:
    return request.app[CLOCK].now_us()


async def form(request: web.Request):
    """The posted form (urlencoded or multipart); fields are read with ``field``."""
    return await request.post()


def field(data, name: str, *, required: bool = False, what: str | None = None,
          max_len: int = MAX_FIELD) -> str:
    """A text field, stripped; BadRequest in plain words when missing or too long."""
    value = data.get(name, "")
    if not isinstance(value, str):
        raise BadRequest(f"{what or name} must be text", code="bad_field")
    value = value.strip()
    if required and not value:
        raise BadRequest(f"{(what or name).capitalize()} is required", code=f"{name}_required")
    if len(value) > max_len:
        raise BadRequest(f"{(what or name).capitalize()} is too long (at most {max_len} "
                         "characters)", code="too_long")
    return value


def local_time(request: web.Request, data, name: str, what: str) -> int:
    try:
        return humanize.from_input(data.get(name, ""), tz(request), what)
    except ValueError as err:
        raise BadRequest(str(err).capitalize(), code="bad_time") from None


def base_context(request: web.Request) -> dict[str, Any]:
    who: Actor | None = request.get(IDENTITY)
    session = request.get(SESSION)
    settings = request.app[SETTINGS]
    zone = settings.library.timezone
    return {
        "library": settings.library.name,
        "user": who,
        "role_text": ROLE_TEXT.get(who.role, who.role) if who else "",
        "csrf": session.csrf if session else "",
        "nav": [(href, text) for href, text, roles in NAV if who and who.role in roles],
        "path": request.path,
        "tz": zone,
        "local": lambda us, seconds=False: humanize.local(us, zone, seconds),
        "clock": lambda us: humanize.local_time_only(us, zone),
        "to_input": lambda us: humanize.to_input(us, zone),
        "now_us": request.app[CLOCK].now_us(),
        "error": None,
    }


def render(request: web.Request, template: str, context: dict[str, Any], *,
           status: int = 200, script: bool = False) -> web.Response:
    """A page from ``template`` with the shared context; ``script`` allows /static/*.js."""
    if script:
        request[PAGE_CSP] = CSP_WITH_SCRIPT
    return aiohttp_jinja2.render_template(template, request, base_context(request) | context,
                                          status=status)


def see_other(location: str) -> web.HTTPSeeOther:
    return web.HTTPSeeOther(location)


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """Headers on every page, static file and HTML error (not the API, not the public notice)."""
    if request.path.startswith("/api/") or request.path.startswith("/notice"):
        return
    h = response.headers
    h.setdefault("Content-Security-Policy", request.get(PAGE_CSP, CSP))
    h.setdefault("X-Content-Type-Options", "nosniff")
    h.setdefault("Referrer-Policy", "no-referrer")  # a view's reason sits in its URL
    h.setdefault("X-Frame-Options", "DENY")
    if request.get(IDENTITY) is not None and not request.path.startswith("/static/"):
        h.setdefault("Cache-Control", "no-store")
