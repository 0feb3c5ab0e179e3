"""``GET /healthz`` (public) and ``GET /metrics`` (Prometheus text format)."""

from __future__ import annotations

from aiohttp import web

from .appkeys import METRICS


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def metrics_view(request: web.Request) -> web.Response:
    body = request.app[METRICS].render()
    return web.Response(body=body, headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"})
