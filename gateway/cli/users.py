"""``users add | token | list | revoke-tokens``: people and their personal API tokens."""

from __future__ import annotations

from pathlib import Path

import click

from ..catalog import users as users_sql
from ..clock import SystemClock
from ..users import service as users_svc
from .common import cli_actor, config_option, open_catalog, run


@click.group("users")
def users_group() -> None:
    """People who use the gateway, their roles and personal API tokens."""


@users_group.command("add")
@click.argument("name")
@click.option("--role", required=True, type=click.Choice(users_svc.ROLES))
@click.option("--password-file", type=click.Path(exists=True, dir_okay=False),
              help="File holding the password (first line). Without it: API tokens only.")
@config_option
def add_command(name: str, role: str, password_file: str | None, config_path: str) -> None:
    """Add user NAME with a role."""
    password = None
    if password_file:
        text = Path(password_file).read_text(encoding="utf-8")
        password = text.splitlines()[0] if text else ""

    async def go():
        async with open_catalog(config_path) as db:
            await users_svc.add_user(db, SystemClock(), name, role, password, cli_actor())
    run(go())
    click.echo(f"added {name} ({role}){'' if password else '; no password (API tokens only)'}")


def _as_operator(config_path: str, fn, *args):
    """Run a users service call on the config's catalog as the shell's operator."""
    async def go():
        async with open_catalog(config_path) as db:
            return await fn(db, SystemClock(), *args, cli_actor())
    return run(go())


@users_group.command("token")
@click.argument("name")
@config_option
def token_command(name: str, config_path: str) -> None:
    """Issue a new personal API token for NAME (printed once, alone on the last line)."""
    token = _as_operator(config_path, users_svc.issue_token, name)
    click.echo(f"new API token for {name}; it is shown only now "
               "(send it as Authorization: Bearer <token>):", err=True)
    click.echo(token)


@users_group.command("revoke-tokens")
@click.argument("name")
@config_option
def revoke_command(name: str, config_path: str) -> None:
    """Revoke every API token of NAME."""
    click.echo(f"revoked {_as_operator(config_path, users_svc.revoke_tokens, name)} token(s) "
               f"of {name}")


@users_group.command("list")
@config_option
def list_command(config_path: str) -> None:
    """Users, roles and how many live tokens each has."""
    async def go():
        async with open_catalog(config_path) as db:
            return await db.run(users_sql.list_users)
    for name, role, disabled, tokens in run(go()):
        click.echo(f"{name:20s} {role:9s} {tokens} token(s){'  DISABLED' if disabled else ''}")
