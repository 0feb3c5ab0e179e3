"""``footage-gateway report``: the privacy-audit report as one HTML file."""

from __future__ import annotations

from pathlib import Path

import click

from ..catalog import Catalog
from ..clock import US, SystemClock
from ..errors import GatewayError
from ..policy.loading import try_camera_policies
from ..policy.report import build_report
from ..vault.auditkey import read_key
from .common import CliError, config_option, settings_from


@click.command("report")
@config_option
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False),
              help="HTML file to write.")
@click.option("--since", "since_days", default=30, show_default=True,
              type=click.IntRange(min=1), help="Period covered: the last DAYS days.")
def report_command(config_path: str, out: str, since_days: int) -> None:
    """Write the privacy-audit report (no footage, no personal data) to FILE.html."""
    settings = settings_from(config_path)
    if not settings.catalog_path.exists():
        raise CliError(f"no catalog at {settings.catalog_path}: has the gateway run?")
    policies, _errors = try_camera_policies(settings)  # the report lists cameras it cannot load
    now = SystemClock().now_us()
    try:
        catalog = Catalog.open(settings.catalog_path)
    except Exception as err:  # a locked, newer or corrupt catalog: say so, no traceback
        raise CliError(f"cannot open catalog {settings.catalog_path}: {err}") from None
    try:
        catalog.audit_key = read_key(settings.audit_key_path)  # the chain's MACs are checked too
    except GatewayError as err:
        catalog.close()
        raise CliError(err.message) from None
    try:
        html = build_report(catalog, settings, policies, now - since_days * 86400 * US, now, now)
    finally:
        catalog.close()
    try:
        Path(out).write_text(html, encoding="utf-8")
    except OSError as err:
        raise CliError(f"cannot write {out}: {err.strerror}") from None
    click.echo(f"wrote {out}")
