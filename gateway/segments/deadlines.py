"""Stored deadlines follow the configuration: a policy or retention change moves them.

The rule itself (never below either policy's legal minimum; lengthening never
reaches back) is ``gateway.policy.loading.recompute_deadline``; here it is applied
to the catalog, one audit entry per change (docs/policies.md).
"""

from __future__ import annotations

import logging

from ..catalog import audit_log
from ..catalog import segments as seg_sql
from ..clock import US
from ..errors import GatewayError
from ..models import SYSTEM
from ..policy.loading import load_policy, recompute_deadline
from ..runtime import Runtime

log = logging.getLogger(__name__)


async def reconcile_deadlines(svc: Runtime) -> list[dict]:
    """After a policy or retention change, move stored deadlines (docs/policies.md).

    Shortening applies to stored footage, never below the legal minimum of
    the policy it was recorded under nor of the new one; lengthening applies
    only to footage recorded from now on. Each change is one audit entry.
    """
    changes = []
    now = svc.clock.now_us()
    for cam in svc.settings.cameras:
        new_pol = svc.policies[cam.id]
        new_ret = svc.retention_s(cam)
        for old_policy, offset_us, count in await svc.catalog.run(seg_sql.retention_groups,
                                                                   cam.id):
            floor = new_pol.retention.legal_minimum_s
            try:
                old_pol = new_pol if old_policy == new_pol.id else load_policy(
                    old_policy, svc.settings.policies_dir)
                floor = max(floor, old_pol.retention.legal_minimum_s)
            except GatewayError:
                log.warning("camera %s: footage recorded under policy %r, which is no longer "
                            "installed; using the new policy's minimum", cam.id, old_policy)
            new_offset = recompute_deadline(0, offset_us, offset_us // US, new_ret, floor)
            if new_offset == offset_us and old_policy == new_pol.id:
                continue
            n = await svc.catalog.run(seg_sql.shift_deadlines, cam.id, old_policy, offset_us,
                                       new_offset, new_pol.id)
            change = {"camera": cam.id, "segments": n, "from_policy": old_policy,
                      "to_policy": new_pol.id, "old_retention_s": offset_us // US,
                      "new_retention_s": new_offset // US}
            await svc.catalog.run(audit_log.append, now, SYSTEM.name, SYSTEM.role, "policy.change",
                                   f"camera:{cam.id}", "camera policy or retention changed",
                                   change)
            log.warning("camera %s: %d stored segments moved from %s s to %s s retention "
                        "(policy %s -> %s)", cam.id, n, change["old_retention_s"],
                        change["new_retention_s"], old_policy, new_pol.id)
            changes.append(change)
    if changes and svc.wake_purger is not None:
        svc.wake_purger.set()
    return changes
