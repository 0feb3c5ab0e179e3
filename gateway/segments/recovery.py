"""Start-up recovery, and the full scrub that runs once the server is up.

``recover`` runs before the server takes a request (docs/storage.md,
"Start-up"): it finishes what a crash interrupted and looks only at what the
catalog says was in flight (write intents, purges marked shredded), so a
restart costs O(writes in flight), not O(footage kept): listing a year of
footage on a disk or in a bucket took seconds to minutes.

``scrub`` compares every file or object with every row, as recovery used to
before serving; it runs in the background after start (and in ``check``, offline).
It finds what no crash of ours can leave: files from older releases, objects
written or deleted through the store by someone else, footage lost to the disk.
The decision (``scrub_plan``) is pure; ``gateway.segments.store_loop`` applies it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from ..catalog import Catalog
from ..catalog import segments as seg_sql
from ..catalog import store as store_sql
from ..vault.storage import Storage
from .receipts import finish_purge

log = logging.getLogger(__name__)

REASON = "retention deadline passed"


def recover(db: Catalog, storage: Storage) -> dict[str, int]:
    """Startup: finish interrupted purges and drop what was never acknowledged.

    - write intents without a row: the client got no 201; whatever reached the
      store (a temp file, a file, an object) is discarded, then the intent. If the
      store cannot be reached, the intent stays for the store loop to finish.
    - rows marked shredded: the key is already gone; delete the ciphertext (or owe
      the deletion when the store fails) and write the receipt.
    """
    counts = {"writes_discarded": 0, "writes_left": 0, "purges_finished": 0}
    for uid, has_row in store_sql.open_writes(db):
        if not has_row:
            try:
                storage.discard(uid)
            except Exception as err:  # noqa: BLE001 (the intent stays: retried later)
                log.warning("recovery: could not discard unacknowledged write %s: %s", uid, err)
                counts["writes_left"] += 1
                continue
            counts["writes_discarded"] += 1
        store_sql.end_write(db, uid)
    for seg in seg_sql.shredded_segments(db):
        owed = None
        try:
            storage.delete(seg.uid)
        except Exception as err:  # noqa: BLE001 (the key is gone: the deletion is owed)
            owed = str(err) or type(err).__name__
        finish_purge(db, seg, REASON, owed)
        counts["purges_finished"] += 1
    if any(counts.values()):
        log.warning("recovery: %s", counts)
    return counts


@dataclass(frozen=True)
class ScrubPlan:
    temps: list[Path]          # temp files of no write in flight
    orphans: list[str]         # files/objects with no row and no write in flight
    missing: list[str]         # rows older than the listing whose ciphertext is gone


def snapshot(db: Catalog) -> tuple[set[str], dict[str, tuple[str, int]]]:
    """Read *after* the listing: the uids in flight (intents, owed deletions) and every row."""
    in_flight = {uid for uid, _row in store_sql.open_writes(db)} | store_sql.owed_uids(db)
    rows = {uid: (state, sid) for uid, state, sid in db.conn.execute(
        "SELECT uid, state, id FROM segments")}
    return in_flight, rows


def max_row_id(db: Catalog) -> int:
    return db.conn.execute("SELECT COALESCE(MAX(id), 0) FROM segments").fetchone()[0]


def scrub_plan(temps: list[Path], files: set[str], in_flight: set[str],
               rows: dict[str, tuple[str, int]], before_id: int) -> ScrubPlan:
    """Every file/object against every row (pure; ``gateway.segments.store_loop`` applies it).

    A write in flight is never mistaken when the listing came first and
    ``snapshot`` after: a file listed has, by then, its intent or its row (the
    intent is committed before the put and ends in the row's transaction); a row
    is judged missing only if it existed (``id <= before_id``) before the listing.
    """
    return ScrubPlan(
        [t for t in temps if t.name.rpartition("-")[2] not in in_flight],
        sorted(files - rows.keys() - in_flight),
        sorted(uid for uid, (state, sid) in rows.items()
               if state == "stored" and sid <= before_id and uid not in files))
