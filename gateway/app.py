"""``create_app(settings)``: wires the parts into an aiohttp app. A thin factory.

Every resource and background loop is one ``cleanup_ctx`` entry; every shared
object sits behind a typed ``web.AppKey`` (gateway.web.keys).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import AsyncIterator

from aiohttp import web

from .clock import Clock, SystemClock
from .config import Settings
from .ingest.push import setup_push
from .metrics import Metrics
from .policy import camera_policies
from .holds_service import recover_exports
from .purger import purge_loop
from .services import open_services
from .sessions import expire_sessions
from .web import routes
from .web.auth import auth_middleware
from .web.errors import error_middleware
from .web.keys import CATALOG, CLOCK, METRICS, POLICIES, SERVICES, SETTINGS

log = logging.getLogger(__name__)

PURGE_WAKE: web.AppKey[asyncio.Event] = web.AppKey("purge_wake")
STATS_INTERVAL_S = 10.0
KEYS_CHECK_INTERVAL_S = 300.0
AUDIT_FULL_EVERY = int(3600 / STATS_INTERVAL_S)


def create_app(settings: Settings, *, clock: Clock | None = None,
               run_loops: bool = True) -> web.Application:
    """Build the app; ConfigError if a camera's policy is unknown.

    ``run_loops=False`` leaves out the background loops (tests that drive the
    purge by hand).
    """
    app = web.Application(middlewares=[error_middleware, auth_middleware])
    app[SETTINGS] = settings
    app[CLOCK] = clock or SystemClock()
    app[POLICIES] = camera_policies(settings)
    app[METRICS] = Metrics()
    for cam in settings.cameras:
        if cam.rtsp_url:
            log.warning("camera %s: rtsp_url is set, but RTSP pull is not in this release; the "
                        "camera must push segments (POST /api/v1/cameras/%s/segments)",
                        cam.id, cam.id)
    app[PURGE_WAKE] = asyncio.Event()
    app.cleanup_ctx.append(_services_ctx)
    if run_loops:
        app.cleanup_ctx.append(_purge_ctx)
        app.cleanup_ctx.append(_stats_ctx)
        app.cleanup_ctx.append(_keys_ctx)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics_view)
    setup_push(app)
    routes.setup(app)
    return app


async def _services_ctx(app: web.Application) -> AsyncIterator[None]:
    async with open_services(app[SETTINGS], app[CLOCK], app[POLICIES], app[METRICS],
                             server=True, wake_purger=app[PURGE_WAKE]) as svc:
        app[CATALOG] = svc.catalog
        app[SERVICES] = svc
        failed = await recover_exports(svc)  # builds a crash interrupted
        if failed:
            log.warning("%d export build(s) were interrupted and are marked failed", failed)
        await svc.audit_config_changes()
        await svc.reconcile_deadlines()
        await svc.refresh_stats(full_audit=True)
        yield


async def _loop_ctx(coro_fn, app: web.Application) -> AsyncIterator[None]:
    task = asyncio.create_task(coro_fn(app))
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def _purge_ctx(app: web.Application):
    return _loop_ctx(lambda a: purge_loop(a[SERVICES], a[PURGE_WAKE]), app)


async def _periodic(interval_s: float, fn) -> None:
    while True:
        await asyncio.sleep(interval_s)
        try:
            await fn()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("periodic task %s failed", getattr(fn, "__name__", fn))


def _stats_ctx(app: web.Application):
    ticks = 0

    async def refresh() -> None:
        nonlocal ticks
        ticks += 1  # the whole audit chain once an hour, new entries every pass
        await app[SERVICES].refresh_stats(full_audit=ticks % AUDIT_FULL_EVERY == 0)
        await expire_sessions(app[CATALOG], app[CLOCK], app[SETTINGS].sessions)
    return _loop_ctx(lambda a: _periodic(STATS_INTERVAL_S, refresh), app)


def _keys_ctx(app: web.Application):
    async def rotate_and_retire() -> None:
        await app[SERVICES].rotate_if_due()
        await app[SERVICES].retire_keks()
    return _loop_ctx(lambda a: _periodic(KEYS_CHECK_INTERVAL_S, rotate_and_retire), app)


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def metrics_view(request: web.Request) -> web.Response:
    body = request.app[METRICS].render()
    return web.Response(body=body, headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"})
