"""Typed application keys: every shared object on the aiohttp app (no string keys)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from ..catalog import AsyncCatalog
    from ..clock import Clock
    from ..config import Settings
    from ..metrics import Metrics
    from ..notify.service import Notifier
    from ..policy.loading import Policy
    from ..runtime import Runtime
    from .routes import Route

SETTINGS: web.AppKey["Settings"] = web.AppKey("settings")
CLOCK: web.AppKey["Clock"] = web.AppKey("clock")
CATALOG: web.AppKey["AsyncCatalog"] = web.AppKey("catalog")
POLICIES: web.AppKey["dict[str, Policy]"] = web.AppKey("policies")  # camera id -> policy
METRICS: web.AppKey["Metrics"] = web.AppKey("metrics")
RUNTIME: web.AppKey["Runtime"] = web.AppKey("runtime")
#: The export signing key's public half (PEM), shown on the notice page.
SIGNING_PUBLIC_KEY: web.AppKey[str] = web.AppKey("signing_public_key", str)
#: The route table by handler, for the auth middleware (gateway.web.routes.setup fills it).
ROUTE_OF: web.AppKey["dict[object, Route]"] = web.AppKey("route_of")
#: The notifier when [notify] configures a channel, else None (gateway.notify).
NOTIFIER: web.AppKey["Notifier | None"] = web.AppKey("notifier")
