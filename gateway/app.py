"""``create_app(settings)``: the start-up order, and nothing else.

Every resource and background loop is one ``cleanup_ctx`` entry; every shared
object sits behind a typed ``web.AppKey`` (gateway.web.appkeys); every route
comes from the one table (gateway.web.routes).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import AsyncIterator, Awaitable, Callable

from aiohttp import web

from .clock import Clock, SystemClock
from .config import Settings
from .holds.exports import recover_exports
from .loops import keys_loop, notify_loop, purge_loop, stats_loop, unlock_loop
from .metrics import Metrics
from .notify.service import open_notifier
from .policy.changes import audit_config_changes
from .policy.loading import camera_policies
from .runtime import open_runtime
from .segments.deadlines import reconcile_deadlines
from .segments.recovery import recover
from .segments.rtsp import CameraPuller, pullers, rtsp_cameras
from .segments.store_loop import store_loop
from .segments.stats import refresh_stats
from .vault.signing import public_key_pem
from .web import routes
from .web.appkeys import (
    CATALOG,
    CLOCK,
    METRICS,
    NOTIFIER,
    POLICIES,
    RUNTIME,
    SETTINGS,
    SIGNING_PUBLIC_KEY,
)
from .web.accesslog import install_log_filter
from .web.auth import auth_middleware
from .web.errors import error_middleware
from .web.forwarded import forwarded_middleware

log = logging.getLogger(__name__)

PURGE_WAKE: web.AppKey[asyncio.Event] = web.AppKey("purge_wake")
RTSP_PULLERS: web.AppKey[list[CameraPuller]] = web.AppKey("rtsp_pullers")


def create_app(settings: Settings, *, clock: Clock | None = None,
               run_loops: bool = True) -> web.Application:
    """Build the app; ConfigError if a camera's policy is unknown.

    ``run_loops=False`` leaves out the background loops (tests that drive the
    purge by hand; a ``FakeClock`` drives them too).
    """
    install_log_filter()  # no header value, no raw control character in the log
    middlewares = [error_middleware, auth_middleware]
    if settings.server.trusted_proxies:  # first: errors and auth see the real client
        middlewares.insert(0, forwarded_middleware(settings.server.trusted_proxies))
    app = web.Application(middlewares=middlewares)
    app[SETTINGS] = settings
    app[CLOCK] = clock or SystemClock()
    app[POLICIES] = camera_policies(settings)
    app[METRICS] = Metrics()
    app[PURGE_WAKE] = asyncio.Event()
    app.cleanup_ctx.append(_runtime_ctx)
    if rtsp_cameras(settings):
        app.cleanup_ctx.append(_rtsp_ctx)
    app.cleanup_ctx.append(_notify_ctx)
    if run_loops:
        app.cleanup_ctx.append(_loop_ctx(lambda a: purge_loop(a[RUNTIME], a[PURGE_WAKE])))
        app.cleanup_ctx.append(_loop_ctx(lambda a: stats_loop(a[RUNTIME])))
        app.cleanup_ctx.append(_loop_ctx(lambda a: keys_loop(a[RUNTIME])))
        app.cleanup_ctx.append(_loop_ctx(lambda a: store_loop(a[RUNTIME])))
        if settings.notify.enabled:
            app.cleanup_ctx.append(_loop_ctx(lambda a: notify_loop(a[NOTIFIER])))
        if settings.keys.mode == "sealed":
            app.cleanup_ctx.append(_loop_ctx(lambda a: unlock_loop(a[RUNTIME])))
    # The export key's public half, shown on the notice page so anyone can check a
    # package; created (0600) on the very first start.
    app[SIGNING_PUBLIC_KEY] = public_key_pem(settings.storage_path)
    routes.setup(app)
    return app


async def _runtime_ctx(app: web.Application) -> AsyncIterator[None]:
    async with open_runtime(app[SETTINGS], app[CLOCK], app[POLICIES], app[METRICS],
                            server=True, wake_purger=app[PURGE_WAKE]) as svc:
        # Before the first request: finish interrupted purges, drop unacknowledged writes
        # (only what the catalog says was in flight; the full scrub runs in store_loop).
        await svc.catalog.run(recover, svc.storage)
        app[CATALOG] = svc.catalog
        app[RUNTIME] = svc
        failed = await recover_exports(svc)  # builds a crash interrupted
        if failed:
            log.warning("%d export build(s) were interrupted and are marked failed", failed)
        await audit_config_changes(svc)
        await reconcile_deadlines(svc)
        await refresh_stats(svc, reanchor_audit=True)
        yield


async def _rtsp_ctx(app: web.Application) -> AsyncIterator[None]:
    """One puller task per RTSP camera (gateway.segments.rtsp), after the runtime is up."""
    async with pullers(app[RUNTIME], app[SETTINGS]) as items:
        app[RTSP_PULLERS] = items
        yield


async def _notify_ctx(app: web.Application) -> AsyncIterator[None]:
    """The notifier when [notify] configures a channel (its secrets read now), else None."""
    svc = app[RUNTIME]
    cameras = [c.id for c in app[SETTINGS].cameras]
    registry = app[METRICS].registry

    def past_deadline() -> dict[str, int]:  # what the stats loop last measured
        return {c: int(registry.get_sample_value("footage_segments_past_deadline",
                                                 {"camera": c}) or 0) for c in cameras}
    async with open_notifier(app[SETTINGS], svc.catalog, app[CLOCK], registry,
                             past_deadline) as notifier:
        app[NOTIFIER] = notifier
        if notifier is not None:
            await notifier.start()
            svc.wake_notifier = notifier.wake
        try:
            yield
        finally:
            svc.wake_notifier = None


def _loop_ctx(start: Callable[[web.Application], Awaitable[None]]):
    """One cleanup_ctx entry: run ``start(app)`` as a task while the app runs."""
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        task = asyncio.create_task(start(app))
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    return ctx
