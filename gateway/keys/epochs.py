"""Key epochs: a new KEK on schedule, every kept data key re-wrapped, unused KEKs destroyed.

The video is never touched: only the wrapped data keys in the catalog change
(docs/segment-format.md, "Key ring").
"""

from __future__ import annotations

from ..catalog import audit_log
from ..catalog import segments as seg_sql
from ..clock import US
from ..durations import parse_duration
from ..models import SYSTEM, Actor
from ..runtime import Runtime
from ..vault.keyring import KeyRing, plan_retire, rewrap, rotation_due

#: A KEK superseded this long ago may be destroyed once no data key needs it.
KEK_RETIRE_GRACE_US = 600 * US


async def rotate_keys(svc: Runtime, actor: Actor = SYSTEM, now_us: int | None = None) -> dict:
    """Start a new key epoch: new KEK, re-wrap every kept data key, destroy unused KEKs.

    ``now_us``: the wall time to act at (the key loop passes a reading the clock
    guard trusts); default: the clock's.
    """
    now = svc.clock.now_us() if now_us is None else now_us
    new_id = await svc.cpu(svc.keyring.rotate, now)  # file lock + fsync: off the loop
    # Sealed mode re-wraps only what an unlocked session can open (nothing while locked).
    old = [k for k in svc.keyring.openable_ids() if k != new_id]
    rewrapped = 0
    if old:
        rows = await svc.catalog.run(seg_sql.keys_wrapped_by, old)
        for i in range(0, len(rows), 1000):
            updates = await svc.cpu(_rewrap_batch, svc.keyring, rows[i:i + 1000])
            await svc.catalog.run(seg_sql.replace_wrapped, updates)
            rewrapped += len(updates)
    retired = await retire_keks(svc, now_us=now)
    await svc.catalog.run(audit_log.append, now, actor.name, actor.role, "keys.rotate",
                           f"kek:{new_id}",
                           "key epoch", {"rewrapped": rewrapped, "retired": retired})
    return {"kek": new_id, "rewrapped": rewrapped, "retired": retired}


def _rewrap_batch(keyring: KeyRing, rows: list) -> list[tuple[int, str, bytes]]:
    return [(r.segment_id, *rewrap(keyring, r.kek_id, r.wrapped, key_id=r.key_id))
            for r in rows]


async def retire_keks(svc: Runtime, grace_us: int = KEK_RETIRE_GRACE_US,
                      now_us: int | None = None) -> list[str]:
    in_use = await svc.catalog.run(seg_sql.kek_ids_in_use)
    now = svc.clock.now_us() if now_us is None else now_us
    doomed = plan_retire(svc.keyring.entries(), svc.keyring.current_id, in_use, now, grace_us)
    if doomed:
        await svc.cpu(svc.keyring.retire, doomed)
        await svc.catalog.run(lambda db: db.checkpoint())
    return doomed


async def rotate_if_due(svc: Runtime, now_us: int | None = None) -> dict | None:
    epoch_us = epoch_length_us(svc)
    now = svc.clock.now_us() if now_us is None else now_us
    if rotation_due(svc.keyring.created_us(svc.keyring.current_id), now, epoch_us):
        return await rotate_keys(svc, now_us=now)
    return None


def epoch_length_us(svc: Runtime) -> int:
    return parse_duration(svc.settings.keys.rotate_every) * US
