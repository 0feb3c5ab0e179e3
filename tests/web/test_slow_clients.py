"""One camera's slow uploads cannot starve the others (issue 10, finding 4).

Raw sockets, as an attacker would: a request that declares a body and sends a
fraction of it holds its slot only until ``server.body_timeout_s``.
"""

from __future__ import annotations

import asyncio

from conftest import CAMERA_TOKEN, auth, camera
from gateway.config import parse_settings
from gateway.media import synth
from gateway.web.push import BODY_BYTES, CAMERA_SLOTS, UPLOAD_SLOTS


async def until(cond) -> None:
    for _ in range(500):
        if cond():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the server did not get there")


async def slow_upload(client, cam: str = "lobby"):
    """Declare 1000 bytes, send 10, keep the connection open."""
    reader, writer = await asyncio.open_connection(client.server.host, client.server.port)
    writer.write(f"POST /api/v1/cameras/{cam}/segments HTTP/1.1\r\nHost: gw\r\n"
                 f"Authorization: Bearer {CAMERA_TOKEN}\r\nContent-Type: video/mp4\r\n"
                 "Content-Length: 1000\r\n\r\n".encode() + b"\0" * 10)
    await writer.drain()
    return reader, writer


async def status_of(reader) -> int:
    return int((await reader.readline()).split()[1])


async def test_four_slow_uploads_from_one_camera_do_not_block_another(gateway_client,
                                                                      make_settings):
    base = make_settings()
    settings = parse_settings({**base.model_dump(mode="python", exclude={"cameras", "server"}),
                               "server": {"max_concurrent_uploads": 4, "body_timeout_s": 0.5},
                               "cameras": [camera("lobby"), camera("desk")]})
    client, app = await gateway_client(settings)
    conns = [await slow_upload(client) for _ in range(4)]
    await until(lambda: app[CAMERA_SLOTS]["lobby"].full())
    # While lobby's slow bodies hang, the desk camera is served.
    r = await client.post("/api/v1/cameras/desk/segments", data=synth.make_segment(1.0, 5, 160, 96),
                          headers=auth())
    assert r.status == 201, await r.text()
    # Two were refused at once (lobby's share), two time out and free their slots.
    statuses = sorted([await status_of(reader) for reader, _ in conns])
    assert statuses == [408, 408, 503, 503]
    for _, writer in conns:
        writer.close()
    await until(lambda: app[UPLOAD_SLOTS].used == 0 and app[BODY_BYTES].used == 0)
    r = await client.post("/api/v1/cameras/lobby/segments",
                          data=synth.make_segment(1.0, 5, 160, 96, seed=3), headers=auth())
    assert r.status == 201, await r.text()


async def test_a_body_slower_than_the_timeout_gets_408_with_a_clear_message(gateway_client,
                                                                          make_settings):
    base = make_settings()
    settings = parse_settings({**base.model_dump(mode="python", exclude={"server"}),
                               "server": {"body_timeout_s": 0.3}})
    client, app = await gateway_client(settings)
    reader, writer = await slow_upload(client)
    assert await status_of(reader) == 408
    head = (await reader.readuntil(b"\r\n\r\n")).decode().lower()
    length = int(head.split("content-length:")[1].split()[0])
    body = await reader.readexactly(length)
    writer.close()
    assert b"body_timeout" in body and b"server.body_timeout_s" in body
    await until(lambda: app[UPLOAD_SLOTS].used == 0)  # its slot is free again
