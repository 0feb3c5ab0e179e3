"""``GET /api/v1/segments/{id}/video?reason=...``: one decrypted, masked MP4, audited.

The plaintext exists only in memory and in the response; ``Cache-Control:
no-store`` asks browsers and proxies not to keep a copy.
"""

from __future__ import annotations

from aiohttp import web

from ..holds import service as hs
from .appkeys import RUNTIME
from .auth import caller


async def segment_video(request: web.Request) -> web.Response:
    # Any signed-in role gets this far (access.RULES["footage.view"]); view_segment says
    # which roles the camera's policy lets view, so the refusal names the rule that applies.
    seg, data = await hs.view_segment(request.app[RUNTIME], caller(request),
                                      request.match_info["id"], request.query.get("reason", ""))
    return web.Response(body=data, content_type="video/mp4", headers={
        "Cache-Control": "no-store",
        "Content-Disposition": f'inline; filename="{seg.camera}-{seg.uid}.mp4"'})
