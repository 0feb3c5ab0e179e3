"""Read-only queries behind the web pages: a camera's timeline, the audit log with filters,
purge receipts. Every list is bounded (``limit``) so a page never loads the whole catalog."""

from __future__ import annotations

from ..audit import Entry
from ..models import PurgeReceipt, Segment
from .core import Catalog
from .segments import _COLS, _seg

_RECEIPT_COLS = ("id, segment_uid, camera, start_us, end_us, deadline_us, destroyed_at_us, "
                 "sha256, reason, released_us")


def newest_segment(db: Catalog, camera: str) -> Segment | None:
    """The most recent kept, readable segment of a camera."""
    r = db.conn.execute(f"SELECT {_COLS} FROM segments WHERE camera = ? AND state = 'stored' "
                        "ORDER BY start_us DESC LIMIT 1", (camera,)).fetchone()
    return _seg(r) if r else None


def camera_segments(db: Catalog, camera: str, start_us: int, end_us: int,
                    limit: int) -> list[Segment]:
    """Kept segments of a camera overlapping [start, end), oldest first, at most ``limit``
    (the newest ``limit`` when there are more)."""
    rows = db.conn.execute(
        f"SELECT {_COLS} FROM segments WHERE camera = ? AND state != 'shredded' "
        "AND start_us < ? AND end_us > ? ORDER BY start_us DESC LIMIT ?",
        (camera, end_us, start_us, limit)).fetchall()
    return [_seg(r) for r in reversed(rows)]


def camera_receipts(db: Catalog, camera: str | None, start_us: int, end_us: int,
                    limit: int) -> list[PurgeReceipt]:
    """Receipts of footage recorded in [start, end) (any camera when None), newest first."""
    where, args = "start_us < ? AND end_us > ?", [end_us, start_us]
    if camera:
        where += " AND camera = ?"
        args.append(camera)
    rows = db.conn.execute(f"SELECT {_RECEIPT_COLS} FROM purge_receipts WHERE {where} "
                           "ORDER BY start_us DESC LIMIT ?", (*args, limit)).fetchall()
    return [PurgeReceipt(**{k: r[k] for k in r.keys()}) for r in rows]


def receipts_destroyed(db: Catalog, camera: str | None, since_us: int, until_us: int,
                       limit: int) -> list[PurgeReceipt]:
    """Receipts of destructions in [since, until), newest first."""
    where, args = "destroyed_at_us >= ? AND destroyed_at_us < ?", [since_us, until_us]
    if camera:
        where += " AND camera = ?"
        args.append(camera)
    rows = db.conn.execute(f"SELECT {_RECEIPT_COLS} FROM purge_receipts WHERE {where} "
                           "ORDER BY destroyed_at_us DESC LIMIT ?", (*args, limit)).fetchall()
    return [PurgeReceipt(**{k: r[k] for k in r.keys()}) for r in rows]


def audit_search(db: Catalog, *, action: str = "", actor: str = "", since_us: int | None = None,
                 until_us: int | None = None, before_seq: int | None = None,
                 limit: int = 100) -> list[Entry]:
    """Audit entries matching the filters, newest first; ``action`` matches a prefix
    ('hold' finds hold.request, hold.approve, ...)."""
    where, args = ["1=1"], []
    if action:
        where.append("(action = ? OR action LIKE ? ESCAPE '\\')")
        args += [action, action.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
                 + ".%"]
    if actor:
        where.append("actor = ?")
        args.append(actor)
    if since_us is not None:
        where.append("at_us >= ?")
        args.append(since_us)
    if until_us is not None:
        where.append("at_us < ?")
        args.append(until_us)
    if before_seq is not None:
        where.append("seq < ?")
        args.append(before_seq)
    rows = db.conn.execute(
        "SELECT seq, at_us, actor, role, action, object, reason, detail, prev_hash, hash "
        f"FROM audit WHERE {' AND '.join(where)} ORDER BY seq DESC LIMIT ?",
        (*args, limit)).fetchall()
    return [Entry(*r) for r in rows]
