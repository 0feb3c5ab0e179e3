"""Start-up recovery: finish interrupted purges and drop what was never acknowledged.

Runs before the server takes a request (docs/storage.md, "Start-up"). The
offline counterpart that only reports is ``gateway.segments.check``.
"""

from __future__ import annotations

import logging

from ..catalog import Catalog
from ..catalog import segments as seg_sql
from ..vault.storage import Storage
from .receipts import finish_purge

log = logging.getLogger(__name__)


def recover(db: Catalog, storage: Storage) -> dict[str, int]:
    """Startup: finish interrupted purges and drop what was never acknowledged.

    - temp files: a write that never finished; the client got no 201. Deleted.
    - rows marked shredded: the key is already gone; unlink and write the receipt.
    - files with no row: renamed but never committed (no 201 either); their data
      key was never stored, so they are unreadable noise. Deleted.
    - rows with no file: acknowledged footage lost to the disk; marked corrupt
      and reported (``check`` fails until someone looks).
    """
    counts = {"temp_removed": 0, "purges_finished": 0, "orphans_removed": 0, "missing": 0}
    for tmp in storage.temp_files():
        tmp.unlink(missing_ok=True)
        counts["temp_removed"] += 1
    for seg in seg_sql.shredded_segments(db):
        storage.delete(seg.uid)
        finish_purge(db, seg, "retention deadline passed")
        counts["purges_finished"] += 1
    rows = {uid: state for uid, state, _b, _s in seg_sql.all_uids(db)}
    files = set(storage.uids())
    for uid in files - rows.keys():
        storage.delete(uid)
        counts["orphans_removed"] += 1
    for uid, state in rows.items():
        if state == "stored" and uid not in files:
            seg_sql.mark_corrupt(db, uid)
            counts["missing"] += 1
            log.error("segment %s is in the catalog but its file is missing", uid)
    if any(counts.values()):
        log.warning("recovery: %s", counts)
    return counts
