"""``footage-gateway policy check|list``: does the configuration keep its policies?"""

from __future__ import annotations

import click

from ..errors import ConfigError
from ..policy.check import check, warnings
from ..policy.loading import builtin_policies, load_policy
from .common import CliError, config_option, settings_from


@click.group("policy")
def policy_group() -> None:
    """Retention and conduct policies (policies/*.toml)."""


@policy_group.command("check")
@config_option
def check_command(config_path: str) -> None:
    """List every violation, one line each (camera, rule, what to change, source); exit 1 if any."""
    settings = settings_from(config_path)
    for w in warnings(settings):
        click.echo(f"warning: {w}", err=True)
    found = check(settings)
    for v in found:
        click.echo(str(v))
    if found:
        click.echo(f"{len(found)} violation{'s' if len(found) != 1 else ''}: "
                   "`serve` will not start until they are fixed", err=True)
        raise SystemExit(1)
    n = len(settings.cameras)
    click.echo(f"ok: {n} camera{'s comply' if n != 1 else ' complies'} with "
               f"{'their policies' if n != 1 else 'its policy'}")


@policy_group.command("list")
def list_command() -> None:
    """The built-in policies with their retention bounds."""
    for path in builtin_policies():
        try:
            p = load_policy(str(path))
        except ConfigError as err:
            raise CliError(err.message) from None
        flag = " [incomplete]" if p.incomplete else " [demonstration]" if p.is_demonstration else ""
        click.echo(f"{p.id:22} {p.retention.minimum:>5} .. {p.retention.maximum:<5} {p.title}{flag}")
