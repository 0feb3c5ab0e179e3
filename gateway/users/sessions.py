"""Web sign-in: password check, login rate limits and server-side sessions.

The password check is ``gateway.users.service.login`` (argon2, the same message and the
same work for an unknown user and a wrong password). A session is a 256-bit
random id in an HttpOnly, SameSite=Strict cookie; the catalog keeps only its
SHA-256 digest, the CSRF token of its forms and two instants, so it ends at
logout, after ``sessions.idle_timeout`` unused or ``sessions.absolute_timeout``
after sign-in, whichever comes first. Time comes from the injected clock.
"""

from __future__ import annotations

import secrets
from collections import OrderedDict, deque
from dataclasses import dataclass

from ..catalog import AsyncCatalog, audit_log
from ..catalog import sessions as sessions_sql
from ..catalog.users import token_digest
from ..clock import US, Clock
from .settings import SessionSettings
from ..errors import RateLimited, Unauthorized
from ..models import Actor
from . import service as users

#: How many distinct user names and addresses the limiter remembers (memory stays bounded;
#: the oldest is forgotten first).
MAX_TRACKED = 10_000
#: A session's last-seen time is written at most this often (one write per request is waste).
TOUCH_EVERY_US = 30 * US


class LoginLimiter:
    """Failed sign-ins per key ("user:NAME", "addr:IP") within a sliding window; pure but for
    its memory (instants are passed in)."""

    def __init__(self, attempts: int, window_s: int, max_tracked: int = MAX_TRACKED) -> None:
        self.attempts, self.window_us, self.max_tracked = attempts, window_s * US, max_tracked
        self._fails: OrderedDict[str, deque[int]] = OrderedDict()

    def _recent(self, key: str, now_us: int) -> deque[int]:
        q = self._fails.get(key)
        if q is None:
            return deque()
        while q and q[0] <= now_us - self.window_us:
            q.popleft()
        if not q:
            del self._fails[key]
        return q

    def retry_after_s(self, keys: list[str], now_us: int) -> int | None:
        """Seconds until one more attempt is allowed for all ``keys``; None: allowed now."""
        wait = 0
        for key in keys:
            q = self._recent(key, now_us)
            if len(q) >= self.attempts:
                # The attempt that falls out of the window first frees one slot.
                oldest = q[len(q) - self.attempts]
                wait = max(wait, -(-(oldest + self.window_us - now_us) // US))
        return wait or None

    def failed(self, keys: list[str], now_us: int) -> None:
        for key in keys:
            q = self._fails.pop(key, None) or deque(maxlen=self.attempts)
            q.append(now_us)
            self._fails[key] = q  # most recent last
        while len(self._fails) > self.max_tracked:
            self._fails.popitem(last=False)

    def forget(self, key: str) -> None:
        self._fails.pop(key, None)


@dataclass(frozen=True)
class Session:
    """A signed-in person: who, the session's CSRF token, and its id's digest."""

    actor: Actor
    csrf: str
    digest: str


def limiter_keys(name: str, address: str) -> list[str]:
    return [f"user:{name.strip().lower()[:64]}", f"addr:{address}"]


async def sign_in(db: AsyncCatalog, clock: Clock, limiter: LoginLimiter, name: str,
                  password: str, address: str, cpu=None) -> tuple[str, Session]:
    """A new session (its id for the cookie, and the Session); RateLimited or Unauthorized.

    Unknown users count against the name as wrong passwords do, so the limiter
    does not tell which names exist either.
    """
    keys = limiter_keys(name, address)
    wait = limiter.retry_after_s(keys, clock.now_us())
    if wait is not None:
        raise RateLimited(f"too many failed sign-ins: try again in {wait} s",
                          retry_after_s=wait)
    try:
        actor = await users.login(db, clock, name.strip(), password, cpu)
    except Unauthorized:
        limiter.failed(keys, clock.now_us())
        raise
    limiter.forget(keys[0])
    session_id, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    await db.run(sessions_sql.create, session_id, actor.name, csrf, clock.now_us())
    return session_id, Session(actor, csrf, token_digest(session_id))


async def resolve(db: AsyncCatalog, clock: Clock, settings: SessionSettings,
                  session_id: str) -> Session | None:
    """The live session behind a cookie value, or None (unknown, ended, timed out, disabled)."""
    if not session_id or len(session_id) > 128:
        return None
    row = await db.run(sessions_sql.get, session_id)
    if row is None:
        return None
    now = clock.now_us()
    if (row.disabled or now - row.last_seen_us >= settings.idle_s * US
            or now - row.created_us >= settings.absolute_s * US):
        await db.run(sessions_sql.delete, row.digest)
        return None
    if now - row.last_seen_us >= TOUCH_EVERY_US:
        await db.run(sessions_sql.touch, row.digest, now)
    return Session(Actor(row.name, row.role), row.csrf, row.digest)


async def sign_out(db: AsyncCatalog, clock: Clock, session: Session) -> None:
    """End a session; audited."""
    def tx(c) -> None:
        with c.tx():
            sessions_sql.delete(c, session.digest)
            audit_log.append(c, clock.now_us(), session.actor.name, session.actor.role,
                             "logout", f"user:{session.actor.name}", "", {})
    await db.run(tx)


async def expire_sessions(db: AsyncCatalog, clock: Clock, settings: SessionSettings) -> int:
    """Drop every timed-out session (run from the stats loop); how many."""
    now = clock.now_us()
    return await db.run(sessions_sql.delete_expired, now - settings.idle_s * US,
                        now - settings.absolute_s * US)


def csrf_ok(session: Session, supplied: str | None) -> bool:
    return bool(supplied) and secrets.compare_digest(session.csrf, supplied)
