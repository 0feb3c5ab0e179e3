"""SQL for export records and the chain-of-custody audit entries they carry."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Sequence

from ..audit import Entry
from .core import Catalog


@dataclass(frozen=True)
class ExportRow:
    id: int
    hold_id: int
    state: str
    cameras: tuple[str, ...]
    start_us: int
    end_us: int
    ground: str
    reference: str
    recipient: str
    reason: str
    decided_by: str
    created_us: int
    expires_us: int
    recipient_name: str = ""
    counsel: str = ""
    clips: int | None = None
    bytes: int | None = None
    manifest_sha256: str | None = None
    deleted_us: int | None = None


_COLS = ("id, hold_id, state, cameras, start_us, end_us, ground, reference, recipient, reason, "
         "decided_by, created_us, expires_us, recipient_name, counsel, clips, bytes, manifest_sha256, "
         "deleted_us")


def _row(r) -> ExportRow:
    d = {k: r[k] for k in r.keys()}
    d["cameras"] = tuple(json.loads(d["cameras"]))
    return ExportRow(**d)


def insert_export(db: Catalog, e: ExportRow) -> int:
    with db.tx() as c:
        cur = c.execute(
            "INSERT INTO exports (hold_id, state, cameras, start_us, end_us, ground, reference, "
            "recipient, reason, decided_by, created_us, expires_us, recipient_name, counsel) "
            "VALUES (?, 'building', ?,?,?,?,?,?,?,?,?,?,?,?)",
            (e.hold_id, json.dumps(list(e.cameras)), e.start_us, e.end_us, e.ground, e.reference,
             e.recipient, e.reason, e.decided_by, e.created_us, e.expires_us, e.recipient_name,
             e.counsel))
    return cur.lastrowid


def get_export(db: Catalog, export_id: int) -> ExportRow | None:
    r = db.conn.execute(f"SELECT {_COLS} FROM exports WHERE id = ?", (export_id,)).fetchone()
    return _row(r) if r else None


def exports_of_hold(db: Catalog, hold_id: int) -> list[ExportRow]:
    return [_row(r) for r in db.conn.execute(
        f"SELECT {_COLS} FROM exports WHERE hold_id = ? ORDER BY id", (hold_id,))]


def mark_ready(db: Catalog, export_id: int, clips: int, nbytes: int, manifest_sha256: str) -> None:
    with db.tx() as c:
        c.execute("UPDATE exports SET state='ready', clips=?, bytes=?, manifest_sha256=? "
                  "WHERE id=? AND state='building'", (clips, nbytes, manifest_sha256, export_id))


def mark_state(db: Catalog, export_id: int, state: str, now_us: int | None = None) -> None:
    """``failed`` or ``deleted`` (the package file is gone)."""
    with db.tx() as c:
        c.execute("UPDATE exports SET state=?, deleted_us=COALESCE(?, deleted_us) WHERE id=?",
                  (state, now_us, export_id))


def with_files(db: Catalog, before_us: int | None = None) -> list[ExportRow]:
    """Exports whose package may still be on disk (building or ready), optionally expired ones."""
    sql = f"SELECT {_COLS} FROM exports WHERE state IN ('building', 'ready')"
    args: tuple = ()
    if before_us is not None:
        sql += " AND expires_us <= ?"
        args = (before_us,)
    return [_row(r) for r in db.conn.execute(sql + " ORDER BY id", args)]


def custody_entries(db: Catalog, objects: Sequence[str]) -> list[Entry]:
    """Audit entries about these objects (e.g. ``hold:3``, ``export:7``), in chain order."""
    if not objects:
        return []
    marks = ",".join("?" * len(objects))
    rows = db.conn.execute(
        "SELECT seq, at_us, actor, role, action, object, reason, detail, prev_hash, hash "
        f"FROM audit WHERE object IN ({marks}) ORDER BY seq", tuple(objects)).fetchall()
    return [Entry(*r) for r in rows]


def created_between(db: Catalog, since_us: int, until_us: int) -> list[ExportRow]:
    """Exports created in [since, until), oldest first (for the privacy-audit report)."""
    return [_row(r) for r in db.conn.execute(
        f"SELECT {_COLS} FROM exports WHERE created_us >= ? AND created_us < ? ORDER BY id",
        (since_us, until_us))]
