"""``GET /notice`` and ``GET /notice/signage``: the public notice and printable signs (no auth).

The words come from ``gateway.policy.notice``; this is only the HTTP edge.
"""

from __future__ import annotations

from aiohttp import web

from ..policy.notice import notice_context, render_notice, render_signage
from .appkeys import POLICIES, SETTINGS, SIGNING_PUBLIC_KEY

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"


def _page(text: str) -> web.Response:
    return web.Response(text=text, content_type="text/html", charset="utf-8",
                        headers={"Content-Security-Policy": CSP,
                                 "X-Content-Type-Options": "nosniff"})


def _context(request: web.Request) -> dict:
    app = request.app
    return notice_context(app[SETTINGS], app[POLICIES], app.get(SIGNING_PUBLIC_KEY),
                          base_url=str(request.url.origin()))


async def notice_handler(request: web.Request) -> web.Response:
    return _page(render_notice(_context(request)))


async def signage_handler(request: web.Request) -> web.Response:
    return _page(render_signage(_context(request)))
