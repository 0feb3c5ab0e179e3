"""SQL for the last-seen configuration of each camera."""

from __future__ import annotations

from .core import Catalog


def last_configs(db: Catalog) -> dict[str, str]:
    return {r[0]: r[1] for r in db.conn.execute("SELECT camera, config FROM camera_config")}


def save_config(db: Catalog, camera: str, config: str, now_us: int) -> None:
    with db.tx() as c:
        c.execute("INSERT INTO camera_config (camera, config, seen_us) VALUES (?,?,?) "
                  "ON CONFLICT (camera) DO UPDATE SET config = excluded.config, "
                  "seen_us = excluded.seen_us", (camera, config, now_us))
