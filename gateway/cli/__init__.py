"""``footage-gateway``: the command line. Commands call the same service
functions as the web views. Subcommands live in this package, one module each.
"""

from __future__ import annotations

import importlib
import logging

import click

from ..config import Settings, load_settings
from ..errors import GatewayError

#: (module, attribute) of each command registered on the main group; a module
#: that is not in this build yet is skipped.
_COMMANDS = [
    ("gateway.cli.core", "serve_command"),
    ("gateway.cli.core", "demo_command"),
    ("gateway.cli.core", "check_command"),
    ("gateway.cli.core", "purge_command"),
    ("gateway.cli.core", "keys_group"),
    ("gateway.cli.redact", "redact_command"),
    ("gateway.cli.policy", "policy_group"),
    ("gateway.cli.report", "report_command"),
    ("gateway.cli.users", "users_group"),
    ("gateway.cli.holds", "holds_group"),
    ("gateway.cli.audit", "audit_group"),
    ("gateway.cli.export", "export_group"),
]


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


config_option = click.option("--config", "config_path", required=True,
                             type=click.Path(dir_okay=False),
                             help="Path to the gateway's config.toml.")

for _mod, _attr in _COMMANDS:
    try:
        main.add_command(getattr(importlib.import_module(_mod), _attr))
    except (ImportError, AttributeError) as _err:
        if not isinstance(_err, ModuleNotFoundError) or _err.name != _mod:
            raise
