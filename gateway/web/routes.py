"""Registers the routes of the parts that have them, in one place."""

from __future__ import annotations

import logging

from aiohttp import web

from .holds_api import setup_holds_api
from .keys import SERVICES, SETTINGS
from .segments_api import setup_segments_api

log = logging.getLogger(__name__)


def setup(app: web.Application) -> None:
    try:
        from ..notice import setup_notice
    except ImportError:  # the policy pack's notice page is not in this build yet
        pass
    else:
        setup_notice(app)
    setup_holds_api(app)
    setup_segments_api(app)
    _publish_signing_key(app)
    app.on_startup.append(_exports_startup)


def _publish_signing_key(app: web.Application) -> None:
    """Put the export signing key's public half where the notice page shows it."""
    try:
        from ..notice import SIGNING_PUBLIC_KEY
    except ImportError:  # no notice page in this build
        return
    from ..export import public_key_pem

    # Set before the app is frozen; creates the key (0600) on the very first start.
    app[SIGNING_PUBLIC_KEY] = public_key_pem(app[SETTINGS].storage_path)


async def _exports_startup(app: web.Application) -> None:
    """After the services exist: mark export builds a crash interrupted as failed."""
    from ..holds_service import recover_exports

    failed = await recover_exports(app[SERVICES])
    if failed:
        log.warning("%d export build(s) were interrupted and are marked failed", failed)
