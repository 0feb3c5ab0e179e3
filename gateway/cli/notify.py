"""``notify test``: send one test message on every configured channel, now."""

from __future__ import annotations

import click

from ..clock import SystemClock
from .common import CliError, config_option, run, settings_from


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
        raise CliError("[notify] configures neither smtp_host nor webhook_url")
    results = run(send_test(settings, SystemClock().now_us()))
    for channel, problem in results:
        click.echo(f"{channel}: {'sent' if problem is None else 'FAILED: ' + problem}")
    failed = [c for c, p in results if p is not None]
    if failed:
        raise CliError(f"{', '.join(failed)} failed")
