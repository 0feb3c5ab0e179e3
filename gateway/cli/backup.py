"""``backup`` and ``restore``: the catalog survives the loss of the host; the footage does not.

What a backup holds and why it holds no data key: gateway.catalog.backup and
docs/operations.md ("Backups and a lost host").
"""

from __future__ import annotations

import hmac
import os
import secrets
from pathlib import Path

import click

from ..audit import REKEYED
from ..audit import verify as verify_chain
from ..catalog import audit_log
from ..catalog import backup as bk
from ..catalog.core import Catalog
from ..clock import SystemClock
from ..errors import GatewayError
from ..models import SYSTEM
from ..vault.auditkey import KEY_SIZE, read_key
from .audit import _parse_anchor
from .common import CliError, cli_actor, config_option, settings_from, writable_catalog


@click.command("backup")
@config_option
@click.option("--out", required=True, type=click.Path(dir_okay=False),
              help="The backup file to create (0600; it must not exist).")
def backup_command(config_path: str, out: str) -> None:
    """Copy the catalog consistently (the gateway may run), without any data key (audited)."""
    settings = settings_from(config_path)
    if not settings.catalog_path.exists():
        raise CliError(f"no catalog at {settings.catalog_path}")
    actor = cli_actor()
    # Opened first: without the audit key (not the gateway's user) no copy is made at all.
    live = writable_catalog(settings)
    dest = Path(out).absolute()
    try:
        if live.audit_key is None and audit_log.last_mac(live) is not None:
            raise CliError(f"the audit key {settings.audit_key_path} is missing, and a backup "
                           "is audited: run this as the gateway's user, beside its key ring; "
                           "no backup was made")
        try:
            counts = bk.backup(settings.catalog_path, dest)
        except GatewayError as err:
            raise CliError(err.message) from None
        except OSError as err:
            raise CliError(f"cannot write {out}: {err.strerror}") from None
        try:
            # Who copied the catalog, to where, and which copy (its hash and audit head):
            # a copy of the holds, users and audit trail leaving the host is itself an event.
            audit_log.append(live, SystemClock().now_us(), actor.name, actor.role,
                             "catalog.backup", "catalog", "",
                             {"path": str(dest), **bk.describe(dest), "rows": counts})
        except BaseException as err:
            dest.unlink(missing_ok=True)  # an unaudited copy is not left behind
            if isinstance(err, GatewayError):
                raise CliError(f"{err.message}; no backup was kept") from None
            raise
    finally:
        live.close()
    click.echo(f"wrote {out}: {counts['holds']} holds, {counts['purge_receipts']} receipts, "
               f"{counts['audit']} audit entries, {counts['segments']} segment rows and "
               f"{counts['data_keys']} data keys (footage is not recoverable from a backup)")


def _target_key(path: Path, given: Path | None) -> tuple[bytes | None, bool]:
    """(the audit key to check the backup's MACs with, whether it is the old key)."""
    old = read_key(given) if given is not None else None
    if given is not None and old is None:
        raise CliError(f"no audit key at {given}")
    here = read_key(path)
    if here is not None and old is not None and not hmac.compare_digest(here, old):
        raise CliError(f"{path} holds another audit key; move it away first")
    return (old, True) if old is not None else (here, False)


@click.command("restore")
@config_option
@click.option("--from", "source", required=True, type=click.Path(exists=True, dir_okay=False),
              help="A file written by `footage-gateway backup`.")
@click.option("--audit-key", "audit_key_file", type=click.Path(dir_okay=False), default=None,
              help="The old host's audit key, if it was kept: the backup's MACs are checked "
                   "and the key is reused. Without it a new key vouches from now on.")
@click.option("--anchor", callback=_parse_anchor, default=None, metavar="SEQ:HASH",
              help="An audit head recorded outside (audit head): it must be in the backup.")
def restore_command(config_path: str, source: str, audit_key_file: str | None, anchor) -> None:
    """Put a backup in place of a lost catalog (the gateway must be stopped)."""
    settings = settings_from(config_path)
    target = settings.catalog_path
    if os.path.lexists(target):
        raise CliError(f"{target} exists: restore only replaces a lost catalog (move it "
                       "away first, with the gateway stopped)")
    try:
        key, is_old = _target_key(settings.audit_key_path,
                                  Path(audit_key_file) if audit_key_file else None)
        tmp = bk.copy_into_place(Path(source), target)
    except GatewayError as err:
        raise CliError(err.message) from None
    try:
        db = Catalog(tmp)
        try:
            summary = _restore_into(db, key if is_old else None, anchor)
            key = key or secrets.token_bytes(KEY_SIZE)
            db.audit_key = key
            now = SystemClock().now_us()
            if not is_old:
                seq, _ = audit_log.head(db)
                audit_log.append(db, now, SYSTEM.name, SYSTEM.role, REKEYED, "audit",
                                 "restored from a backup; a new audit key vouches for the "
                                 "entries before this one",
                                 {"covers_entries_up_to": seq, "previous_macs_checked": False})
            lost = bk.lose_unkeyed_segments(db, now)
        finally:
            db.close()
        _install_key(settings.audit_key_path, key)
        bk.publish(tmp, target)
    except BaseException:
        for p in tmp.parent.glob(tmp.name + "*"):
            p.unlink(missing_ok=True)
        raise
    click.echo(f"restored {target} from {source}: {summary}; "
               f"{sum(lost.values())} segment(s) lost with the host (receipts written); "
               "start the gateway, then run `footage-gateway check`")


def _restore_into(db: Catalog, old_key: bytes | None, anchor) -> str:
    result = verify_chain(audit_log.entries(db), key=old_key)
    if not result.ok:
        raise CliError(f"the backup's audit chain is broken at entry {result.first_bad_seq}: "
                       f"{result.problem}; nothing restored")
    if anchor is not None and audit_log.hash_at(db, anchor[0]) != anchor[1]:
        raise CliError(f"the anchor {anchor[0]}:{anchor[1]} is not in the backup's audit "
                       "chain; nothing restored")
    macs = "MACs checked with the old key" if old_key else "MACs not checked (no old key)"
    return f"audit chain of {result.entries} entries intact ({macs})"


def _install_key(path: Path, key: bytes) -> None:
    if read_key(path) is not None:
        return
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        os.write(fd, key)
        os.fsync(fd)
    finally:
        os.close(fd)
