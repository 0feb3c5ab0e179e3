"""HTTPS served directly (server.tls_cert / tls_key), and the client address behind a proxy."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import socket
import ssl
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest
from click.testing import CliRunner

from gateway.app import create_app
from gateway.cli import main
from gateway.config import parse_settings
from gateway.errors import ConfigError
from gateway.web.tls import server_context

from notifyfixtures import free_port
from tlscerts import client_context, der, self_signed, serve


def settings(tmp: Path, **server):
    return parse_settings({"server": {"listen": f"127.0.0.1:{free_port()}", **server},
                           "storage": {"path": str(tmp / "store"), "min_free_bytes": 0}})


@pytest.fixture
def certs(tmp_path):
    return self_signed(tmp_path / "tls", "gateway")


async def test_serves_https_with_the_configured_certificate(tmp_path, certs):
    s = settings(tmp_path, tls_cert=str(certs[0]), tls_key=str(certs[1]))
    ctx = server_context(s.server)
    # (A TLS 1.1 client cannot be used to show this: OpenSSL's default security level
    # refuses it on both sides whatever the minimum, so such a test could not fail.)
    assert ctx.minimum_version == ssl.TLSVersion.TLSv1_2
    runner = await serve(create_app(s, run_loops=False), s.server.port, ctx)
    try:
        url = f"https://127.0.0.1:{s.server.port}/healthz"
        async with aiohttp.ClientSession() as http:
            async with http.get(url, ssl=client_context(certs[0])) as r:
                assert r.status == 200 and await r.json() == {"status": "ok"}
            with pytest.raises(aiohttp.ClientError):      # plain HTTP is not served there
                await http.get(url.replace("https", "http"))

        def handshake() -> tuple[str, bytes]:
            with socket.create_connection(("127.0.0.1", s.server.port), timeout=5) as sock:
                with client_context(certs[0]).wrap_socket(sock,
                                                          server_hostname="127.0.0.1") as tls:
                    return tls.version(), tls.getpeercert(binary_form=True)
        version, served = await asyncio.to_thread(handshake)
        assert version in ("TLSv1.2", "TLSv1.3")
        assert served == der(certs[0]), "the certificate served is the one configured"

    finally:
        await runner.cleanup()


def test_one_without_the_other_is_refused(tmp_path, certs):
    for half in ({"tls_cert": str(certs[0])}, {"tls_key": str(certs[1])}):
        with pytest.raises(ConfigError, match="set tls_cert and tls_key together"):
            settings(tmp_path, **half)


def test_unreadable_or_mismatched_files_are_refused(tmp_path, certs):
    other_cert, other_key = self_signed(tmp_path / "other", "other")
    missing = str(tmp_path / "nope.pem")
    cases = [
        ({"tls_cert": missing, "tls_key": str(certs[1])}, "server.tls_cert: cannot read"),
        ({"tls_cert": str(certs[0]), "tls_key": missing}, "server.tls_key: cannot read"),
        ({"tls_cert": str(tmp_path), "tls_key": str(certs[1])}, "server.tls_cert: cannot read"),
        ({"tls_cert": str(certs[0]), "tls_key": str(other_key)}, "matching private key"),
        ({"tls_cert": str(certs[1]), "tls_key": str(certs[1])}, "not a PEM certificate chain"),
    ]
    for server, message in cases:
        with pytest.raises(ConfigError, match=message):
            server_context(settings(tmp_path, **server).server)


def _config(tmp: Path, port: int, server_extra: str) -> Path:
    cfg = tmp / "config.toml"
    cfg.write_text(f'[server]\nlisten = "127.0.0.1:{port}"\n{server_extra}\n'
                   f'[storage]\npath = "{tmp / "store"}"\nmin_free_bytes = 0\n')
    return cfg


def test_serve_refuses_to_start_with_a_clear_error(tmp_path, certs):
    other_cert, other_key = self_signed(tmp_path / "other", "other")
    runner = CliRunner()
    for extra, message in [
        (f'tls_cert = "{certs[0]}"', "set tls_cert and tls_key together"),
        (f'tls_cert = "{certs[0]}"\ntls_key = "{tmp_path / "gone.pem"}"',
         "server.tls_key: cannot read"),
        (f'tls_cert = "{certs[0]}"\ntls_key = "{other_key}"', "matching private key"),
    ]:
        r = runner.invoke(main, ["serve", "--config", str(_config(tmp_path, 1, extra))])
        assert r.exit_code != 0 and message in r.output, r.output
        assert "Traceback" not in r.output
    assert not (tmp_path / "store" / "keyring").exists(), "refused before creating anything"


def test_the_serve_command_answers_https(tmp_path, certs):
    port = free_port()
    cfg = _config(tmp_path, port, f'tls_cert = "{certs[0]}"\ntls_key = "{certs[1]}"')
    exe = Path(sys.executable).with_name("footage-gateway")
    proc = subprocess.Popen([str(exe), "serve", "--config", str(cfg)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        lines = []
        for line in proc.stdout:                     # run_app prints this once listening
            lines.append(line)
            if "Running on" in line:
                break
        assert re.search(rf"https://127\.0\.0\.1:{port}", "".join(lines)), "".join(lines)
        pem = ssl.get_server_certificate(("127.0.0.1", port), timeout=10)
        assert ssl.PEM_cert_to_DER_cert(pem) == der(certs[0])
        ctx = client_context(certs[0])
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            with ctx.wrap_socket(sock, server_hostname="127.0.0.1") as tls:
                tls.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                reply = b"".join(iter(lambda: tls.recv(4096), b""))
        assert reply.startswith(b"HTTP/1.1 200") and b'"ok"' in reply
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        proc.stdout.close()


# ------------------------------------------------------------------ behind a proxy

@pytest.mark.parametrize("trusted, logged", [(["127.0.0.1"], "203.0.113.9"),
                                             ([], "127.0.0.1")])
async def test_forwarded_for_is_believed_only_from_a_trusted_proxy(
        tmp_path, caplog, trusted, logged):
    caplog.set_level(logging.INFO, logger="aiohttp.access")
    s = settings(tmp_path, trusted_proxies=trusted)
    runner = await serve(create_app(s, run_loops=False), s.server.port)
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{s.server.port}/healthz", headers={
                    "X-Forwarded-For": "198.51.100.1, 203.0.113.9",
                    "X-Forwarded-Proto": "https"}) as r:
                assert r.status == 200
    finally:
        await runner.cleanup()
    [line] = [rec.getMessage() for rec in caplog.records if rec.name == "aiohttp.access"]
    assert line.startswith(f'{logged} "GET /healthz"'), line
    assert "198.51.100.1" not in line, "only the entry the trusted proxy added counts"


def test_trusted_proxies_must_be_addresses(tmp_path):
    with pytest.raises(ConfigError, match="is not an IP address"):
        settings(tmp_path, trusted_proxies=["proxy.local"])
