"""``notify test``: send one test message on every configured channel, now."""

from __future__ import annotations

import asyncio
import sys

import click

from . import config_option, settings_from
from ..clock import SystemClock
from ..errors import GatewayError


@click.group("notify")
def notify_group() -> None:
    """Email and webhook notifications ([notify] in the config)."""


@notify_group.command("test")
@config_option
def test_command(config_path: str) -> None:
    """Send a test message by mail and/or webhook; exit 1 if any channel failed."""
    from ..notify.service import send_test
    settings = settings_from(config_path)
    if not settings.notify.enabled:
        raise click.ClickException("[notify] configures neither smtp_host nor webhook_url")
    try:
        results = asyncio.run(send_test(settings, SystemClock().now_us()))
    except GatewayError as err:
        raise click.ClickException(err.message) from None
    for channel, problem in results:
        click.echo(f"{channel}: {'sent' if problem is None else 'FAILED: ' + problem}")
    sys.exit(0 if all(p is None for _, p in results) else 1)
