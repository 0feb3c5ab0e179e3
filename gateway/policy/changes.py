"""At start-up: one audit entry per camera whose policy-relevant settings changed."""

from __future__ import annotations

import json

from ..audit import canonical_detail
from ..catalog import audit_log
from ..catalog import cameras as cameras_sql
from ..models import SYSTEM
from ..runtime import Runtime


async def audit_config_changes(svc: Runtime) -> list[str]:
    """At start: one audit entry per camera whose policy-relevant settings changed."""
    now = svc.clock.now_us()
    seen = await svc.catalog.run(cameras_sql.last_configs)
    changed = []
    for cam in svc.settings.cameras:
        current = canonical_detail({
            "policy": svc.policies[cam.id].id, "retention_s": svc.retention_s(cam),
            "retention_reason": cam.retention_reason, "zone": cam.zone,
            "purpose": cam.purpose, "audio": cam.audio,
            "masks": [m.model_dump(mode="json") for m in cam.masks]})
        before = seen.get(cam.id)
        if before == current:
            continue

        def tx(db, cam_id=cam.id, before=before, current=current):
            with db.tx():
                audit_log.append(db, now, SYSTEM.name, SYSTEM.role,
                                 "camera.add" if before is None else "camera.change",
                                 f"camera:{cam_id}", "configuration at start-up",
                                 {"before": None if before is None else json.loads(before),
                                  "after": json.loads(current)})
                cameras_sql.save_config(db, cam_id, current, now)
        await svc.catalog.run(tx)
        changed.append(cam.id)
    return changed
