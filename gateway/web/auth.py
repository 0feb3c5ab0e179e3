"""Authentication and roles, checked on every route but the public ones.

Cameras authenticate per camera in the push handler. People and API clients
send ``Authorization: Bearer <personal API token>``.
"""

from __future__ import annotations


from aiohttp import web

from ..errors import Forbidden, Unauthorized
from ..models import Actor

#: Paths anyone may read: the health check and the public notice.
PUBLIC_PATHS = frozenset({"/healthz", "/notice", "/notice/signage"})
#: Where the middleware leaves the caller (an Actor) on the request.
IDENTITY: web.RequestKey[Actor] = web.RequestKey("identity", Actor)
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


@web.middleware
async def auth_middleware(request: web.Request, handler):
    if request.path in PUBLIC_PATHS or _is_camera_push(request):
        return await handler(request)
    ident = await resolve_identity(request)
    if ident is None:
        raise Unauthorized("authentication required: send Authorization: Bearer <API token>")
    request[IDENTITY] = ident
    return await handler(request)


def require(request: web.Request, *roles: str) -> Identity:
    """The caller's identity, if its role is one of ``roles``; else 403."""
    ident: Identity | None = request.get(IDENTITY)
    if ident is None:
        raise Unauthorized("authentication required")
    if ident.role not in roles:
        raise Forbidden(f"role {ident.role!r} may not do this (needs: {', '.join(roles)})")
    return ident
