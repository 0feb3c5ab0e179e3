"""The catalog records where each segment's start time came from (docs/rtsp.md, "Time")."""

from __future__ import annotations

from conftest import auth, camera
from gateway.catalog import segments as seg_sql
from gateway.clock import iso
from gateway.media import synth
from gateway.web.appkeys import RUNTIME


async def test_pushed_segments_record_their_time_source(gateway_client, make_settings):
    client, app = await gateway_client(make_settings([camera(masks=[])]))
    rt = app[RUNTIME]
    sources = {}
    recent = iso(rt.clock.now_us() - 1_500_000)  # the test policy keeps footage 5 s
    for name, kw, headers in [
        ("header", {"seed": 1}, {"X-Segment-Start": recent}),
        ("container", {"seed": 2, "start_text": recent}, {}),
    ]:
        data = synth.make_segment(1.0, 15, 160, 96, **kw)
        r = await client.post("/api/v1/cameras/lobby/segments", data=data,
                              headers=auth() | headers)
        assert r.status == 201, await r.text()
        sources[name] = await rt.catalog.run(seg_sql.time_source, (await r.json())["id"])
    assert sources == {"header": "header", "container": "container"}
