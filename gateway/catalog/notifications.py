"""SQL for the notification outbox (the decisions are pure: gateway.notify.events)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Iterable

from .core import Catalog
from .holds import _COLS, _hold
from ..models import Hold

#: Sent or given-up rows are kept this long (they name an incident reference).
KEEP_DONE_US = 30 * 86400 * 1_000_000


@dataclass(frozen=True)
class Outgoing:
    id: int
    event_key: str
    channel: str
    kind: str
    payload: dict
    attempts: int
    created_us: int


def since(db: Catalog, now_us: int) -> int:
    """When notifications were first enabled (set to ``now_us`` the first time)."""
    with db.tx() as c:
        c.execute("INSERT OR IGNORE INTO notify_state (key, value) VALUES ('since_us', ?)",
                  (now_us,))
        return c.execute("SELECT value FROM notify_state WHERE key = 'since_us'").fetchone()[0]


def holds_to_consider(db: Catalog, changed_since_us: int) -> list[Hold]:
    """Live holds, and holds requested, decided or ended since ``changed_since_us``."""
    rows = db.conn.execute(
        f"SELECT {_COLS} FROM holds WHERE state IN ('requested', 'active') "
        "OR MAX(requested_us, COALESCE(decided_us, 0), COALESCE(ended_us, 0)) >= ? ORDER BY id",
        (changed_since_us,)).fetchall()
    return [_hold(r) for r in rows]


def known_keys(db: Catalog, keys: Iterable[str]) -> set[str]:
    """Which of these event keys are already queued or sent (on any channel)."""
    keys = list(keys)
    out: set[str] = set()
    for i in range(0, len(keys), 500):
        chunk = keys[i:i + 500]
        marks = ",".join("?" * len(chunk))
        out.update(r[0] for r in db.conn.execute(
            f"SELECT DISTINCT event_key FROM notifications WHERE event_key IN ({marks})", chunk))
    return out


def enqueue(db: Catalog, rows: list[tuple[str, str, str, dict]], now_us: int) -> int:
    """Queue (event_key, channel, kind, payload) rows; a key already queued is left alone."""
    n = 0
    with db.tx() as c:
        for key, channel, kind, payload in rows:
            cur = c.execute(
                "INSERT OR IGNORE INTO notifications (event_key, channel, kind, payload, "
                "created_us, next_attempt_us) VALUES (?,?,?,?,?,?)",
                (key, channel, kind, json.dumps(payload, sort_keys=True), now_us, now_us))
            n += cur.rowcount
    return n


def due(db: Catalog, now_us: int, limit: int = 100) -> list[Outgoing]:
    rows = db.conn.execute(
        "SELECT id, event_key, channel, kind, payload, attempts, created_us FROM notifications "
        "WHERE state = 'pending' AND next_attempt_us <= ? ORDER BY next_attempt_us, id LIMIT ?",
        (now_us, limit)).fetchall()
    return [Outgoing(r["id"], r["event_key"], r["channel"], r["kind"], json.loads(r["payload"]),
                     r["attempts"], r["created_us"]) for r in rows]


def next_attempt(db: Catalog) -> int | None:
    r = db.conn.execute("SELECT MIN(next_attempt_us) FROM notifications "
                        "WHERE state = 'pending'").fetchone()
    return r[0]


def mark_sent(db: Catalog, row_id: int, now_us: int) -> None:
    with db.tx() as c:
        c.execute("UPDATE notifications SET state = 'sent', attempts = attempts + 1, done_us = ?, "
                  "last_error = NULL WHERE id = ?", (now_us, row_id))


def mark_failed(db: Catalog, row_id: int, now_us: int, error: str, retry_at_us: int | None) -> None:
    """One failed attempt: retry at ``retry_at_us``, or give up when it is None."""
    with db.tx() as c:
        if retry_at_us is None:
            c.execute("UPDATE notifications SET state = 'failed', attempts = attempts + 1, "
                      "done_us = ?, last_error = ? WHERE id = ?", (now_us, error[:500], row_id))
        else:
            c.execute("UPDATE notifications SET attempts = attempts + 1, next_attempt_us = ?, "
                      "last_error = ? WHERE id = ?", (retry_at_us, error[:500], row_id))


def pending_counts(db: Catalog) -> dict[str, int]:
    return {r[0]: r[1] for r in db.conn.execute(
        "SELECT channel, COUNT(*) FROM notifications WHERE state = 'pending' GROUP BY channel")}


def prune(db: Catalog, now_us: int) -> int:
    with db.tx() as c:
        return c.execute("DELETE FROM notifications WHERE state != 'pending' AND done_us < ?",
                         (now_us - KEEP_DONE_US,)).rowcount


def all_rows(db: Catalog) -> list[dict]:
    """Every row, for tests and the operator's eye (``sqlite3 catalog.sqlite3``)."""
    return [dict(r) for r in db.conn.execute("SELECT * FROM notifications ORDER BY id")]
