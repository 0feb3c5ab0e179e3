"""Typed application keys: every shared object on the aiohttp app (no string keys)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from ..catalog import AsyncCatalog
    from ..clock import Clock
    from ..config import Settings
    from ..metrics import Metrics
    from ..policy import Policy
    from ..services import Services

SETTINGS: web.AppKey["Settings"] = web.AppKey("settings")
CLOCK: web.AppKey["Clock"] = web.AppKey("clock")
CATALOG: web.AppKey["AsyncCatalog"] = web.AppKey("catalog")
POLICIES: web.AppKey["dict[str, Policy]"] = web.AppKey("policies")  # camera id -> policy
METRICS: web.AppKey["Metrics"] = web.AppKey("metrics")
SERVICES: web.AppKey["Services"] = web.AppKey("services")
