"""SQL for users and their API tokens."""

from __future__ import annotations

import hashlib

from .core import Catalog


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def add_user(db: Catalog, name: str, role: str, password_hash: str | None, now_us: int) -> int:
    with db.tx() as c:
        cur = c.execute("INSERT INTO users (name, role, password_hash, created_us) VALUES (?,?,?,?)",
                        (name, role, password_hash, now_us))
    return cur.lastrowid


def get_user(db: Catalog, name: str) -> tuple[int, str, str, str | None, bool] | None:
    r = db.conn.execute("SELECT id, name, role, password_hash, disabled FROM users WHERE name = ?",
                        (name,)).fetchone()
    return (r[0], r[1], r[2], r[3], bool(r[4])) if r else None


def add_token(db: Catalog, user_id: int, token: str, now_us: int) -> None:
    with db.tx() as c:
        c.execute("INSERT INTO api_tokens (user_id, digest, created_us) VALUES (?,?,?)",
                  (user_id, token_digest(token), now_us))


def identity_for_token(db: Catalog, token: str, now_us: int) -> tuple[str, str] | None:
    """(name, role) of the enabled user holding this unrevoked token."""
    r = db.conn.execute(
        "SELECT u.name, u.role FROM api_tokens t JOIN users u ON u.id = t.user_id "
        "WHERE t.digest = ? AND t.revoked_us IS NULL AND u.disabled = 0",
        (token_digest(token),)).fetchone()
    return (r[0], r[1]) if r else None


def list_users(db: Catalog) -> list[tuple[str, str, bool, int]]:
    """(name, role, disabled, active tokens) of every user."""
    rows = db.conn.execute(
        "SELECT u.name, u.role, u.disabled, "
        "(SELECT COUNT(*) FROM api_tokens t WHERE t.user_id = u.id AND t.revoked_us IS NULL) "
        "FROM users u ORDER BY u.name").fetchall()
    return [(r[0], r[1], bool(r[2]), r[3]) for r in rows]


def revoke_tokens(db: Catalog, user_id: int, now_us: int) -> int:
    """Revoke every live token of a user; how many were revoked."""
    with db.tx() as c:
        cur = c.execute("UPDATE api_tokens SET revoked_us = ? WHERE user_id = ? "
                        "AND revoked_us IS NULL", (now_us, user_id))
    return cur.rowcount


def set_password(db: Catalog, user_id: int, password_hash: str) -> None:
    with db.tx() as c:
        c.execute("UPDATE users SET password_hash = ? WHERE id = ?", (password_hash, user_id))
