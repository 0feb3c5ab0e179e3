"""Backups of the catalog that keep holds, receipts and the audit log, and never a data key.

``backup`` copies a consistent snapshot with SQLite's online backup API from a
read-only connection, so a running gateway keeps ingesting and purging (WAL:
the writer never waits; the purge's checkpoint retries, gateway.catalog.core).
The copy then loses every wrapped data key (``DELETE FROM data_keys`` with
``secure_delete``, then ``VACUUM``), because a backup that held them would
defeat crypto-shredding: with the key ring, any segment destroyed after the
backup was taken would become readable again from a copy of its file. The key
ring and the audit key are never in it either.

``restore`` puts a backup in place of a lost catalog. Its segment rows have no
data key, so their footage is gone: each becomes a purge receipt with reason
``LOST_REASON`` in one transaction, with one audit entry; holds, receipts,
exports' records, users and the audit chain come back as they were.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from pathlib import Path

from ..errors import ConfigError
from ..fsutil import fsync_dir
from . import audit_log
from .core import Catalog

LOST_REASON = "lost with the host: restored from a backup, which holds no data keys"
#: Tables holding key material, emptied in every backup. A new table with wrapped
#: keys (say, of another key mode) MUST be added here.
KEY_TABLES = ("data_keys",)


def _private_temp(dest: Path) -> Path:
    """A fresh 0600 temp file beside ``dest`` (never following a symlink)."""
    tmp = dest.with_name(f".{dest.name}.tmp")
    tmp.unlink(missing_ok=True)
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600))
    return tmp


def _publish(tmp: Path, dest: Path) -> None:
    fd = os.open(tmp, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, dest)
    fsync_dir(dest.parent)


def backup(catalog_path: Path, dest: Path) -> dict[str, int]:
    """Copy the catalog at ``catalog_path`` to ``dest`` (0600), without data keys.

    ``dest`` must not exist (nor be a symlink): a backup never overwrites one.
    Returns the row counts the copy holds.
    """
    if os.path.lexists(dest):
        raise ConfigError(f"{dest} already exists; a backup never overwrites a file")
    tmp = _private_temp(dest)
    try:
        src = sqlite3.connect(f"file:{catalog_path}?mode=ro", uri=True)
        out = sqlite3.connect(str(tmp), isolation_level=None)
        try:
            src.backup(out)  # one step: a single consistent snapshot
            out.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
            out.execute("PRAGMA secure_delete=ON")
            for table in KEY_TABLES:
                out.execute(f"DELETE FROM {table}")  # noqa: S608 (fixed names)
            out.execute("VACUUM")  # no freed page keeps a wrapped key
            counts = _counts(out)
        finally:
            src.close()
            out.close()
        _publish(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return counts


def describe(dest: Path) -> dict:
    """What identifies a backup file: its SHA-256, and the audit head its chain ends at."""
    h = hashlib.sha256()
    with open(dest, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    conn = sqlite3.connect(f"file:{dest}?mode=ro", uri=True)
    try:
        row = conn.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
    finally:
        conn.close()
    seq, head = row if row else (0, None)
    return {"sha256": h.hexdigest(), "audit_head_seq": seq, "audit_head_hash": head}


def _counts(conn: sqlite3.Connection) -> dict[str, int]:
    return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]  # noqa: S608 (fixed names)
            for t in ("segments", "data_keys", "purge_receipts", "holds", "audit")}


def copy_into_place(backup_file: Path, catalog_path: Path) -> Path:
    """Copy a backup to a 0600 temp file beside ``catalog_path`` (published by ``publish``)."""
    try:
        src = sqlite3.connect(f"file:{backup_file}?mode=ro", uri=True)
        src.execute("SELECT count(*) FROM audit").fetchone()
    except sqlite3.DatabaseError as err:
        raise ConfigError(f"{backup_file} is not a footage-gateway catalog backup: {err}") from None
    catalog_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = _private_temp(catalog_path)
    out = sqlite3.connect(str(tmp))
    try:
        src.backup(out)
    finally:
        src.close()
        out.close()
    return tmp


def publish(tmp: Path, catalog_path: Path) -> None:
    """Move a restored catalog into place (fsync, rename, fsync dir)."""
    _publish(tmp, catalog_path)


def lose_unkeyed_segments(db: Catalog, now_us: int) -> dict[str, int]:
    """Every segment row becomes a receipt (``LOST_REASON``): its key is not in the backup.

    One transaction with one audit entry; returns the count per camera.
    """
    per_camera: dict[str, int] = {}
    with db.tx() as c:
        if c.execute("SELECT count(*) FROM data_keys").fetchone()[0]:
            raise ConfigError("this catalog holds data keys: it is not a backup (restore "
                              "refuses to treat kept footage as lost)")
        rows = c.execute("SELECT id, uid, camera, start_us, end_us, deadline_us, sha256 "
                         "FROM segments").fetchall()
        for r in rows:
            c.execute("INSERT OR IGNORE INTO purge_receipts (segment_uid, camera, start_us, "
                      "end_us, deadline_us, destroyed_at_us, sha256, reason) "
                      "VALUES (?,?,?,?,?,?,?,?)",
                      (r["uid"], r["camera"], r["start_us"], r["end_us"], r["deadline_us"],
                       now_us, r["sha256"], LOST_REASON))
            c.execute("DELETE FROM segments WHERE id = ?", (r["id"],))
            per_camera[r["camera"]] = per_camera.get(r["camera"], 0) + 1
        audit_log.append(db, now_us, "system", "system", "catalog.restored", "catalog",
                         LOST_REASON, {"segments_lost": per_camera})
    return per_camera
