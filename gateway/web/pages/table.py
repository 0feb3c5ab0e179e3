"""Every page route with who may call it: ``PAGE_ROUTES`` of ``Route(method, path, handler, allow)``.

``allow`` is PUBLIC or a frozenset of roles. The auth middleware reads it
(403 for any other role, sign-in for the anonymous), and tests/web/test_route_table
walks every route with every role. Shaped like the one route table of the
layout issue (gateway/web/routes.py) so the two fold together.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Awaitable, Callable

import aiohttp_jinja2
import jinja2
from aiohttp import web

from ... import humanize
from ..auth import PUBLIC, ROUTE_ALLOW

CAMERA = "camera"  # the camera push token (no page uses it; kept for the shared shape)
STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
#: Background export builds started from a page; cancelled when the app stops.
EXPORT_TASKS: web.AppKey[set] = web.AppKey("export_tasks", set)
#: hold id -> (clips done, clips in all) while its package builds.
EXPORT_PROGRESS: web.AppKey[dict] = web.AppKey("export_progress", dict)


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    allow: str | frozenset[str]


def page_routes() -> list[Route]:
    from . import cameras, holds, people, records, signin
    return [*signin.ROUTES, *cameras.ROUTES, *holds.ROUTES, *records.ROUTES, *people.ROUTES]


PAGE_ROUTES: list[Route] = []  # filled on first setup (the modules import this one)


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
    """Register the pages, their static files and the template environment."""
    if not PAGE_ROUTES:
        PAGE_ROUTES.extend(page_routes())
    from .signin import setup_limiter
    _env_setup(app)
    setup_limiter(app)
    allow = {}
    for r in PAGE_ROUTES:
        app.router.add_route(r.method, r.path, r.handler)
        allow[r.handler] = r.allow
    app[ROUTE_ALLOW] = allow
    app[EXPORT_TASKS] = set()
    app[EXPORT_PROGRESS] = {}
    app.cleanup_ctx.append(_export_tasks_ctx)
    app.router.add_static("/static/", STATIC_DIR, append_version=False)


__all__ = ["PUBLIC", "CAMERA", "Route", "PAGE_ROUTES", "setup_pages"]
