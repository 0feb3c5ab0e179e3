"""``clock status | ack``: see and end a pause of destruction after a wall-clock jump.

The running gateway pauses destruction and hold expiry when the wall clock
jumps (gateway.timeguard). ``ack`` tells it the wall clock is now right; it
resumes at its next look (within seconds) and the acknowledgement is audited.
"""

from __future__ import annotations

import click

from ..catalog import Catalog, audit_log
from ..catalog import clockguard as guard_sql
from ..clock import US, SystemClock, iso
from .common import cli_actor, config_option, open_catalog, read_catalog, run


def _describe(g: guard_sql.StoredGuard) -> str:
    if g.paused_since_us is None:
        return "destruction and hold expiry are running (the wall clock is trusted)"
    return (f"PAUSED since {iso(g.paused_since_us)}: the wall clock moved {g.jump_us / US:+.1f} s "
            "against the monotonic clock" + (" (acknowledged; the gateway resumes at its next "
                                             "look)" if g.acked_us is not None else ""))


@click.group("clock")
def clock_group() -> None:
    """Wall-clock jumps: destruction pauses until the time is trusted again."""


@clock_group.command("status")
@config_option
def status_command(config_path: str) -> None:
    """Whether destruction is paused by a clock jump."""
    with read_catalog(config_path) as db:
        click.echo(_describe(guard_sql.load(db)))


@clock_group.command("ack")
@config_option
@click.option("--reason", required=True, help="Why the wall clock is right now (audited).")
def ack_command(config_path: str, reason: str) -> None:
    """Accept the current wall time: destruction and hold expiry resume (audited)."""
    actor = cli_actor()
    now = SystemClock().now_us()

    def tx(db: Catalog) -> guard_sql.StoredGuard:
        with db.tx():
            g = guard_sql.acknowledge(db, now)
            audit_log.append(db, now, actor.name, actor.role, "clock.ack", "clock",
                             reason.strip(), {"paused_since_us": g.paused_since_us,
                                              "jump_us": g.jump_us})
        return g

    async def go() -> guard_sql.StoredGuard:
        async with open_catalog(config_path) as db:
            return await db.run(tx)
    g = run(go())
    if g.paused_since_us is None:
        click.echo("destruction was not paused; nothing to resume (an acknowledgement does not "
                   "pre-approve a later jump)")
    else:
        click.echo(f"acknowledged the wall time {iso(now)}; the gateway resumes destruction and "
                   "hold expiry within seconds")
