"""``GET /api/v1/segments/{id}/video?reason=...``: one decrypted, masked MP4, audited.

The plaintext exists only in memory and in the response; ``Cache-Control:
no-store`` asks browsers and proxies not to keep a copy.
"""

from __future__ import annotations

from aiohttp import web

from .. import holds_service as hs
from ..models import ROLES, Actor
from .auth import require
from .keys import SERVICES


async def segment_video(request: web.Request) -> web.Response:
    # Any signed-in role gets this far; view_segment says which roles the camera's
    # policy lets view, so the refusal names the rule that applies.
    ident = require(request, *ROLES)
    seg, data = await hs.view_segment(request.app[SERVICES], Actor(ident.name, ident.role),
                                      request.match_info["id"], request.query.get("reason", ""))
    return web.Response(body=data, content_type="video/mp4", headers={
        "Cache-Control": "no-store",
        "Content-Disposition": f'inline; filename="{seg.camera}-{seg.uid}.mp4"'})


def setup_segments_api(app: web.Application) -> None:
    app.router.add_get(r"/api/v1/segments/{id:[0-9a-f]{32}}/video", segment_video)
