"""``footage-gateway``: the command line. Commands call the same service
functions as the web views. Subcommands live in this package, one module each.
"""

from __future__ import annotations

import logging

import click


@click.group()
@click.option("-v", "--verbose", is_flag=True, help="Log debug messages.")
@click.version_option(package_name="footage-gateway")
def main(verbose: bool) -> None:
    """Library CCTV footage: masked, sealed, destroyed on time."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def _register() -> None:
    # Imported here: each command module adds its commands to ``main``'s list.
    from .audit import audit_group
    from .clock import clock_group
    from .backup import backup_command, restore_command
    from .core import (
        check_command,
        demo_command,
        keys_group,
        purge_command,
        serve_command,
    )
    from .export import export_group
    from .keys import add_sealed_commands
    from .holds import holds_group
    from .notify import notify_group
    from .policy import policy_group
    from .push import push_command
    from .receipts import receipts_group
    from .redact import redact_command
    from .report import report_command
    from .users import users_group

    add_sealed_commands(keys_group)  # enroll, unlock, lock, status, migrate
    for cmd in (serve_command, demo_command, check_command, purge_command, keys_group,
                redact_command, policy_group, report_command, users_group, holds_group,
                audit_group, export_group, notify_group, clock_group, push_command,
                backup_command, restore_command, receipts_group):
        main.add_command(cmd)


_register()
