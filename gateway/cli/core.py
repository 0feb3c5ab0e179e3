"""serve, demo, check, purge --dry-run, keys rotate."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from .. import humanize
from ..catalog import Catalog
from ..catalog import segments as seg_sql
from ..catalog.core import ReadOnlyCatalog
from ..clock import US, SystemClock
from ..errors import GatewayError, StoreUnavailable
from ..keys.epochs import rotate_keys
from ..policy.loading import camera_policies, retention_seconds
from ..runtime import adopt_legacy_ring
from ..segments.purge import due_plan
from ..vault.auditkey import read_key
from ..vault.modes import open_keys
from ..vault.backends import open_storage
from .common import CliError, cli_actor, cli_runtime, config_option, run, settings_from


@click.command("serve")
@config_option
def serve_command(config_path: str) -> None:
    """Run the gateway with a config file."""
    from aiohttp import web

    from ..app import create_app
    from ..notify.service import check_secrets
    from ..web.accesslog import PrivateAccessLogger
    from ..web.tls import server_context
    settings = settings_from(config_path)
    try:
        _refuse_policy_violations(settings)
        tls = server_context(settings.server)  # unreadable or mismatched files stop us here
        check_secrets(settings)
        app = create_app(settings)
        # Open (or create, 0600) the key ring -- or sealed mode's epochs -- now, so a bad
        # one stops us with a message.
        adopt_legacy_ring(settings)
        open_keys(settings, create=True)
    except GatewayError as err:
        raise CliError(f"refusing to start: {err.message}", exit='refused')
    try:
        web.run_app(app, host=settings.server.host, port=settings.server.port, print=click.echo,
                    access_log_class=PrivateAccessLogger, ssl_context=tls)
    except OSError as err:
        raise CliError(f"cannot listen on {settings.server.listen}: {err.strerror or err} "
              "(is another gateway running? change [server] listen)", 2)


def _refuse_policy_violations(settings) -> None:
    from ..policy.check import check
    violations = check(settings)
    if violations:
        lines = "\n".join(f"  {v}" for v in violations)
        raise GatewayError(f"the config breaks its policies:\n{lines}\n"
                           "(footage-gateway policy check --config ... lists them)")


@click.command("demo")
@click.option("--dir", "directory", default=".demo", show_default=True,
              type=click.Path(file_okay=False), help="Where the demo keeps its config and data.")
@click.option("--port", default=8080, show_default=True, type=int)
@click.option("--interval", default=4.0, show_default=True,
              help="Length of each camera segment, and seconds between them.")
@click.option("--duration", default=None, type=float,
              help="Stop after this many seconds (default: run until Ctrl-C).")
def demo_command(directory: str, port: int, interval: float, duration: float | None) -> None:
    """Start a gateway with an embedded default and a simulated camera."""
    from ..demo import run_demo
    run_demo(Path(directory), port, interval, duration)


@click.command("check")
@config_option
@click.option("--quick", is_flag=True, help="Skip hashing every file (sizes only).")
def check_command(config_path: str, quick: bool) -> None:
    """Offline: the catalog and storage agree. Exit 0 when consistent, 1 otherwise."""
    from ..segments.check import run_check
    settings = settings_from(config_path)
    if not settings.catalog_path.exists():
        raise CliError(f"no catalog at {settings.catalog_path}")
    try:
        ring = open_keys(settings, create=False)
        audit_key = read_key(settings.audit_key_path)
    except GatewayError as err:
        raise CliError(err.message)
    db = ReadOnlyCatalog(settings.catalog_path)  # offline and hands-off: changes nothing
    try:
        storage = open_storage(settings, check=False)
    except GatewayError as err:
        db.close()
        raise CliError(err.message)
    try:
        rep = run_check(db, storage, ring, deep=not quick, audit_key=audit_key)
    except StoreUnavailable as err:
        raise CliError(f"cannot check the store: {err.message}")
    finally:
        db.close()
        storage.close()
    for p in rep.problems:
        click.echo(f"PROBLEM {p}")
    for note in rep.notes:
        click.echo(f"NOTE {note}")
    n = len(rep.problems)
    click.echo(f"{rep.segments} segments, {rep.files} files, {n} problem{'' if n == 1 else 's'}")
    sys.exit(0 if rep.ok else 1)


@click.command("purge")
@config_option
@click.option("--dry-run", is_flag=True, required=True,
              help="Explain what is due and why (the running gateway does the destroying).")
def purge_command(config_path: str, dry_run: bool) -> None:
    """Explain what would be destroyed now, and why the rest is kept."""
    settings = settings_from(config_path)
    policies = camera_policies(settings)
    db = Catalog.open(settings.catalog_path)
    now = SystemClock().now_us()
    plan = due_plan(db, now)  # exactly what the running gateway's next pass does
    zone = settings.library.timezone
    when = lambda us: humanize.local(us, zone, seconds=True)  # noqa: E731  (local, its zone)
    for seg in plan.destroy:
        click.echo(f"DESTROY {seg.uid} camera={seg.camera} end={when(seg.end_us)} "
                   f"deadline={when(seg.deadline_us)} ({(now - seg.deadline_us) / US:.1f} s past)")
    for k in plan.kept:
        click.echo(f"KEEP    {k.segment.uid} camera={k.segment.camera} deadline passed "
                   f"but hold {k.hold_id} preserves it until {when(k.until_us)}")
    destroy, kept = len(plan.destroy), len(plan.kept)
    for cam in settings.cameras:
        r = retention_seconds(cam, policies[cam.id])
        click.echo(f"camera {cam.id}: policy {policies[cam.id].id}, retention {r} s "
                   f"(policy minimum {policies[cam.id].retention.minimum})")
    nxt = seg_sql.next_deadline_after(db, now)
    click.echo(f"{destroy} due now, {kept} held past deadline; next deadline "
               f"{when(nxt) if nxt else 'none'}")


@click.group("keys")
def keys_group() -> None:
    """Key-encryption keys, and sealed mode's unlock (docs/sealed-mode.md)."""


@keys_group.command("rotate")
@config_option
def keys_rotate(config_path: str) -> None:
    """Start a new key epoch: re-wrap every data key, destroy the old KEKs (no video touched)."""
    settings = settings_from(config_path)

    async def go():
        async with cli_runtime(settings) as svc:
            return await rotate_keys(svc, cli_actor())
    out = run(go())
    click.echo(f"new KEK {out['kek']}; re-wrapped {out['rewrapped']} data keys; "
               f"destroyed {len(out['retired'])} old KEKs now (a KEK superseded less than "
               "10 minutes ago is destroyed later by the running gateway, or the next rotate)")
