"""SQL for sealed mode's unlock back-off (gateway.keys.unlock decides; this only stores)."""

from __future__ import annotations

from .core import Catalog


def failures(db: Catalog, director: str) -> tuple[int, int]:
    """(failed attempts since the last success, time of the last one); (0, 0) if none."""
    row = db.conn.execute("SELECT failures, last_us FROM unlock_failures WHERE director = ?",
                          (director,)).fetchone()
    return (row[0], row[1]) if row else (0, 0)


def record_failure(db: Catalog, director: str, now_us: int) -> int:
    """Count one more failure; returns the new count."""
    with db.tx() as c:
        c.execute("INSERT INTO unlock_failures (director, failures, last_us) VALUES (?, 1, ?) "
                  "ON CONFLICT (director) DO UPDATE SET failures = failures + 1, last_us = ?",
                  (director, now_us, now_us))
        return c.execute("SELECT failures FROM unlock_failures WHERE director = ?",
                         (director,)).fetchone()[0]


def clear_failures(db: Catalog, director: str) -> None:
    with db.tx() as c:
        c.execute("DELETE FROM unlock_failures WHERE director = ?", (director,))
