"""SQL for the hash-chained audit log (hashing and checking: gateway.audit)."""

from __future__ import annotations

from dataclasses import dataclass
import json
from typing import Iterator, Mapping

from ..audit import (CHECKPOINT, GENESIS, REKEYED, Entry, VerifyResult, canonical_detail,
                     checkpoint_detail, entry_hash, entry_mac, read_checkpoint, verify)
from ..errors import ConfigError
from ..models import SYSTEM
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


def newest_marker(db: Catalog) -> Entry | None:
    """The newest checkpoint or rekey entry (one row, by the partial index of migration 0017)."""
    r = db.conn.execute(
        f"SELECT {_COLUMNS} FROM audit WHERE action IN ('{CHECKPOINT}', '{REKEYED}') "
        "ORDER BY seq DESC LIMIT 1").fetchone()
    return Entry(*r) if r else None


@dataclass(frozen=True)
class ChainCheck:
    """A walk of the chain: its result, and where it began."""

    result: VerifyResult
    #: The walk read the entries after this one (0: the whole chain).
    from_seq: int = 0
    #: The checkpoint entry that vouched for entries 1..from_seq (None: full walk).
    checkpoint_seq: int | None = None

    @property
    def verified_upto(self) -> int:
        return self.from_seq + self.result.entries


def check_chain(db: Catalog, key: bytes | None, *, since_checkpoint: bool) -> ChainCheck:
    """Verify the chain: from its first entry, or (``since_checkpoint``) from the newest
    checkpoint, reading only the entries after the one it vouches for.

    A checkpoint is used only with the key (its MAC is what vouches for it) and
    only when no rekey came after it (its MAC is then under a lost key): the
    walk starts at the first entry instead. A checkpoint that fails its MAC is
    reported as the break: someone without the key wrote it.
    """
    after, keyed, cp = (0, GENESIS), False, None
    marker = newest_marker(db) if since_checkpoint and key is not None else None
    if marker is not None and marker.action == CHECKPOINT:
        got = read_checkpoint(marker, key)
        if isinstance(got, str):
            return ChainCheck(VerifyResult(False, 0, GENESIS, marker.seq, got, True, True))
        after, keyed, cp = got, True, marker.seq
    result = verify(entries(db, after[0]), after=after, key=key, keyed=keyed)
    return ChainCheck(result, after[0], cp)


def newest_checkpoint_upto(db: Catalog) -> int:
    """The entry the newest checkpoint vouches up to (0 when there is none; unchecked)."""
    marker = newest_marker(db)
    if marker is None or marker.action != CHECKPOINT:
        return 0
    try:
        return int(json.loads(marker.detail)["verified_seq"])
    except (ValueError, KeyError, TypeError):
        return 0


def append_checkpoint(db: Catalog, now_us: int, seq: int, hash_: str, full: bool) -> Entry:
    """Record that the chain verified up to ``seq``; MACed like every entry (needs the key)."""
    if getattr(db, "audit_key", None) is None:
        raise ConfigError("a checkpoint needs the audit key: nothing was written")
    return append(db, now_us, SYSTEM.name, SYSTEM.role, CHECKPOINT, "audit",
                  "chain verified", checkpoint_detail(seq, hash_, full))
