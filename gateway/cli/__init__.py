"""``footage-gateway``: the command line. Commands call the same service
functions as the web views. Subcommands live in this package, one module each.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from typing import Iterator

import click

from ..catalog.core import ReadOnlyCatalog
from ..config import Settings, load_settings
from ..errors import GatewayError

@click.group()
@click.option("-v", "--verbose", is_flag=True, help="Log debug messages.")
@click.version_option(package_name="footage-gateway")
def main(verbose: bool) -> None:
    """Library CCTV footage: masked, sealed, destroyed on time."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def settings_from(path: str) -> Settings:
    """Load the config or exit 2 with the validation message (no traceback)."""
    try:
        return load_settings(path)
    except GatewayError as err:
        raise click.ClickException(err.message) from None


@contextmanager
def read_catalog(config_path: str) -> Iterator[ReadOnlyCatalog]:
    """The catalog of a config, read-only (for commands that only look)."""
    settings = settings_from(config_path)
    if not settings.catalog_path.exists():
        raise click.ClickException(f"no catalog at {settings.catalog_path} (has the gateway "
                                   "ever started with this config?)")
    db = ReadOnlyCatalog(settings.catalog_path)
    try:
        yield db
    finally:
        db.close()


config_option = click.option("--config", "config_path", required=True,
                             type=click.Path(dir_okay=False),
                             help="Path to the gateway's config.toml.")


def _register() -> None:
    # Imported here: the command modules use the helpers above.
    from .audit import audit_group
    from .core import check_command, demo_command, keys_group, purge_command, serve_command
    from .export import export_group
    from .holds import holds_group
    from .notify import notify_group
    from .policy import policy_group
    from .redact import redact_command
    from .report import report_command
    from .users import users_group

    for cmd in (serve_command, demo_command, check_command, purge_command, keys_group,
                redact_command, policy_group, report_command, users_group, holds_group,
                audit_group, export_group, notify_group):
        main.add_command(cmd)


_register()
