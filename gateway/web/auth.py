"""Authentication and roles, checked on every request from the one route table.

The matched route names its action (gateway.web.routes); ``RULES[action]``
(gateway.holds.access) says who may call it. Public routes pass; camera
pushes are checked per camera by the push handler (its token is the camera's,
not a person's); everything else needs a person: ``Authorization: Bearer
<personal API token>`` (API clients) or the session cookie of a browser that
signed in (gateway.users.sessions). A request made with the cookie that is not
GET/HEAD/OPTIONS must carry the session's CSRF token (form field ``csrf`` or
header ``X-CSRF-Token``), or it is refused with 403 before any handler runs.
An anonymous browser (or one whose session ended) asking for a page is sent to
the sign-in page; a path that matches no route needs a person too, so its 404
or 405 says nothing to an anonymous caller.
"""

from __future__ import annotations

from urllib.parse import quote

from aiohttp import web

from ..catalog import users as users_sql
from ..errors import Forbidden, Unauthorized
from ..holds.access import CAMERA, PUBLIC, RULES
from ..models import Actor
from ..users.sessions import Session, csrf_ok, resolve
from .appkeys import CATALOG, CLOCK, ROUTE_OF, SETTINGS

#: Where the middleware leaves the caller (an Actor) on the request.
IDENTITY: web.RequestKey[Actor] = web.RequestKey("identity", Actor)
#: The browser session behind the request, when it came with the cookie.
SESSION: web.RequestKey[Session] = web.RequestKey("session", Session)
SESSION_COOKIE = "fgw_session"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


async def resolve_identity(request: web.Request) -> Actor | None:
    """The person behind the request's bearer token, or None."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    row = await request.app[CATALOG].run(users_sql.identity_for_token, token.strip(),
                                         request.app[CLOCK].now_us())
    return Actor(*row) if row else None


async def resolve_session(request: web.Request) -> Session | None:
    """The live session behind the request's cookie, or None."""
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return None
    return await resolve(request.app[CATALOG], request.app[CLOCK],
                         request.app[SETTINGS].sessions, cookie)


async def supplied_csrf(request: web.Request) -> str | None:
    """The CSRF token a request carries: header, or the ``csrf`` field of a form body."""
    header = request.headers.get("X-CSRF-Token")
    if header:
        return header
    if request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        form = await request.post()  # cached: the handler reads the same form
        value = form.get("csrf")
        return value if isinstance(value, str) else None
    return None


async def check_csrf(request: web.Request, session: Session) -> None:
    if request.method in SAFE_METHODS:
        return
    if not csrf_ok(session, await supplied_csrf(request)):
        raise Forbidden("this form is out of date or did not come from this site (missing or "
                        "wrong CSRF token): reload the page and try again", code="csrf")


def _to_sign_in(request: web.Request) -> web.HTTPSeeOther:
    """Send a browser to sign in, then back here (a form post comes back to the start)."""
    expired = "&expired=1" if request.cookies.get(SESSION_COOKIE) else ""
    target = request.path if request.method in SAFE_METHODS else "/"
    resp = web.HTTPSeeOther(f"/login?next={quote(target, safe='/')}{expired}")
    if expired:
        resp.del_cookie(SESSION_COOKIE, path="/")
    return resp


@web.middleware
async def auth_middleware(request: web.Request, handler):
    route = request.app[ROUTE_OF].get(request.match_info.handler)
    rule = RULES[route.action] if route is not None else None
    if rule is not None and rule.roles == CAMERA:
        return await handler(request)
    ident = await resolve_identity(request)
    session = None
    if ident is None:
        session = await resolve_session(request)
        if session is not None:
            ident = session.actor
            request[SESSION] = session
    if ident is not None:
        request[IDENTITY] = ident
    if rule is not None and rule.roles == PUBLIC:
        # Public handlers never act with the session's authority (sign-in checks its own
        # token), so a stale tab's sign-in form is not refused here.
        return await handler(request)
    if ident is None:
        if route is not None and route.page:
            raise _to_sign_in(request)
        raise Unauthorized("authentication required: send Authorization: Bearer <API token>")
    if session is not None:
        await check_csrf(request, session)
    if rule is not None and ident.role not in rule.roles:
        raise Forbidden(f"role {ident.role!r} may not do this (needs: {', '.join(rule.roles)})")
    return await handler(request)


def caller(request: web.Request) -> Actor:
    """The signed-in caller the middleware let through."""
    return request[IDENTITY]
