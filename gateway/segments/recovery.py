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
``scrub_plan`` only reads; ``gateway.segments.store_loop`` applies the plan.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

from ..catalog import Catalog
from ..catalog import segments as seg_sql
from ..catalog import store as store_sql
from ..vault.storage import Storage
from .receipts import REASON, finish_purge

log = logging.getLogger(__name__)


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


def merge_join(files: Iterable[str], rows: Iterable[tuple[str, str, int]], before_id: int
               ) -> tuple[list[str], list[str]]:
    """(files without a row, stored rows older than ``before_id`` without a file): both
    inputs sorted by uid, walked once, so memory stays O(problems) at any scale."""
    orphans: list[str] = []
    missing: list[str] = []
    it = iter(rows)
    row = next(it, None)
    for uid in files:
        while row is not None and row[0] < uid:
            if row[1] == "stored" and row[2] <= before_id:
                missing.append(row[0])
            row = next(it, None)
        if row is not None and row[0] == uid:
            row = next(it, None)
        else:
            orphans.append(uid)
    while row is not None:
        if row[1] == "stored" and row[2] <= before_id:
            missing.append(row[0])
        row = next(it, None)
    return orphans, missing


def scrub_plan(db: Catalog, storage: Storage) -> ScrubPlan:
    """Every file/object against every row (blocking, on a read-only connection of its own;
    ``gateway.segments.store_loop`` applies the plan).

    The listing and the rows are both walked in uid order, together. A write in
    flight is never mistaken: candidates are confirmed *after* the walk, against
    the intents, owed deletions and rows then (an intent is committed before its
    put and ends in its row's transaction); a row is judged missing only if it
    existed before the walk began (``id <= before``) and is still stored at its end.
    """
    before = db.conn.execute("SELECT COALESCE(MAX(id), 0) FROM segments").fetchone()[0]
    temps = storage.temp_files()
    orphans, missing = merge_join(storage.uids(), _rows_by_uid(db), before)
    in_flight = {uid for uid, _row in store_sql.open_writes(db)} | store_sql.owed_uids(db)
    still = {uid: state for uid, state in _states(db, orphans + missing)}
    return ScrubPlan(
        [t for t in temps if t.name.rpartition("-")[2] not in in_flight],
        [u for u in orphans if u not in in_flight and u not in still],
        [u for u in missing if still.get(u) == "stored"])


def _rows_by_uid(db: Catalog, page: int = 10_000) -> Iterator[tuple[str, str, int]]:
    last = ""
    while True:
        rows = db.conn.execute("SELECT uid, state, id FROM segments WHERE uid > ? "
                               "ORDER BY uid LIMIT ?", (last, page)).fetchall()
        yield from (tuple(r) for r in rows)
        if len(rows) < page:
            return
        last = rows[-1][0]


def _states(db: Catalog, uids: list[str]) -> list[tuple[str, str]]:
    out = []
    for i in range(0, len(uids), 500):
        part = uids[i:i + 500]
        out += [tuple(r) for r in db.conn.execute(
            f"SELECT uid, state FROM segments WHERE uid IN ({','.join('?' * len(part))})", part)]
    return out
