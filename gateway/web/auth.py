"""Authentication and roles, checked on every request from the one route table.

The matched route names its action (gateway.web.routes); ``RULES[action]``
(gateway.holds.access) says who may call it. Public routes pass; camera
pushes are checked per camera by the push handler (its token is the camera's,
not a person's); everything else needs ``Authorization: Bearer <personal API
token>`` from a role the rule lets through. A path that matches no route
needs a valid token too, so its 404 or 405 says nothing to an anonymous caller.
"""

from __future__ import annotations

from aiohttp import web

from ..catalog import users as users_sql
from ..errors import Forbidden, Unauthorized
from ..holds.access import CAMERA, PUBLIC, RULES
from ..models import Actor
from .appkeys import CATALOG, CLOCK, ROUTE_OF

#: Where the middleware leaves the caller (an Actor) on the request.
IDENTITY: web.RequestKey[Actor] = web.RequestKey("identity", Actor)


async def resolve_identity(request: web.Request) -> Actor | None:
    """The person behind the request's bearer token, or None."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    row = await request.app[CATALOG].run(users_sql.identity_for_token, token.strip(),
                                         request.app[CLOCK].now_us())
    return Actor(*row) if row else None


@web.middleware
async def auth_middleware(request: web.Request, handler):
    route = request.app[ROUTE_OF].get(request.match_info.handler)
    rule = RULES[route.action] if route is not None else None
    if rule is not None and rule.roles in (PUBLIC, CAMERA):
        return await handler(request)
    ident = await resolve_identity(request)
    if ident is None:
        raise Unauthorized("authentication required: send Authorization: Bearer <API token>")
    if rule is not None and ident.role not in rule.roles:
        raise Forbidden(f"role {ident.role!r} may not do this (needs: {', '.join(rule.roles)})")
    request[IDENTITY] = ident
    return await handler(request)


def caller(request: web.Request) -> Actor:
    """The signed-in caller the middleware let through."""
    return request[IDENTITY]
