"""What every command shares: the config, the catalog, the runtime, the actor, and errors.

Errors: a command raises ``CliError`` (or lets a ``GatewayError`` reach ``run``);
both print one line, ``error: <message>``, on stderr and exit with the code of
``EXIT`` -- never a traceback. Click's own usage errors exit 2 as usual.
"""

from __future__ import annotations

import asyncio
import getpass
from contextlib import asynccontextmanager, contextmanager
from typing import AsyncIterator, Iterator

import click

from ..catalog import AsyncCatalog, Catalog
from ..catalog.core import ReadOnlyCatalog
from ..clock import SystemClock
from ..config import Settings, load_settings
from ..errors import GatewayError
from ..metrics import Metrics
from ..models import OPERATOR_ROLE, Actor
from ..policy.loading import camera_policies
from ..runtime import Runtime, open_runtime
from ..vault.auditkey import open_audit_key

#: Exit codes: 0 ok; 1 the command failed or found a problem (check, verify);
#: 2 a usage error, or the server refused to start.
EXIT = {"ok": 0, "failed": 1, "refused": 2}


class CliError(click.ClickException):
    """One line on stderr and an exit code from ``EXIT``."""

    def __init__(self, message: str, exit: str = "failed") -> None:
        super().__init__(message)
        self.exit_code = EXIT[exit]

    def show(self, file=None) -> None:
        click.echo(f"error: {self.format_message()}", err=True)


config_option = click.option("--config", "config_path", required=True,
                             type=click.Path(dir_okay=False),
                             help="Path to the gateway's config.toml.")


def settings_from(path: str) -> Settings:
    """Load the config, or exit 1 with the validation message (no traceback)."""
    try:
        return load_settings(path)
    except GatewayError as err:
        raise CliError(err.message) from None


def run(coro):
    """Run a coroutine; a GatewayError becomes ``CliError`` (one line, exit 1)."""
    try:
        return asyncio.run(coro)
    except GatewayError as err:
        raise CliError(err.message) from None


def cli_actor() -> Actor:
    """Who acts from the host's shell: the OS user, in the audit log as ``cli:<user>``."""
    try:
        who = getpass.getuser()
    except Exception:  # no passwd entry (containers): still audited, just less precisely
        who = "unknown"
    return Actor(f"cli:{who}", OPERATOR_ROLE)


@contextmanager
def read_catalog(config_path: str) -> Iterator[ReadOnlyCatalog]:
    """The catalog of a config, read-only (for commands that only look)."""
    settings = settings_from(config_path)
    if not settings.catalog_path.exists():
        raise CliError(f"no catalog at {settings.catalog_path} (has the gateway "
                       "ever started with this config?)")
    db = ReadOnlyCatalog(settings.catalog_path)
    try:
        yield db
    finally:
        db.close()


def writable_catalog(settings: Settings) -> Catalog:
    """The catalog, writable, with the audit key loaded (so its audit entries are MACed)."""
    catalog = Catalog.open(settings.catalog_path)
    try:
        open_audit_key(catalog, settings.audit_key_path, create=False, now_us=0)
    except GatewayError as err:
        catalog.close()
        raise CliError(err.message) from None
    return catalog


@asynccontextmanager
async def open_catalog(config_path: str) -> AsyncIterator[AsyncCatalog]:
    """The catalog of a config, writable (created when missing), for the users commands."""
    db = AsyncCatalog(writable_catalog(settings_from(config_path)))
    try:
        yield db
    finally:
        db.close()


@asynccontextmanager
async def cli_runtime(settings: Settings) -> AsyncIterator[Runtime]:
    """The gateway's runtime for a CLI command (no start-up recovery: see open_runtime)."""
    async with open_runtime(settings, SystemClock(), camera_policies(settings), Metrics(),
                            server=False) as svc:
        yield svc
