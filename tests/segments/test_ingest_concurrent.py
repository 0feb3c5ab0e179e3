"""Four identical uploads at the same moment store one copy (issue 10, 8).

A camera whose request timed out retries on four connections; each used to
pass the "already stored?" check before any had committed, and four copies
were kept (four files, four keys, four deadlines).
"""

from __future__ import annotations

import asyncio
import sqlite3

import pytest

from conftest import auth, camera, write_policy
from gateway.catalog import Catalog
from gateway.clock import US, iso
from gateway.config import parse_settings
from gateway.media import synth
from gateway.web.appkeys import RUNTIME


async def test_four_identical_uploads_at_once_store_one_copy(gateway_client, fake_clock,
                                                             tmp_path):
    write_policy(tmp_path / "policies")
    settings = parse_settings({"storage": {"path": str(tmp_path / "data")},
                               "server": {"max_uploads_per_camera": 4},  # all four admitted
                               "policies_dir": str(tmp_path / "policies"),
                               "cameras": [camera()]})
    client, app = await gateway_client(settings, clock=fake_clock)
    data = synth.make_segment(1.0, 15, 320, 180)
    headers = {**auth(), "X-Segment-Start": iso(fake_clock.now_us() - US)}
    answers = await asyncio.gather(*(client.post("/api/v1/cameras/lobby/segments", data=data,
                                                 headers=headers) for _ in range(4)))
    assert sorted(r.status for r in answers) == [200, 200, 200, 201]
    ids = {(await r.json())["id"] for r in answers}
    assert len(ids) == 1
    svc = app[RUNTIME]
    assert len(list(svc.storage.uids())) == 1
    rows = await svc.catalog.run(lambda db: db.conn.execute(
        "SELECT count(*) FROM segments").fetchone()[0])
    assert rows == 1


def test_the_catalog_refuses_a_second_row_for_the_same_upload(tmp_path):
    db = Catalog.open(tmp_path / "catalog.sqlite3")
    ins = ("INSERT INTO segments (uid, camera, policy, start_us, end_us, deadline_us, bytes, "
           "sha256, frames, width, height, masked, created_us, source_sha256) "
           "VALUES (?, 'lobby', 'p', 0, 1, 2, 1, 'x', 1, 2, 2, 0, 0, 'same')")
    db.conn.execute(ins, ("a" * 32,))
    with pytest.raises(sqlite3.IntegrityError):
        db.conn.execute(ins, ("b" * 32,))
    db.close()
