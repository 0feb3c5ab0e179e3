"""SQL for web sign-in sessions (the decisions are in gateway.users.sessions)."""

from __future__ import annotations

from dataclasses import dataclass

from .core import Catalog
from .users import token_digest


@dataclass(frozen=True)
class SessionRow:
    digest: str
    name: str
    role: str
    csrf: str
    created_us: int
    last_seen_us: int
    disabled: bool


def create(db: Catalog, session_id: str, user_name: str, csrf: str, now_us: int) -> None:
    """Store a new session for an existing user (only the id's digest is kept)."""
    with db.tx() as c:
        c.execute("INSERT INTO sessions (digest, user_id, csrf, created_us, last_seen_us) "
                  "SELECT ?, id, ?, ?, ? FROM users WHERE name = ?",
                  (token_digest(session_id), csrf, now_us, now_us, user_name))


def get(db: Catalog, session_id: str) -> SessionRow | None:
    r = db.conn.execute(
        "SELECT s.digest, u.name, u.role, s.csrf, s.created_us, s.last_seen_us, u.disabled "
        "FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.digest = ?",
        (token_digest(session_id),)).fetchone()
    return SessionRow(r[0], r[1], r[2], r[3], r[4], r[5], bool(r[6])) if r else None


def touch(db: Catalog, digest: str, now_us: int) -> None:
    with db.tx() as c:
        c.execute("UPDATE sessions SET last_seen_us = ? WHERE digest = ? AND last_seen_us < ?",
                  (now_us, digest, now_us))


def delete(db: Catalog, digest: str) -> bool:
    with db.tx() as c:
        return c.execute("DELETE FROM sessions WHERE digest = ?", (digest,)).rowcount == 1


def delete_for_user(db: Catalog, user_name: str) -> int:
    """End every session of a user (password reset); how many."""
    with db.tx() as c:
        return c.execute("DELETE FROM sessions WHERE user_id = (SELECT id FROM users WHERE "
                         "name = ?)", (user_name,)).rowcount


def delete_expired(db: Catalog, idle_before_us: int, created_before_us: int) -> int:
    """Drop sessions past their idle or absolute timeout; how many."""
    with db.tx() as c:
        return c.execute("DELETE FROM sessions WHERE last_seen_us < ? OR created_us < ?",
                         (idle_before_us, created_before_us)).rowcount


def count_for_user(db: Catalog, user_name: str) -> int:
    return db.conn.execute("SELECT COUNT(*) FROM sessions s JOIN users u ON u.id = s.user_id "
                           "WHERE u.name = ?", (user_name,)).fetchone()[0]
