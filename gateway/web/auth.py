"""Authentication and roles, checked on every route but the public ones.

Cameras authenticate per camera in the push handler. API clients send
``Authorization: Bearer <personal API token>``; people in a browser carry a
session cookie (gateway.sessions). A request made with the cookie that is not
GET/HEAD/OPTIONS must carry the session's CSRF token (form field ``csrf`` or
header ``X-CSRF-Token``), or it is refused with 403 before any handler runs.

Routes in the page table (gateway.web.pages.table) carry their allowed roles:
the middleware answers 403 for any other role, and sends an anonymous browser
(or one whose session ended) to the sign-in page.
"""

from __future__ import annotations

from urllib.parse import quote

from aiohttp import web

from ..errors import Forbidden, Unauthorized
from ..models import Actor
from ..sessions import Session, csrf_ok, resolve

#: Paths anyone may read: the health check and the public notice.
PUBLIC_PATHS = frozenset({"/healthz", "/notice", "/notice/signage"})
STATIC_PREFIX = "/static/"
#: Where the middleware leaves the caller (an Actor) on the request.
IDENTITY: web.RequestKey[Actor] = web.RequestKey("identity", Actor)
#: The browser session behind the request, when it came with the cookie.
SESSION: web.RequestKey[Session] = web.RequestKey("session", Session)
#: Page handler -> who may call it (PUBLIC or a frozenset of roles); filled by the page table.
ROUTE_ALLOW: web.AppKey[dict] = web.AppKey("route_allow", dict)
SESSION_COOKIE = "fgw_session"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
PUBLIC = "public"
Identity = Actor  # the caller of a request is an actor like any other


def _is_camera_push(request: web.Request) -> bool:
    parts = request.path.split("/")
    return (request.method == "POST" and len(parts) == 6 and parts[1:4] == ["api", "v1", "cameras"]
            and parts[5] == "segments")


async def resolve_identity(request: web.Request) -> Identity | None:
    """The identity behind the request's bearer token, or None."""
    from ..catalog import users as users_sql
    from .keys import CATALOG, CLOCK

    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    row = await request.app[CATALOG].run(users_sql.identity_for_token, token.strip(),
                                         request.app[CLOCK].now_us())
    return Identity(*row) if row else None


async def resolve_session(request: web.Request) -> Session | None:
    from .keys import CATALOG, CLOCK, SETTINGS

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


def _page_allow(request: web.Request):
    table = request.app.get(ROUTE_ALLOW)
    route = request.match_info.route
    return table.get(getattr(route, "handler", None)) if table else None


@web.middleware
async def auth_middleware(request: web.Request, handler):
    if request.path in PUBLIC_PATHS or _is_camera_push(request) or request.path.startswith(
            STATIC_PREFIX):
        return await handler(request)
    allow = _page_allow(request)
    ident = await resolve_identity(request)
    session = None
    if ident is None:
        session = await resolve_session(request)
        if session is not None:
            ident = session.actor
            request[SESSION] = session
    if ident is not None:
        request[IDENTITY] = ident
    if allow == PUBLIC:
        # Public handlers never act with the session's authority (sign-in checks its own
        # token), so a stale tab's sign-in form is not refused here.
        return await handler(request)
    if session is not None:
        await check_csrf(request, session)
    if ident is None:
        if allow is not None:  # a page: send the browser to sign in, then back here
            expired = "&expired=1" if request.cookies.get(SESSION_COOKIE) else ""
            target = request.path if request.method in SAFE_METHODS else "/"
            resp = web.HTTPSeeOther(f"/login?next={quote(target, safe='/')}{expired}")
            if expired:
                resp.del_cookie(SESSION_COOKIE, path="/")
            raise resp
        raise Unauthorized("authentication required: send Authorization: Bearer <API token>")
    if allow is not None and ident.role not in allow:
        raise Forbidden(f"role {ident.role!r} may not open this page (it is for: "
                        f"{', '.join(sorted(allow))})", code="role_not_allowed")
    return await handler(request)


def require(request: web.Request, *roles: str) -> Identity:
    """The caller's identity, if its role is one of ``roles``; else 403."""
    ident: Identity | None = request.get(IDENTITY)
    if ident is None:
        raise Unauthorized("authentication required")
    if ident.role not in roles:
        raise Forbidden(f"role {ident.role!r} may not do this (needs: {', '.join(roles)})")
    return ident
