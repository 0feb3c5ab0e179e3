"""The client's address and scheme behind a reverse proxy the config trusts.

Only when the connection comes from an address in ``server.trusted_proxies``
are ``X-Forwarded-For`` and ``X-Forwarded-Proto`` believed; from anyone else
they are ignored, so a client cannot choose the address it is logged (or rate
limited) under. The last X-Forwarded-For entry is the one the trusted proxy
saw; deploy/nginx/footage-gateway.conf sends exactly one.
"""

from __future__ import annotations

import ipaddress
from typing import Iterable

from aiohttp import web

#: Where the resolved client address is kept on the original request (the access log reads it).
CLIENT_KEY: "web.RequestKey[str] | str" = (
    web.RequestKey("forwarded_client", str) if hasattr(web, "RequestKey") else "forwarded_client")


def forwarded_middleware(trusted: Iterable[str]):
    proxies = frozenset(str(ipaddress.ip_address(a)) for a in trusted)

    @web.middleware
    async def middleware(request: web.Request, handler):
        if request.remote not in proxies:
            return await handler(request)
        changes: dict[str, str] = {}
        xff = request.headers.get("X-Forwarded-For", "")
        last = xff.rsplit(",", 1)[-1].strip()
        try:
            changes["remote"] = str(ipaddress.ip_address(last))
        except ValueError:
            pass  # absent or garbage: the proxy's own address stands
        proto = request.headers.get("X-Forwarded-Proto", "").strip().lower()
        if proto in ("http", "https"):
            changes["scheme"] = proto
        if not changes:
            return await handler(request)
        if "remote" in changes:
            request[CLIENT_KEY] = changes["remote"]
        return await handler(request.clone(**changes))
    return middleware
