"""Users, for the administrator only: add, reset a password, revoke API tokens.

The administrator manages people and sees no footage (no camera frame, no
playback, no holds)."""

from __future__ import annotations

from aiohttp import web

from ...catalog import sessions as sessions_sql, users as users_sql
from ...errors import GatewayError
from ...models import ROLES
from ...users import service as users
from ..appkeys import CATALOG, CLOCK
from .common import ROLE_TEXT, actor, field, form, render, see_other

DONE_TEXT = {"added": "The user was added.", "password": "The password was reset; the "
             "user's sessions ended.", "revoked": "The user's API tokens were revoked."}


async def users_page(request: web.Request, *, error: str | None = None, status: int = 200,
                     values: dict | None = None) -> web.Response:
    db = request.app[CATALOG]
    rows = await db.read(users_sql.list_users)
    sessions = {name: await db.read(sessions_sql.count_for_user, name) for name, *_ in rows}
    return render(request, "users.html", {
        "users": [{"name": n, "role": ROLE_TEXT.get(r, r), "disabled": d, "tokens": t,
                   "sessions": sessions[n]} for n, r, d, t in rows],
        "roles": [(r, ROLE_TEXT[r]) for r in ROLES], "error": error,
        "values": values or {"name": "", "role": "staff"},
        "done": DONE_TEXT.get(request.query.get("done", "")),
        "min_password": users.MIN_PASSWORD,
    }, status=status)


async def users_view(request: web.Request) -> web.Response:
    return await users_page(request)


async def add_user(request: web.Request) -> web.Response:
    data = await form(request)
    values = {"name": str(data.get("name", ""))[:64], "role": str(data.get("role", ""))[:16]}
    try:
        password = data.get("password", "")
        if not isinstance(password, str) or len(password) > 1024:
            password = ""
        await users.add_user(request.app[CATALOG], request.app[CLOCK],
                             field(data, "name", required=True, what="the user name",
                                   max_len=64),
                             field(data, "role", required=True, what="the role", max_len=16),
                             password or None, actor(request))
    except GatewayError as err:
        if err.status not in (400, 409):
            raise
        return await users_page(request, error=err.message[:1].upper() + err.message[1:],
                                status=err.status, values=values)
    raise see_other("/users?done=added")


async def reset_password(request: web.Request) -> web.Response:
    data = await form(request)
    password = data.get("password", "")
    try:
        await users.set_password(request.app[CATALOG], request.app[CLOCK],
                                 request.match_info["name"],
                                 password if isinstance(password, str) else "", actor(request))
    except GatewayError as err:
        if err.status not in (400, 404):
            raise
        return await users_page(request, error=err.message[:1].upper() + err.message[1:],
                                status=err.status)
    raise see_other("/users?done=password")


async def revoke_tokens(request: web.Request) -> web.Response:
    await users.revoke_tokens(request.app[CATALOG], request.app[CLOCK],
                              request.match_info["name"], actor(request))
    raise see_other("/users?done=revoked")

