"""The log holds no secrets and no forged lines (issue 10, 7).

Raw sockets, because a well-behaved client library will not send what an
attacker sends: an Authorization header ending in a control byte or a bare
``\\r`` (aiohttp refuses it with 400 and used to log the whole header line,
token included, at ERROR), and a path whose ``%0A`` decodes to a newline.
"""

from __future__ import annotations

import asyncio
import logging

import pytest

from gateway.app import create_app
from gateway.web.accesslog import PrivateAccessLogger

SECRET = "fgw_SECRET_TOKEN_VALUE_0123456789"


async def raw(server, request: bytes) -> bytes:
    reader, writer = await asyncio.open_connection(server.host, server.port)
    writer.write(request)
    await writer.drain()
    answer = await reader.read(4096)
    writer.close()
    return answer


@pytest.fixture
async def server(aiohttp_server, make_settings):
    app = create_app(make_settings(), run_loops=False)
    return await aiohttp_server(app, access_log_class=PrivateAccessLogger)


@pytest.mark.parametrize("ending", [b"\x01", b"\r", b"\x1b[2J", b"\x7f"])
async def test_a_malformed_authorization_header_is_400_and_its_value_is_not_logged(
        server, caplog, ending):
    caplog.set_level(logging.DEBUG)
    answer = await raw(server, b"GET /api/v1/holds HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer "
                       + SECRET.encode() + ending + b"\r\n\r\n")
    assert answer.startswith(b"HTTP/1.0 400") or answer.startswith(b"HTTP/1.1 400")
    assert SECRET not in caplog.text
    assert SECRET[4:20] not in caplog.text
    refused = [r for r in caplog.records if "malformed HTTP request" in r.getMessage()]
    assert refused and all(r.exc_info is None for r in refused)


async def test_a_percent_encoded_newline_in_the_path_cannot_forge_a_log_line(server, caplog):
    caplog.set_level(logging.DEBUG)
    forged = b"127.0.0.1 \"POST /api/v1/holds/1/approve\" 200"
    await raw(server, b"GET /notice%0A" + forged.replace(b" ", b"%20").replace(b'"', b"%22")
              + b" HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n")
    lines = caplog.text.splitlines()
    assert not any(line.lstrip().startswith("127.0.0.1 \"POST") for line in lines)
    access = [r.getMessage() for r in caplog.records if r.name == "aiohttp.access"]
    assert access and all("\n" not in m for m in access)
    assert any("\\x0a" in m for m in access)
