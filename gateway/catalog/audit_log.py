"""SQL for the hash-chained audit log (hashing and checking: gateway.audit)."""

from __future__ import annotations

from typing import Iterator, Mapping

from ..audit import GENESIS, Entry, canonical_detail, entry_hash, entry_mac
from ..errors import ConfigError
from .core import Catalog

_COLUMNS = "seq, at_us, actor, role, action, object, reason, detail, prev_hash, hash, mac"


def append(db: Catalog, at_us: int, actor: str, role: str, action: str, obj: str,
           reason: str = "", detail: Mapping | None = None) -> Entry:
    """Append one entry chained to the current head (inside the caller's transaction if any).

    MACed with ``db.audit_key`` when the catalog was opened with it; refused
    without it once the chain is keyed (an unkeyed entry would break it).
    """
    detail_text = canonical_detail(detail)
    key = getattr(db, "audit_key", None)
    with db.tx() as c:
        head = c.execute("SELECT seq, hash, mac FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
        if key is None and head is not None and head[2] is not None:
            raise ConfigError("the audit log is keyed but this process has no audit key "
                              "(it sits beside the key ring): nothing was written")
        seq, prev = (head[0] + 1, head[1]) if head else (1, GENESIS)
        h = entry_hash(prev, seq, at_us, actor, role, action, obj, reason, detail_text)
        mac = entry_mac(key, seq, h) if key is not None else None
        c.execute(f"INSERT INTO audit ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                  (seq, at_us, actor, role, action, obj, reason, detail_text, prev, h, mac))
    return Entry(seq, at_us, actor, role, action, obj, reason, detail_text, prev, h, mac)


def entries(db: Catalog, since_seq: int = 0, limit: int = -1) -> Iterator[Entry]:
    """Entries after ``since_seq`` in chain order (at most ``limit``; -1: all)."""
    columns = _COLUMNS
    if not _has_mac_column(db):  # a catalog not yet migrated, opened read-only
        columns = _COLUMNS.replace("mac", "NULL")
    cur = db.conn.execute(
        f"SELECT {columns} FROM audit WHERE seq > ? ORDER BY seq LIMIT ?", (since_seq, limit))
    for r in cur:
        yield Entry(*r)


def _has_mac_column(db: Catalog) -> bool:
    return any(r[1] == "mac" for r in db.conn.execute("PRAGMA table_info(audit)"))


def head(db: Catalog) -> tuple[int, str]:
    r = db.conn.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
    return (r[0], r[1]) if r else (0, GENESIS)


def hash_at(db: Catalog, seq: int) -> str | None:
    """The hash of entry ``seq`` (None if there is no such entry)."""
    r = db.conn.execute("SELECT hash FROM audit WHERE seq = ?", (seq,)).fetchone()
    return r[0] if r else None


def last_mac(db: Catalog) -> tuple[int, str, str] | None:
    """(seq, hash, mac) of the newest entry that carries a MAC, or None."""
    r = db.conn.execute("SELECT seq, hash, mac FROM audit WHERE mac IS NOT NULL "
                        "ORDER BY seq DESC LIMIT 1").fetchone()
    return (r[0], r[1], r[2]) if r else None
