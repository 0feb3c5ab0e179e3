"""SQL for the hash-chained audit log (hashing and checking: gateway.audit)."""

from __future__ import annotations

from typing import Iterator, Mapping

from ..audit import GENESIS, Entry, canonical_detail, entry_hash
from .core import Catalog


def append(db: Catalog, at_us: int, actor: str, role: str, action: str, obj: str,
           reason: str = "", detail: Mapping | None = None) -> Entry:
    """Append one entry chained to the current head (inside the caller's transaction if any)."""
    detail_text = canonical_detail(detail)
    with db.tx() as c:
        head = c.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
        seq, prev = (head[0] + 1, head[1]) if head else (1, GENESIS)
        h = entry_hash(prev, seq, at_us, actor, role, action, obj, reason, detail_text)
        c.execute(
            "INSERT INTO audit (seq, at_us, actor, role, action, object, reason, detail, "
            "prev_hash, hash) VALUES (?,?,?,?,?,?,?,?,?,?)",
            (seq, at_us, actor, role, action, obj, reason, detail_text, prev, h),
        )
    return Entry(seq, at_us, actor, role, action, obj, reason, detail_text, prev, h)


def entries(db: Catalog, since_seq: int = 0, limit: int = -1) -> Iterator[Entry]:
    """Entries after ``since_seq`` in chain order (at most ``limit``; -1: all)."""
    cur = db.conn.execute(
        "SELECT seq, at_us, actor, role, action, object, reason, detail, prev_hash, hash "
        "FROM audit WHERE seq > ? ORDER BY seq LIMIT ?", (since_seq, limit))
    for r in cur:
        yield Entry(*r)


def head(db: Catalog) -> tuple[int, str]:
    r = db.conn.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
    return (r[0], r[1]) if r else (0, GENESIS)


def hash_at(db: Catalog, seq: int) -> str | None:
    """The hash of entry ``seq`` (None if there is no such entry)."""
    r = db.conn.execute("SELECT hash FROM audit WHERE seq = ?", (seq,)).fetchone()
    return r[0] if r else None
