"""What the pages need on the app: the template environment, the sign-in limiter, the
background export builds, security headers, and the two static files.

The page routes themselves are lines of the one route table (gateway.web.routes).
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import aiohttp_jinja2
import jinja2
from aiohttp import web

from ... import humanize
from ...errors import NotFound
from .common import security_headers

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
#: The only files /static/ serves (no directory listing, no path tricks).
STATIC_TYPES = {"gateway.css": "text/css", "player.js": "text/javascript"}
#: Background export builds started from a page; cancelled when the app stops.
EXPORT_TASKS: web.AppKey[set] = web.AppKey("export_tasks", set)
#: hold id -> (clips done, clips in all) while its package builds.
EXPORT_PROGRESS: web.AppKey[dict] = web.AppKey("export_progress", dict)


def _env_setup(app: web.Application) -> None:
    env = aiohttp_jinja2.setup(
        app, loader=jinja2.PackageLoader("gateway", "web/templates"),
        autoescape=jinja2.select_autoescape(["html"], default=True),
        undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["duration"] = humanize.duration
    env.filters["span"] = humanize.span
    env.filters["size"] = humanize.size


async def _export_tasks_ctx(app: web.Application):
    yield
    tasks = list(app[EXPORT_TASKS])
    for t in tasks:
        t.cancel()
    for t in tasks:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await t


def setup_pages(app: web.Application) -> None:
    """Everything the page handlers rely on (called by gateway.web.routes.setup)."""
    from .signin import setup_limiter
    _env_setup(app)
    setup_limiter(app)
    app[EXPORT_TASKS] = set()
    app[EXPORT_PROGRESS] = {}
    app.cleanup_ctx.append(_export_tasks_ctx)
    app.on_response_prepare.append(security_headers)


async def static_file(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    kind = STATIC_TYPES.get(name)
    if kind is None:
        raise NotFound("no such file")
    return web.Response(body=(STATIC_DIR / name).read_bytes(), content_type=kind,
                        charset="utf-8", headers={"Cache-Control": "no-cache"})
