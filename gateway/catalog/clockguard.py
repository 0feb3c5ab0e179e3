"""SQL for the clock guard's persisted state (gateway.timeguard), one row."""

from __future__ import annotations

from dataclasses import dataclass

from .core import Catalog


@dataclass(frozen=True)
class StoredGuard:
    paused_since_us: int | None
    jump_us: int
    last_wall_us: int | None
    acked_us: int | None


def load(db: Catalog) -> StoredGuard:
    row = db.conn.execute("SELECT paused_since_us, jump_us, last_wall_us, acked_us "
                          "FROM clock_guard WHERE id = 1").fetchone()
    return StoredGuard(*row) if row else StoredGuard(None, 0, None, None)


def save(db: Catalog, paused_since_us: int | None, jump_us: int, last_wall_us: int | None,
         consumed_ack: bool) -> None:
    """Store a look's result; ``consumed_ack`` clears the acknowledgement it acted on."""
    with db.tx() as c:
        c.execute("UPDATE clock_guard SET paused_since_us = ?, jump_us = ?, last_wall_us = ?, "
                  "acked_us = CASE WHEN ? THEN NULL ELSE acked_us END WHERE id = 1",
                  (paused_since_us, jump_us, last_wall_us, int(consumed_ack)))


def acknowledge(db: Catalog, now_us: int) -> StoredGuard:
    """An operator accepts the current wall time; the running gateway resumes at its next look."""
    with db.tx() as c:
        c.execute("UPDATE clock_guard SET acked_us = ? WHERE id = 1", (now_us,))
    return load(db)
