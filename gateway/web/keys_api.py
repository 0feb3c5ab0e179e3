"""Sealed mode over HTTP, handlers only: ``POST /api/v1/keys/unlock``, ``POST
/api/v1/keys/lock``, ``GET /api/v1/keys/status`` (routes and roles: gateway.web.routes).

The CLI's ``keys unlock|lock|status`` call these, because the unlocked key
lives only in the running server's memory.
"""

from __future__ import annotations

from aiohttp import web

from ..errors import BadRequest
from ..keys import unlock as ul
from .appkeys import RUNTIME
from .auth import caller
from .holds_api import read_json


async def unlock_view(request: web.Request) -> web.Response:
    body = await read_json(request)
    passphrase = body.get("passphrase")
    if not isinstance(passphrase, str) or not passphrase:
        raise BadRequest("passphrase is required (a JSON string)", code="passphrase_required")
    doc = await ul.unlock(request.app[RUNTIME], caller(request), passphrase)
    return web.json_response(doc, status=200 if doc.get("state") == "unlocked" else 202,
                             headers={"Cache-Control": "no-store"})


async def lock_view(request: web.Request) -> web.Response:
    return web.json_response(await ul.lock(request.app[RUNTIME], caller(request)))


async def status_view(request: web.Request) -> web.Response:
    svc = request.app[RUNTIME]
    await ul.expire(svc)
    return web.json_response(ul.status(svc))
