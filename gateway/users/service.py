"""People: add a user (argon2 password), issue personal API tokens, check a login.

Shared by the CLI (``users add``, ``users token``) and, later, the web UI's
login. Every change and every login attempt is an audit entry.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from typing import Awaitable, Callable

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from ..catalog import AsyncCatalog, audit_log
from ..catalog import sessions as sessions_sql, users as users_sql
from ..clock import Clock
from ..errors import BadRequest, Conflict, NotFound, Unauthorized
from ..models import ROLES, Actor

USER_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
#: Passwords shorter than this are refused (NIST SP 800-63B asks for at least 8; we ask more).
MIN_PASSWORD = 12
#: Tokens carry a recognisable prefix so secret scanners can find leaked ones.
TOKEN_PREFIX = "fgw_"

_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash("footage-gateway: no such user")


async def add_user(db: AsyncCatalog, clock: Clock, name: str, role: str,
                   password: str | None, actor: Actor) -> int:
    """Create a user (no password: API tokens only); Conflict if the name is taken."""
    if not USER_NAME.match(name):
        raise BadRequest(f"user name {name!r} must match [a-z0-9][a-z0-9._-]{{0,63}}",
                         code="bad_name")
    if role not in ROLES:
        raise BadRequest(f"role must be one of {', '.join(ROLES)}, not {role!r}", code="bad_role")
    hashed = None
    if password is not None:
        hashed = _hash_password(password)
    now = clock.now_us()

    def tx(c) -> int:
        with c.tx():
            if users_sql.get_user(c, name) is not None:
                raise Conflict(f"user {name!r} already exists", code="exists")
            uid = users_sql.add_user(c, name, role, hashed, now)
            audit_log.append(c, now, actor.name, actor.role, "user.add", f"user:{name}",
                             "", {"role": role, "password": hashed is not None})
        return uid
    return await db.run(tx)


def _hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise BadRequest(f"password must be at least {MIN_PASSWORD} characters",
                         code="weak_password")
    return _hasher.hash(password)  # ~50 ms by design; rare enough to do inline


async def set_password(db: AsyncCatalog, clock: Clock, name: str, password: str,
                       actor: Actor) -> None:
    """Reset a user's password (an admin's act); every session of theirs ends. Audited."""
    hashed = _hash_password(password)
    now = clock.now_us()

    def tx(c) -> None:
        with c.tx():
            row = _existing_user(c, name)
            users_sql.set_password(c, row[0], hashed)
            ended = sessions_sql.delete_for_user(c, name)
            audit_log.append(c, now, actor.name, actor.role, "user.password", f"user:{name}",
                             "", {"role": row[2], "sessions_ended": ended})
    await db.run(tx)


def _existing_user(c, name: str):
    """The user's row, or NotFound."""
    row = users_sql.get_user(c, name)
    if row is None:
        raise NotFound(f"no user {name!r}")
    return row


async def issue_token(db: AsyncCatalog, clock: Clock, name: str, actor: Actor) -> str:
    """A new personal API token for ``name`` (shown once; only its digest is kept)."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = clock.now_us()

    def tx(c) -> None:
        with c.tx():
            row = _existing_user(c, name)
            users_sql.add_token(c, row[0], token, now)
            audit_log.append(c, now, actor.name, actor.role, "user.token", f"user:{name}", "",
                             {"role": row[2]})
    await db.run(tx)
    return token


async def revoke_tokens(db: AsyncCatalog, clock: Clock, name: str, actor: Actor) -> int:
    """Revoke all of a user's API tokens; how many."""
    now = clock.now_us()

    def tx(c) -> int:
        with c.tx():
            row = _existing_user(c, name)
            n = users_sql.revoke_tokens(c, row[0], now)
            audit_log.append(c, now, actor.name, actor.role, "user.revoke_tokens",
                             f"user:{name}", "", {"revoked": n})
        return n
    return await db.run(tx)


def _verify(hashed: str, password: str) -> bool:
    try:
        return _hasher.verify(hashed, password)
    except (VerificationError, InvalidHashError):
        return False


async def login(db: AsyncCatalog, clock: Clock, name: str, password: str,
                cpu: Callable[..., Awaitable] | None = None) -> Actor:
    """Check a password; audited either way. Unauthorized without saying which part was wrong.

    ``cpu`` runs the argon2 check off the event loop (the web sign-in passes the
    runtime's executor); without it the check runs inline (the CLI).
    """
    row = await db.run(users_sql.get_user, name)
    usable = row is not None and row[3] is not None and not row[4]
    # Always run argon2 (on a dummy hash for unknown users) so timing does not
    # tell which user names exist.
    hashed = row[3] if usable else _DUMMY_HASH
    ok = (await cpu(_verify, hashed, password) if cpu else _verify(hashed, password)) and usable
    role = row[2] if row else "unknown"
    # An unknown name may be a password typed in the wrong field: the append-only
    # log keeps only a digest of it.
    who = name if row else "unknown:" + hashlib.sha256(name.encode()).hexdigest()[:16]
    await db.run(audit_log.append, clock.now_us(), who, role,
                 "login" if ok else "login.failed", f"user:{who}", "", {})
    if not ok:
        raise Unauthorized("wrong user name or password")
    return Actor(name, role)
