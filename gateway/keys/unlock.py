"""Sealed mode's unlock session: who may unlock, for how long, and what is audited.

The epoch private keys live only in this process's memory (``SealedKeys.session``),
from an unlock until one of: an explicit lock, ``keys.unlock_idle`` without a
use, ``keys.unlock_max`` after the unlock, or the gateway stopping. With
``keys.unlock_quorum = M`` the session starts once M distinct directors have
each given their passphrase within one idle period; until then their shares
wait in memory (``SealedKeys.pending``) under the same idle bound.

Every unlock, share, lock (explicit or automatic) and failed or refused attempt
is an audit entry. Wrong passphrases are rate limited per director with an
exponential back-off stored in the catalog, so a restart does not reset it.
The passphrase itself is never logged, audited or kept.
"""

from __future__ import annotations

import asyncio
import logging
import weakref

from ..catalog import audit_log, unlock as unlock_sql
from ..clock import US, iso
from ..errors import Conflict, Forbidden, Locked, RateLimited
from ..holds.access import KEY_HOLDERS
from ..models import SYSTEM, Actor
from ..runtime import Runtime
from ..vault.sealed import WrongPassphrase, open_director_key
from ..vault.sealed_store import LOCKED_MESSAGE, SealedKeys, Session

log = logging.getLogger(__name__)

UNLOCK_ROLES = KEY_HOLDERS
#: The longest a director waits after repeated wrong passphrases (15 minutes).
BACKOFF_CAP_S = 900
#: How often the server checks for a session past its limits (gateway.loops; exact on use anyway).
EXPIRY_CHECK_S = 15.0

_attempt_locks: "weakref.WeakKeyDictionary[SealedKeys, asyncio.Lock]" = weakref.WeakKeyDictionary()


def backoff_s(failures: int) -> int:
    """Seconds a director must wait after ``failures`` wrong passphrases in a row: 1, 2, 4 ... 900."""
    return 0 if failures <= 0 else min(2 ** (failures - 1), BACKOFF_CAP_S)


def sealed_keys(svc: Runtime) -> SealedKeys | None:
    return svc.keyring if isinstance(svc.keyring, SealedKeys) else None


def _require_sealed(svc: Runtime) -> SealedKeys:
    keys = sealed_keys(svc)
    if keys is None:
        raise Conflict("keys.mode is ring: there is no sealed key to unlock or lock",
                       code="not_sealed")
    return keys


async def _audit(svc: Runtime, actor: Actor, action: str, detail: dict, reason: str = "") -> None:
    await svc.catalog.run(audit_log.append, svc.clock.now_us(), actor.name, actor.role, action,
                          "keys:sealed", reason, detail)


async def require_unlocked(svc: Runtime) -> None:
    """Before viewing or exporting: Locked (423) unless sealed mode's key is unlocked."""
    keys = sealed_keys(svc)
    if keys is None:
        return
    await expire(svc)
    if not keys.can_unwrap:
        raise Locked(LOCKED_MESSAGE)
    keys.session.last_used_us = svc.clock.now_us()


async def expire(svc: Runtime) -> str | None:
    """Lock a session past its idle or absolute limit, and drop stale shares; audited."""
    keys = sealed_keys(svc)
    if keys is None:
        return None
    now = svc.clock.now_us()
    stale = [name for name, (_, at) in keys.pending.items() if now >= at + keys.idle_us]
    for name in stale:
        del keys.pending[name]
    if stale:
        await _audit(svc, SYSTEM, "keys.lock", {"why": "shares_expired", "directors": stale})
    s = keys.session
    if s is None or s.live(now):
        return None
    why = s.expiry_reason(now) or "idle"
    keys.session = None
    svc.metrics.key_unlocked.set(0)
    await _audit(svc, SYSTEM, "keys.lock", {"why": why, "unlocked_by": list(s.directors),
                                            "unlocked_at": iso(s.unlocked_us)})
    log.info("sealed key locked automatically (%s)", why)
    return why


async def unlock(svc: Runtime, actor: Actor, passphrase: str) -> dict:
    """Give this director's passphrase; unlocks once ``unlock_quorum`` directors have."""
    keys = _require_sealed(svc)
    if actor.role not in UNLOCK_ROLES:
        raise Forbidden(f"role {actor.role!r} may not unlock the key (needs: director)")
    lock = _attempt_locks.setdefault(keys, asyncio.Lock())
    async with lock:  # one attempt at a time, so the back-off cannot be raced
        return await _unlock(svc, keys, actor, passphrase)


async def _unlock(svc: Runtime, keys: SealedKeys, actor: Actor, passphrase: str) -> dict:
    await expire(svc)
    now = svc.clock.now_us()
    failures, last_us = await svc.catalog.run(unlock_sql.failures, actor.name)
    wait_us = last_us + backoff_s(failures) * US - now
    if failures and wait_us > 0:
        retry = -(-wait_us // US)
        await _audit(svc, actor, "keys.unlock_refused",
                     {"failures": failures, "retry_after_s": retry})
        raise RateLimited(f"too many wrong passphrases for {actor.name}: try again in "
                          f"{retry} s", retry_after_s=retry)
    director = await svc.cpu(keys.director, actor.name)
    if director is None:
        raise Conflict(f"director {actor.name} has no sealed key: run `footage-gateway keys "
                       f"enroll --director {actor.name} --config ...`", code="not_enrolled")
    try:
        private = await svc.cpu(open_director_key, director, passphrase)
    except WrongPassphrase:
        count = await svc.catalog.run(unlock_sql.record_failure, actor.name, now)
        svc.metrics.unlock_failures.inc()
        await _audit(svc, actor, "keys.unlock_failed",
                     {"failures": count, "retry_after_s": backoff_s(count)})
        log.warning("wrong sealed-key passphrase for director %s (%d in a row)", actor.name, count)
        raise WrongPassphrase(f"wrong passphrase for director {actor.name}; the next attempt is "
                              f"allowed in {backoff_s(count)} s") from None
    shares = await svc.cpu(keys.shares_of, actor.name, private)
    del private
    if failures:
        await svc.catalog.run(unlock_sql.clear_failures, actor.name)
    if not shares:
        raise Conflict(f"director {actor.name} holds no share of any epoch (enrolled after "
                       "they were made): another director must unlock", code="no_share")
    keys.pending[actor.name] = (shares, now)
    if len(keys.pending) < keys.quorum:
        await _audit(svc, actor, "keys.unlock_share",
                     {"have": len(keys.pending), "need": keys.quorum})
        return status(svc)
    given = {name: s for name, (s, _) in keys.pending.items()}
    directors = tuple(sorted(given))
    keys.pending.clear()
    rebuilt = await svc.cpu(keys.rebuild, given)
    keys.session = Session(rebuilt, directors, now, now, keys.idle_us, keys.max_us)
    svc.metrics.key_unlocked.set(1)
    missing = [e for e in keys.ids() if e not in rebuilt]
    await _audit(svc, actor, "keys.unlock",
                 {"directors": list(directors), "epochs": len(rebuilt), "missing_epochs": missing,
                  "locks_by": iso(keys.session.locks_at_us())})
    log.info("sealed key unlocked by %s", ", ".join(directors))
    return status(svc)


async def lock(svc: Runtime, actor: Actor, why: str = "explicit") -> dict:
    """Drop the unlocked key (and any pending shares) from memory; audited."""
    keys = _require_sealed(svc)
    if actor.role not in UNLOCK_ROLES and actor != SYSTEM:
        raise Forbidden(f"role {actor.role!r} may not lock the key (needs: director)")
    s = keys.session
    was = "unlocked" if s is not None else "pending" if keys.pending else "locked"
    keys.lock()
    svc.metrics.key_unlocked.set(0)
    await _audit(svc, actor, "keys.lock", {"why": why, "was": was})
    return status(svc)


def status(svc: Runtime) -> dict:
    """What a caller may know: mode, locked or not, until when, epochs; never a key."""
    keys = sealed_keys(svc)
    if keys is None:
        return {"mode": "ring", "state": "ring"}
    now = svc.clock.now_us()
    s = keys.session
    out = {"mode": "sealed", "quorum": keys.quorum, "epochs": len(keys.ids()),
           "current_epoch": keys.current_id,
           "directors_enrolled": [d.name for d in keys.directors()]}
    if s is not None and s.live(now):
        out |= {"state": "unlocked", "unlocked_by": list(s.directors),
                "unlocked_at": iso(s.unlocked_us), "locks_at": iso(s.locks_at_us()),
                "epochs_unlocked": len(s.keys)}
    elif keys.pending:
        out |= {"state": "pending", "given_by": sorted(keys.pending),
                "need": keys.quorum - len(keys.pending)}
    else:
        out |= {"state": "locked"}
    return out


async def lock_on_shutdown(svc: Runtime) -> None:
    """The server is stopping: drop an unlocked key (or pending shares), audited."""
    keys = sealed_keys(svc)
    if keys is not None and (keys.session is not None or keys.pending):
        await lock(svc, SYSTEM, why="shutdown")
