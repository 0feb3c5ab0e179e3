"""Edges of the HTTP layer found by trying (issue 10, 8): bodies in pieces, clients that
leave mid-body, empty camera lists, 405 without Allow."""

from __future__ import annotations

import asyncio
import json
import logging

from aiohttp import web

from conftest import CAMERA_TOKEN, camera, write_policy
from gateway.app import create_app
from gateway.config import parse_settings
from gateway.web.push import UPLOAD_SLOTS
from gateway.clock import iso
from gateway.web.accesslog import PrivateAccessLogger
from holds_env import T0


async def test_a_client_leaving_mid_body_logs_no_traceback_and_no_500(tmp_path, caplog):
    write_policy(tmp_path / "policies")
    settings = parse_settings({"storage": {"path": str(tmp_path / "data")},
                               "server": {"max_concurrent_uploads": 1},
                               "policies_dir": str(tmp_path / "policies"),
                               "cameras": [camera()]})
    app = create_app(settings, run_loops=False)
    # A real runner as `serve` has (the test server cancels handlers on disconnect instead).
    runner = web.AppRunner(app, access_log_class=PrivateAccessLogger)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    caplog.set_level(logging.DEBUG)
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(b"POST /api/v1/cameras/lobby/segments HTTP/1.1\r\nHost: gw\r\n"
                 b"Authorization: Bearer " + CAMERA_TOKEN.encode() + b"\r\n"
                 b"Content-Type: video/mp4\r\nContent-Length: 100000\r\n\r\n" + b"\0" * 10)
    await writer.drain()
    slots = app[UPLOAD_SLOTS]
    while not slots.full():  # the handler is reading the body (its one slot is taken)
        await asyncio.sleep(0)
    writer.close()
    await writer.wait_closed()
    while slots.full():  # the handler has finished with the request
        await asyncio.sleep(0)
    await asyncio.sleep(0)
    await runner.cleanup()
    assert any("left during POST" in r.getMessage() for r in caplog.records), caplog.text
    assert not [r for r in caplog.records if r.exc_info], caplog.text
    assert "Traceback" not in caplog.text
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text
    assert " 500 " not in caplog.text



async def test_a_json_body_that_arrives_in_pieces_is_read_whole(env):
    body = json.dumps({"cameras": ["lobby"], "start": iso(T0 - 120 * 10**6),
                       "end": iso(T0), "incident": "INC-7", "reason": "a fight"}).encode()

    async def pieces():
        yield body[:10]
        # Give the server the first piece on its own (a slow client); the reader must
        # wait for the rest whatever the timing, so this pause only exposes the old bug.
        await asyncio.sleep(0.1)
        yield body[10:]
    r = await env.client.post("/api/v1/holds", data=pieces(),
                              headers={**env.h("sam"), "Content-Type": "application/json"})
    assert r.status == 201, await r.text()


async def test_a_hold_on_no_camera_is_400(env):
    r = await env.client.post("/api/v1/holds", json={
        "cameras": [], "start": iso(T0 - 120 * 10**6), "end": iso(T0), "incident": "INC-7",
        "reason": "a fight"}, headers=env.h("sam"))
    assert r.status == 400
    assert (await r.json())["error"]["code"] == "bad_cameras"


async def test_405_names_the_allowed_methods(env):
    r = await env.client.delete("/api/v1/holds", headers=env.h("dana"))
    assert r.status == 405
    assert set(r.headers["Allow"].split(",")) >= {"GET", "POST"}
