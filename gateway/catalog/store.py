"""SQL for the object store's bookkeeping: write intents, owed deletions, legal holds.

See docs/storage.md ("Write intents", "Owed deletions", "S3 Object Lock") and
migration 0020.
"""

from __future__ import annotations

from dataclasses import dataclass

from .core import Catalog


# ------------------------------------------------------------------ write intents

def begin_write(db: Catalog, uid: str, now_us: int) -> None:
    """Committed before the ciphertext is put: recovery finds the write if we die."""
    with db.tx() as c:
        c.execute("INSERT INTO store_writes (uid, started_us) VALUES (?, ?)", (uid, now_us))


def end_write(db: Catalog, uid: str) -> None:
    """The write was abandoned and its object discarded (the row insert ends it otherwise)."""
    with db.tx() as c:
        c.execute("DELETE FROM store_writes WHERE uid = ?", (uid,))


def open_writes(db: Catalog) -> list[tuple[str, bool]]:
    """(uid, has a segment row) of every write intent still recorded."""
    return [(r[0], bool(r[1])) for r in db.conn.execute(
        "SELECT w.uid, s.id IS NOT NULL FROM store_writes w "
        "LEFT JOIN segments s ON s.uid = w.uid ORDER BY w.started_us")]


def stale_writes(db: Catalog, started_before_us: int) -> list[str]:
    """Intents with no row that started before then: abandoned, not in flight."""
    return [r[0] for r in db.conn.execute(
        "SELECT w.uid FROM store_writes w LEFT JOIN segments s ON s.uid = w.uid "
        "WHERE s.id IS NULL AND w.started_us < ?", (started_before_us,))]


# ------------------------------------------------------------------ owed deletions

@dataclass(frozen=True)
class OwedDelete:
    uid: str
    since_us: int
    attempts: int
    next_try_us: int
    last_error: str


def owe_delete(db: Catalog, uid: str, now_us: int, error: str) -> None:
    """Record an object whose deletion the store has not confirmed (its key is gone)."""
    with db.tx() as c:
        c.execute("INSERT OR IGNORE INTO store_deletes (uid, since_us, next_try_us, last_error) "
                  "VALUES (?, ?, ?, ?)", (uid, now_us, now_us, error[:300]))


def due_deletes(db: Catalog, now_us: int, limit: int = 100) -> list[OwedDelete]:
    rows = db.conn.execute(
        "SELECT uid, since_us, attempts, next_try_us, last_error FROM store_deletes "
        "WHERE next_try_us <= ? ORDER BY next_try_us LIMIT ?", (now_us, limit)).fetchall()
    return [OwedDelete(*r) for r in rows]


def delete_done(db: Catalog, uid: str) -> None:
    with db.tx() as c:
        c.execute("DELETE FROM store_deletes WHERE uid = ?", (uid,))


def delete_failed(db: Catalog, uid: str, next_try_us: int, error: str) -> None:
    with db.tx() as c:
        c.execute("UPDATE store_deletes SET attempts = attempts + 1, next_try_us = ?, "
                  "last_error = ? WHERE uid = ?", (next_try_us, error[:300], uid))


def owed_deletes(db: Catalog) -> tuple[int, int | None]:
    """(how many, since when the oldest) objects are owed a deletion."""
    n, oldest = db.conn.execute("SELECT COUNT(*), MIN(since_us) FROM store_deletes").fetchone()
    return n, oldest


def owed_uids(db: Catalog) -> set[str]:
    return {r[0] for r in db.conn.execute("SELECT uid FROM store_deletes")}


def next_delete_try(db: Catalog) -> int | None:
    return db.conn.execute("SELECT MIN(next_try_us) FROM store_deletes").fetchone()[0]


# ------------------------------------------------------------------ Object Lock mirror

def store_held(db: Catalog) -> set[str]:
    """Uids of kept segments the store has under legal hold: read from the partial index
    of held rows only (a test counts the rows read), whatever the catalog's size."""
    return {r[0] for r in db.conn.execute(
        "SELECT uid, state FROM segments INDEXED BY segments_store_hold WHERE store_hold = 1")
        if r[1] != "shredded"}


def set_store_hold(db: Catalog, uid: str, on: bool) -> None:
    with db.tx() as c:
        c.execute("UPDATE segments SET store_hold = ? WHERE uid = ?", (int(on), uid))


def set_lock_until(db: Catalog, uid: str, until_us: int) -> None:
    with db.tx() as c:
        c.execute("UPDATE segments SET lock_until_us = ? WHERE uid = ?", (until_us, uid))


def lock_behind_deadline(db: Catalog, limit: int = 200) -> list[tuple[str, int]]:
    """(uid, deadline) of kept segments whose store retention ends before their deadline
    (a policy change lengthened it): the store's lock is extended to match."""
    return [(r[0], r[1]) for r in db.conn.execute(
        "SELECT uid, deadline_us FROM segments WHERE state = 'stored' "
        "AND lock_until_us IS NOT NULL AND lock_until_us < deadline_us LIMIT ?", (limit,))]


@dataclass(frozen=True)
class StoreSummary:
    """What the compliance page and the report say about the store's side."""

    deletes_owed: int
    oldest_owed_us: int | None
    legal_holds: int       # kept segments the store has under legal hold
    locked: int            # kept segments with a store retention date


def summary(db: Catalog) -> StoreSummary:
    n, oldest = owed_deletes(db)
    held, locked = db.conn.execute(
        "SELECT COALESCE(SUM(store_hold = 1), 0), COUNT(lock_until_us) FROM segments "
        "WHERE state = 'stored'").fetchone()
    return StoreSummary(n, oldest, held, locked)
