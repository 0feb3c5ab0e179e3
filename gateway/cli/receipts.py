"""``receipts compact``: purge receipts older than the keep period become daily audit summaries.

No records rule we found fixes how long a destruction record is kept
(docs/scale.md, "Receipts and audit rows"), so the period is the operator's,
with a conservative default; each segment's own ``purge`` audit entry stays.
"""

from __future__ import annotations

import click

from ..catalog.receipt_compaction import compact_receipts
from ..clock import US, SystemClock
from ..errors import GatewayError
from .common import CliError, config_option, settings_from, writable_catalog

#: Default keep period for individual receipts: three years.
DEFAULT_KEEP_DAYS = 3 * 365
#: Never shorter: a yearly privacy-audit report must still find every receipt of its year.
MIN_KEEP_DAYS = 400


@click.group("receipts")
def receipts_group() -> None:
    """Purge receipts (proof of destruction, no personal data)."""


@receipts_group.command("compact")
@config_option
@click.option("--keep-days", type=click.IntRange(min=MIN_KEEP_DAYS), default=DEFAULT_KEEP_DAYS,
              show_default=True, help="Receipts destroyed longer ago than this (whole UTC days) "
              "are replaced by one audited summary per day.")
def compact_command(config_path: str, keep_days: int) -> None:
    """Replace old receipts by per-day summaries in the audit log (their purge entries stay)."""
    settings = settings_from(config_path)
    now = SystemClock().now_us()
    db = writable_catalog(settings)  # the summaries are audit entries: MACed with the key
    try:
        done = compact_receipts(db, now - keep_days * 86400 * US, now)
    except GatewayError as err:  # no audit key: nothing was deleted
        raise CliError(err.message) from None
    finally:
        db.close()
    click.echo(f"compacted {done.receipts} receipt(s) of {done.days} day(s) older than "
               f"{keep_days} days into audit entries")
