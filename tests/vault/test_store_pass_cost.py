"""A store pass reads the same whatever the catalogue's size.

On S3 every purge page wakes the store loop, so at 32 deadlines a second it runs
a pass or two a second. bench/storage.py at 1,000,000 kept rows: `store_held`
scans the `segments_deadline` index (170-190 ms; the partial index
`segments_store_hold` goes unused) and `lock_behind_deadline` the whole table
(170-260 ms), and S3's purge lag p50 was 190 ms against 35 ms at 100,000 rows
while they ran on the writer. They now read on the read-only connection and the
retention scan runs only until it finds nothing (so it is left out here), but
`store_held` read every row on every pass (the planner preferred the deadline
index for its `state != 'shredded'`); it now reads the partial index of held rows
only. SQLite's VM instructions are
counted (a progress handler), not time: the figure is the same on a busy machine.
"""

from __future__ import annotations

import os

import pytest

from gateway.catalog import Catalog
from gateway.catalog import store as store_sql
from gateway.clock import US
from gateway.segments.store_loop import wanted_legal_holds

PASS_QUERIES = {
    "store_held": store_sql.store_held,
    "wanted_legal_holds": wanted_legal_holds,
    "owed_deletes": store_sql.owed_deletes,
    "next_delete_try": store_sql.next_delete_try,
    "due_deletes": lambda db: store_sql.due_deletes(db, 2**62, 100),
    "open_writes": store_sql.open_writes,
}


def catalogue(path, rows: int) -> Catalog:
    """``rows`` kept segments as S3 leaves them: locked until their deadline, one held."""
    db = Catalog.open(path)
    now = 1_800_000_000 * US
    with db.tx() as c:
        c.executemany(
            "INSERT INTO segments (uid, camera, policy, start_us, end_us, deadline_us, bytes, "
            "sha256, frames, width, height, masked, state, created_us, lock_until_us, "
            "store_hold) VALUES (?, 'lobby', 'p', ?, ?, ?, 1, 'x', 1, 16, 16, 0, 'stored', ?, ?, ?)",
            [(os.urandom(16).hex(), now + i * US, now + i * US + 1, now + i * US + 3600 * US,
              now, now + i * US + 3600 * US, int(i == 0)) for i in range(rows)])
    return db


@pytest.fixture(scope="module")
def catalogues(tmp_path_factory):
    d = tmp_path_factory.mktemp("store-pass")
    small, large = catalogue(d / "small.sqlite3", 1_000), catalogue(d / "large.sqlite3", 20_000)
    yield small, large
    small.close()
    large.close()


def steps(db: Catalog, query) -> int:
    """Thousands of SQLite VM instructions ``query`` takes."""
    n = 0

    def tick() -> int:
        nonlocal n
        n += 1
        return 0
    db.conn.set_progress_handler(tick, 1000)
    try:
        query(db)
    finally:
        db.conn.set_progress_handler(None, 0)
    return n


@pytest.mark.parametrize("name", sorted(PASS_QUERIES))
def test_a_store_pass_query_does_not_grow_with_the_catalogue(catalogues, name):
    small, large = catalogues
    before, after = steps(small, PASS_QUERIES[name]), steps(large, PASS_QUERIES[name])
    assert after <= before + 2, (f"{name}: {before}k VM steps at 1,000 rows, {after}k at "
                                 "20,000: it reads the whole catalogue")
