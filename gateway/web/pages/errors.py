"""Errors as a page in the site's layout (the API keeps its JSON body)."""

from __future__ import annotations

from html import escape

import aiohttp_jinja2
from aiohttp import web

from .common import base_context

HEADINGS = {400: "That did not work", 401: "Please sign in", 403: "Not allowed",
            404: "Not found", 405: "Not allowed", 409: "Not possible now", 410: "No longer here",
            413: "Too large", 429: "Too many attempts"}


def error_page(request: web.Request, status: int, message: str) -> web.Response:
    heading = HEADINGS.get(status, "Something went wrong")
    try:
        ctx = base_context(request) | {"heading": heading, "message": message}
        return aiohttp_jinja2.render_template("error.html", request, ctx, status=status)
    except Exception:  # no template environment (an app without pages) or a broken catalog
        return web.Response(status=status, content_type="text/html",
                            text=f'<!doctype html><html lang="en"><title>{status}</title>'
                                 f"<h1>{escape(heading)}</h1><p>{escape(message)}</p></html>")
