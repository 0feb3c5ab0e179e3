"""Registers the routes of the parts that have them, in one place."""

from __future__ import annotations

from aiohttp import web

from ..export import public_key_pem
from ..notice import SIGNING_PUBLIC_KEY, setup_notice
from .holds_api import setup_holds_api
from .keys import SETTINGS
from .openapi import setup_openapi
from .pages.common import security_headers
from .pages.table import setup_pages
from .segments_api import setup_segments_api


def setup(app: web.Application) -> None:
    setup_notice(app)
    setup_holds_api(app)
    setup_segments_api(app)
    setup_openapi(app)
    setup_pages(app)
    app.on_response_prepare.append(security_headers)
    # The export key's public half, shown on the notice page so anyone can check a
    # package; created (0600) on the very first start.
    app[SIGNING_PUBLIC_KEY] = public_key_pem(app[SETTINGS].storage_path)
