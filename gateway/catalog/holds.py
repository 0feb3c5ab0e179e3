"""SQL for preservation holds (the state machine itself is pure: gateway.holds.rules)."""

from __future__ import annotations

import json

from ..models import LIVE_HOLD_STATES, Hold
from .core import Catalog

_COLS = ("id, state, cameras, start_us, end_us, incident, reason, requested_by, requested_us, "
         "grace_until_us, decided_by, decided_us, review_us, court_order_ref, ended_us, note")


def _hold(r) -> Hold:
    d = {k: r[k] for k in r.keys()}
    d["cameras"] = tuple(json.loads(d["cameras"]))
    return Hold(**d)


def live_holds(db: Catalog) -> list[Hold]:
    """Holds that may still preserve footage (requested or active)."""
    marks = ",".join("?" * len(LIVE_HOLD_STATES))
    rows = db.conn.execute(f"SELECT {_COLS} FROM holds WHERE state IN ({marks})",
                           LIVE_HOLD_STATES).fetchall()
    return [_hold(r) for r in rows]


def get_hold(db: Catalog, hold_id: int) -> Hold | None:
    r = db.conn.execute(f"SELECT {_COLS} FROM holds WHERE id = ?", (hold_id,)).fetchone()
    return _hold(r) if r else None


def list_holds(db: Catalog) -> list[Hold]:
    return [_hold(r) for r in db.conn.execute(f"SELECT {_COLS} FROM holds ORDER BY id")]


def insert_hold(db: Catalog, h: Hold) -> int:
    with db.tx() as c:
        cur = c.execute(
            "INSERT INTO holds (state, cameras, start_us, end_us, incident, reason, requested_by, "
            "requested_us, grace_until_us) VALUES (?,?,?,?,?,?,?,?,?)",
            (h.state, json.dumps(list(h.cameras)), h.start_us, h.end_us, h.incident, h.reason,
             h.requested_by, h.requested_us, h.grace_until_us),
        )
    return cur.lastrowid


def save_hold(db: Catalog, h: Hold) -> None:
    """Write a hold's mutable fields (after a pure transition)."""
    with db.tx() as c:
        c.execute(
            "UPDATE holds SET state=?, decided_by=?, decided_us=?, review_us=?, court_order_ref=?, "
            "ended_us=?, note=? WHERE id=?",
            (h.state, h.decided_by, h.decided_us, h.review_us, h.court_order_ref, h.ended_us,
             h.note, h.id),
        )


def hold_counts(db: Catalog) -> dict[str, int]:
    return {r[0]: r[1] for r in db.conn.execute("SELECT state, COUNT(*) FROM holds GROUP BY state")}


def destroyed_in_window(db: Catalog, cameras: list[str], start_us: int, end_us: int) -> int:
    """How many segments of these cameras overlapping [start, end) were already destroyed."""
    if not cameras:
        return 0
    marks = ",".join("?" * len(cameras))
    args = (*cameras, end_us, start_us)
    return db.conn.execute(
        f"SELECT (SELECT COUNT(*) FROM purge_receipts WHERE camera IN ({marks}) "
        "AND start_us < ? AND end_us > ?) + (SELECT COUNT(*) FROM segments WHERE "
        f"state = 'shredded' AND camera IN ({marks}) AND start_us < ? AND end_us > ?)",
        args + args).fetchone()[0]


def holds_covering(db: Catalog, camera: str, start_us: int, end_us: int) -> list[Hold]:
    """Every hold, in any state, naming this camera with a window overlapping [start, end)."""
    rows = db.conn.execute(
        f"SELECT {_COLS} FROM holds WHERE start_us < ? AND end_us > ? AND EXISTS "
        "(SELECT 1 FROM json_each(holds.cameras) WHERE json_each.value = ?)",
        (end_us, start_us, camera)).fetchall()
    return [_hold(r) for r in rows]
