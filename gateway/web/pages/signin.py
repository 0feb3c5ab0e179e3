"""``/`` (sign-in, or the home page), ``/login`` and ``/logout``."""

from __future__ import annotations

import secrets

from aiohttp import web

from ...errors import RateLimited, Unauthorized
from ...holds import service as hs
from ...users import sessions
from ..appkeys import CATALOG, CLOCK, SETTINGS
from ..auth import IDENTITY, SESSION, SESSION_COOKIE
from .common import field, form, render, see_other, svc

LOGIN_COOKIE = "fgw_login"  # the sign-in form's own CSRF token (there is no session yet)
LIMITER: web.AppKey[sessions.LoginLimiter] = web.AppKey("login_limiter", sessions.LoginLimiter)


def setup_limiter(app: web.Application) -> None:
    s = app[SETTINGS].sessions
    app[LIMITER] = sessions.LoginLimiter(s.login_attempts, s.window_s)


def limiter(app: web.Application) -> sessions.LoginLimiter:
    return app[LIMITER]


def _safe_next(target: str) -> str:
    """Only a path on this site (no '//host', no scheme): never an open redirect."""
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def _secure(request: web.Request) -> bool:
    public = request.app[SETTINGS].server.public_url or ""
    return request.secure or public.startswith("https://")


def _login_page(request: web.Request, *, error: str | None = None, status: int = 200,
                name: str = "") -> web.Response:
    token = request.cookies.get(LOGIN_COOKIE) or secrets.token_urlsafe(32)
    resp = render(request, "login.html", {
        "error": error, "name": name, "login_csrf": token,
        "next": _safe_next(request.query.get("next", "/")),
        "expired": request.query.get("expired") == "1" and error is None,
    }, status=status)
    resp.set_cookie(LOGIN_COOKIE, token, httponly=True, samesite="Strict",
                    secure=_secure(request), path="/login")
    return resp


async def home(request: web.Request) -> web.Response:
    who = request.get(IDENTITY)
    if who is None:
        return _login_page(request)
    holds = []
    if who.role in ("director", "staff", "auditor"):
        holds = await hs.list_holds(svc(request), who)
    waiting = [h for h in holds if h.state == "requested"]
    return render(request, "home.html", {
        "waiting": waiting, "active": [h for h in holds if h.state == "active"],
        "cameras": request.app[SETTINGS].cameras,
    })


async def login_form(request: web.Request) -> web.Response:
    if request.get(IDENTITY) is not None:
        raise see_other(_safe_next(request.query.get("next", "/")))
    return _login_page(request)


async def login_submit(request: web.Request) -> web.Response:
    data = await form(request)
    expected = request.cookies.get(LOGIN_COOKIE, "")
    supplied = data.get("csrf", "")
    if not expected or not isinstance(supplied, str) or not secrets.compare_digest(
            expected, supplied):
        return _login_page(request, status=403, error="This sign-in form is out of date or did "
                           "not come from this site. Please try again.")
    name = field(data, "username", max_len=64)
    password = data.get("password", "")
    if not isinstance(password, str) or len(password) > 1024:
        password = ""
    try:
        sid, session = await sessions.sign_in(
            request.app[CATALOG], request.app[CLOCK], limiter(request.app), name, password,
            request.remote or "unknown", svc(request).cpu)
    except RateLimited as err:
        resp = _login_page(request, status=429, name=name, error=err.message.capitalize() + ".")
        resp.headers["Retry-After"] = str(err.retry_after_s)
        return resp
    except Unauthorized:
        return _login_page(request, status=401, name=name,
                           error="Wrong user name or password.")
    target = _safe_next(str(data.get("next", "/")))
    resp = see_other(target)
    resp.set_cookie(SESSION_COOKIE, sid, httponly=True, samesite="Strict",
                    secure=_secure(request), path="/")
    resp.del_cookie(LOGIN_COOKIE, path="/login")
    raise resp


async def logout(request: web.Request) -> web.Response:
    session = request.get(SESSION)
    if session is not None:
        await sessions.sign_out(request.app[CATALOG], request.app[CLOCK], session)
    resp = see_other("/login")
    resp.del_cookie(SESSION_COOKIE, path="/")
    raise resp

