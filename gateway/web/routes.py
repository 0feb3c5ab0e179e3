"""Registers the routes of the parts that have them, in one place."""

from __future__ import annotations

from aiohttp import web


def setup(app: web.Application) -> None:
    try:
        from ..notice import setup_notice
    except ImportError:  # the policy pack's notice page is not in this build yet
        pass
    else:
        setup_notice(app)
