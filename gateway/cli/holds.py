"""``holds list | show``: preservation holds from the host's shell (read-only)."""

from __future__ import annotations

import click

from .. import humanize
from ..catalog import exports as exp_sql
from ..catalog import holds as holds_sql
from ..holds.records import hold_json
from .common import CliError, config_option, read_catalog, settings_from


@click.group("holds")
def holds_group() -> None:
    """Preservation holds (decide them in the web UI or the API)."""


@holds_group.command("list")
@config_option
def list_command(config_path: str) -> None:
    """Every hold: id, state, cameras, window, requester, until when it preserves footage."""
    zone = settings_from(config_path).library.timezone
    with read_catalog(config_path) as db:
        holds = holds_sql.list_holds(db)
    if not holds:
        click.echo("no holds")
        return
    t = lambda us: humanize.local(us, zone, seconds=True)  # noqa: E731  (local time, its zone)
    click.echo(f"{'id':>4}  {'state':9}  {'cameras':20}  {'window':62}  {'requested by':12}  "
               "preserves until")
    for h in holds:
        until = h.preserves_until()
        click.echo(f"{h.id:>4}  {h.state:9}  {','.join(h.cameras)[:20]:20}  "
                   f"{t(h.start_us) + ' to ' + t(h.end_us):62}  {h.requested_by[:12]:12}  "
                   f"{t(until) if until else '-'}")


@holds_group.command("show")
@click.argument("hold_id", type=int)
@config_option
def show_command(hold_id: int, config_path: str) -> None:
    """One hold in full, with its exports."""
    with read_catalog(config_path) as db:
        h = holds_sql.get_hold(db, hold_id)
        exports = exp_sql.exports_of_hold(db, hold_id) if h else []
    if h is None:
        raise CliError(f"no hold {hold_id}")
    zone = settings_from(config_path).library.timezone
    times = {"start": h.start_us, "end": h.end_us, "requested_at": h.requested_us,
             "grace_until": h.grace_until_us, "decided_at": h.decided_us,
             "review_at": h.review_us, "ended_at": h.ended_us,
             "preserves_until": h.preserves_until()}
    for k, v in hold_json(h).items():
        if k in times and times[k] is not None:  # local time with its zone, for people
            v = humanize.local(times[k], zone, seconds=True)
        click.echo(f"{k:16} {', '.join(v) if isinstance(v, list) else v}")
    for e in exports:
        click.echo(f"export {e.id}: {e.state}, {e.ground} {e.reference!r} to {e.recipient}"
                   f"{' (' + e.recipient_name + ')' if e.recipient_name else ''}, by "
                   f"{e.decided_by}, {e.clips or 0} clip(s)")
