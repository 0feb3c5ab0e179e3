"""``audit verify | head``: check the hash chain; print the head to anchor it elsewhere.

The catalog's triggers refuse UPDATE and DELETE on the audit table: they stop
accidents. Someone with the database file can drop them; the hash chain is
what catches that (an edited, deleted or reordered entry breaks it), and an
anchored head (``audit head``, also printed in the privacy-audit report)
catches the newest entries being cut off. Recomputing every hash after an
edit is caught by the MACs (gateway.vault.auditkey): checking them needs the
audit key beside the key ring (0600, the gateway's user). Run by anyone else,
``verify`` still walks the hash chain and says plainly that the MACs were not
checked, with its own exit code (``EXIT_MACS_UNCHECKED``): a chain whose
hashes fit is not vouched for until its MACs are.

``verify`` walks from the first entry (minutes at millions of entries: 224 s at
10 M); ``--since-checkpoint`` trusts the newest checkpoint whose MAC verifies
and reads only the entries after it, as the running gateway does.
"""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

import click

from ..catalog import Catalog, audit_log
from .. import humanize
from ..errors import GatewayError
from ..vault.auditkey import read_key
from .common import CliError, config_option, read_catalog, settings_from


#: ``audit verify``: the hashes fit but the MACs were not checked (no readable audit key).
EXIT_MACS_UNCHECKED = 3
_AS_GATEWAY = ("run it as the gateway's user (e.g. sudo -u footage-gateway footage-gateway "
               "audit verify --config ...)")


def _key(path: Path) -> tuple[bytes | None, str | None]:
    """The audit key, or None and why it cannot be read (None: there is none).

    Another user than the gateway's gets "cannot be read" (the key's directory is
    0700) or "must be ... of uid" (root), never "there is none".
    """
    try:
        return read_key(path), None
    except GatewayError as err:
        return None, err.message


def _check(db: Catalog, anchor: tuple[int, str] | None, key: bytes | None,
           since_checkpoint: bool = False):
    check = audit_log.check_chain(db, key, since_checkpoint=since_checkpoint)
    anchored = None
    if anchor is not None and check.result.ok:
        anchored = audit_log.hash_at(db, anchor[0]) == anchor[1]
    return check, anchored


def _parse_anchor(ctx, param, value: str | None):
    if value is None:
        return None
    seq, sep, h = value.partition(":")
    if not sep or not seq.isdigit() or len(h) != 64:
        raise click.BadParameter("expected SEQ:HASH as printed by `audit head`")
    return int(seq), h.lower()


@click.group("audit")
def audit_group() -> None:
    """The tamper-evident audit log."""


@audit_group.command("verify")
@config_option
@click.option("--anchor", callback=_parse_anchor, default=None, metavar="SEQ:HASH",
              help="A head recorded earlier (audit head): it must still be in the chain.")
@click.option("--since-checkpoint", is_flag=True,
              help="Read only the entries after the newest checkpoint (its MAC checked); "
                   "the default walks the whole chain, which also finds edits before it.")
def verify_command(config_path: str, anchor, since_checkpoint: bool) -> None:
    """Exit 0 when the chain is intact (hashes and MACs), 1 with the first bad entry when it
    is not, 3 when its hashes fit but its MACs could not be checked (run as another user
    than the gateway's: the audit key is 0600)."""
    settings = settings_from(config_path)
    key, why = _key(settings.audit_key_path)
    if since_checkpoint and key is None:
        raise CliError("--since-checkpoint needs the audit key (a checkpoint is trusted only "
                       f"through its MAC): {_AS_GATEWAY}, or walk the whole chain")
    try:
        with read_catalog(config_path) as db:
            check, anchored = _check(db, anchor, key, since_checkpoint)
    except (sqlite3.Error, OSError) as err:
        raise CliError(f"cannot read the catalog {settings.catalog_path}: {err}; "
                       f"{_AS_GATEWAY}") from None
    result, n = check.result, check.verified_upto
    unchecked = "" if key is not None else " (MACs NOT checked: no audit key readable here)"
    if not result.ok:
        click.echo(f"audit chain BROKEN at entry {result.first_bad_seq}: {result.problem} "
                   f"({n} entries before it verify){unchecked}")
        sys.exit(1)
    if anchor is not None and not anchored:
        click.echo(f"audit chain intact ({n} entries) but the anchor "
                   f"{anchor[0]}:{anchor[1]} is not in it: entries were cut off or replaced")
        sys.exit(1)
    if key is None and (result.keyed or why is not None):
        # Even a chain with no MAC at all: with a key that exists, one rewritten with
        # every MAC dropped looks the same.
        why = why or f"the audit key {settings.audit_key_path} is missing"
        click.echo(f"audit chain hashes fit ({n} entries, head "
                   f"{n}:{result.head}), but its MACs were NOT checked: {why}.\n"
                   "A rewrite that recomputed every hash passes this; only the MACs catch it. "
                   f"To check them, {_AS_GATEWAY}.")
        sys.exit(EXIT_MACS_UNCHECKED)
    macs = ("every keyed entry's MAC checked" if result.keyed
            else "no MACs yet (the gateway has not started with an audit key)")
    since = ("" if check.checkpoint_seq is None else
             f"; entries 1-{check.from_seq} vouched for by checkpoint entry "
             f"{check.checkpoint_seq}, {result.entries} read after it")
    click.echo(f"audit chain intact: {n} entries, head {n}:{result.head}; {macs}{since}")


@audit_group.command("head")
@config_option
def head_command(config_path: str) -> None:
    """Print SEQ:HASH of the newest entry, to record outside the gateway (anchor)."""
    with read_catalog(config_path) as db:
        seq, h = audit_log.head(db)
        last = list(audit_log.entries(db, max(0, seq - 1)))
    at = last[-1].at_us if last else None
    zone = settings_from(config_path).library.timezone
    click.echo(f"# newest entry {seq}" + (f" at {humanize.local(at, zone, seconds=True)}"
                                          if at else ""), err=True)
    click.echo(f"{seq}:{h}")
