"""Deadlines count from the gateway's receipt, whatever the camera's clock says (issue 10, 2)."""

from __future__ import annotations

import pytest

from conftest import auth, camera, write_policy
from gateway.catalog import segments as seg_sql
from gateway.clock import US, FakeClock, iso
from gateway.media import synth
from gateway.segments.purge import purge_once
from gateway.web.appkeys import CATALOG, METRICS, RUNTIME

T0 = 1_700_000_000 * US
CLIP = synth.make_segment(1.0, 5, 160, 96)


def skew_gauge(app, cam: str = "lobby") -> float:
    return app[METRICS].registry.get_sample_value("footage_camera_clock_skew_seconds",
                                                  {"camera": cam})


@pytest.mark.parametrize("skew_s,retention", [
    (-9 * 60, "10m"),     # 9 minutes slow: destroyed 61 s after upload on main
    (-5 * 3600, "72h"),   # 5 h slow under 72 h: destroyed 5 h early on main
    (3600, "10m"),        # local time an hour ahead: refused on main
])
async def test_deadline_counts_from_receipt_whatever_the_camera_clock_says(
        gateway_client, make_settings, tmp_path, skew_s, retention):
    write_policy(tmp_path / "policies", "clocktest", minimum=retention, maximum="30d")
    clock = FakeClock(T0)
    client, app = await gateway_client(make_settings([camera(policy="clocktest")]), clock=clock)
    claimed_start = T0 + skew_s * US - 1 * US  # the camera says it ended skew_s from now
    r = await client.post("/api/v1/cameras/lobby/segments", data=CLIP,
                          headers={**auth(), "X-Segment-Start": iso(claimed_start)})
    assert r.status == 201, await r.text()
    body = await r.json()
    assert body["camera_start"] == iso(claimed_start)
    assert body["end"] == iso(T0)  # the receipt
    assert skew_gauge(app) == pytest.approx(skew_s)
    seg = await app[CATALOG].run(seg_sql.get_segment, body["id"])
    retention_us = seg.deadline_us - T0
    assert retention_us == {"10m": 600, "72h": 72 * 3600}[retention] * US
    svc = app[RUNTIME]

    clock.advance(61)  # where a slow camera's segment used to go
    assert (await purge_once(svc)).destroyed == []
    clock.advance(retention_us / US - 61 - 0.001)
    assert (await purge_once(svc)).destroyed == []
    assert svc.storage.path(body["id"]).exists()
    clock.advance(0.001)
    assert [s.uid for s in (await purge_once(svc)).destroyed] == [body["id"]]


async def test_mp4_creation_time_in_local_time_is_kept_for_display_only(gateway_client):
    # A camera that writes local time (an hour ahead, read as UTC) into the MP4.
    clock = FakeClock(T0)
    client, app = await gateway_client(clock=clock)
    data = synth.make_segment(1.0, 5, 160, 96, start_text=iso(T0 + 3600 * US - US))
    r = await client.post("/api/v1/cameras/lobby/segments", data=data, headers=auth())
    assert r.status == 201, await r.text()
    body = await r.json()
    assert body["end"] == iso(T0) and body["deadline"] == iso(T0 + 5 * US)
    assert body["camera_start"] == iso(T0 + 3600 * US - US)
    assert skew_gauge(app) == pytest.approx(3600)


async def test_no_claimed_time_means_no_skew_and_no_camera_start(gateway_client):
    clock = FakeClock(T0)
    client, app = await gateway_client(clock=clock)
    r = await client.post("/api/v1/cameras/lobby/segments", data=CLIP, headers=auth())
    assert r.status == 201
    body = await r.json()
    assert body["camera_start"] is None and body["end"] == iso(T0)
    assert skew_gauge(app) is None
