"""deploy/nginx/footage-gateway.conf against Debian's nginx, in front of a real gateway.

nginx runs in the foreground on free ports with a temporary prefix and a
self-signed certificate; only the ports, paths and upstream of the shipped
file are replaced (each replacement must match, so the file cannot drift away
from what is tested).
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import shutil
import socket
import subprocess
import time
from pathlib import Path

import aiohttp
import pytest

from gateway.app import create_app
from gateway.config import StorageSettings, parse_settings
from gateway.media.synth import make_segment
from gateway.models import Actor
from gateway.users import service as users
from gateway.web.appkeys import RUNTIME

from conftest import CAMERA_TOKEN, camera, write_policy
from notifyfixtures import free_port
from tlscerts import client_context, self_signed, serve

SITE = Path(__file__).resolve().parents[2] / "deploy" / "nginx" / "footage-gateway.conf"
NGINX = shutil.which("nginx") or next(
    (p for p in ("/usr/sbin/nginx", "/sbin/nginx") if os.access(p, os.X_OK)), None)

needs_nginx = pytest.mark.skipif(NGINX is None, reason="nginx is not installed "
                                 "(scripts/install-system-deps.sh installs it)")


def directive(text: str, name: str, within: str | None = None) -> list[str]:
    """Values of ``name`` in the file (or in the location block starting with ``within``)."""
    if within is not None:
        start = text.index(within)
        text = text[start:text.index("}", start)]
    return re.findall(rf"^\s*{name}\s+([^;]+);", text, re.M)


def nginx_size(value: str) -> int:
    units = {"k": 1024, "m": 1024 ** 2, "g": 1024 ** 3}
    return int(value[:-1]) * units[value[-1]] if value[-1] in units else int(value)


PUSH = "location ~ ^/api/v1/cameras/"


def test_push_body_limit_matches_the_gateway_and_is_streamed():
    text = SITE.read_text()
    [limit] = directive(text, "client_max_body_size", within=PUSH)
    assert nginx_size(limit) == StorageSettings.model_fields["max_segment_bytes"].default
    assert directive(text, "proxy_request_buffering", within=PUSH) == ["off"]
    assert directive(text, "proxy_buffering") == ["off"]
    assert directive(text, "proxy_max_temp_file_size") == ["0"], "never a temp file of video"
    assert directive(text, "proxy_set_header X-Forwarded-For") == ["$remote_addr"], \
        "replace the header: appending would let a client choose its logged address"
    assert all("$request " not in f and "$args" not in f and "referer" not in f
               for f in re.findall(r"log_format[^;]+;", text, re.S))


def _replace(text: str, old: str, new: str, count: int = 1) -> str:
    assert text.count(old) == count, f"the site no longer has {count} x {old!r}"
    return text.replace(old, new)


def site_for_test(prefix: Path, https: int, http: int, upstream: int, cert: Path,
                  key: Path) -> Path:
    text = SITE.read_text()
    text = _replace(text, "    listen [::]:80;\n", "")
    text = _replace(text, "    listen [::]:443 ssl;\n", "")
    text = _replace(text, "listen 80;", f"listen 127.0.0.1:{http};")
    text = _replace(text, "listen 443 ssl;", f"listen 127.0.0.1:{https} ssl;")
    text = _replace(text, "server 127.0.0.1:8080;", f"server 127.0.0.1:{upstream};")
    text = _replace(text, "/etc/footage-gateway/tls/cert.pem", str(cert))
    text = _replace(text, "/etc/footage-gateway/tls/key.pem", str(key))
    text = _replace(text, "/var/log/nginx/", f"{prefix}/", count=3)
    site = prefix / "site.conf"
    site.write_text(text)
    main = prefix / "nginx.conf"
    temp = "\n".join(f"    {kind}_temp_path {prefix}/{kind};"
                     for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    main.write_text(f"""{'user root root;' if os.geteuid() == 0 else ''}
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/main-error.log warn;
events {{ worker_connections 64; }}
http {{
    default_type application/octet-stream;
{temp}
    access_log {prefix}/default-access.log;
    include {site};
}}
""")
    return main


def wait_listening(port: int, proc: subprocess.Popen, prefix: Path, timeout_s: float = 20) -> None:
    """nginx says nothing when ready: try the port until it accepts or nginx exits."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"nginx exited: {(prefix / 'main-error.log').read_text()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError("nginx did not start listening")


@needs_nginx
async def test_push_view_and_healthz_through_nginx(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="aiohttp.access")
    cert, key = self_signed(tmp_path / "tls", "nginx")
    prefix = tmp_path / "nginx"
    prefix.mkdir()
    upstream, https, http = free_port(), free_port(), free_port()
    write_policy(tmp_path / "policies", "test1h", minimum="1h")
    settings = parse_settings({
        "server": {"listen": f"127.0.0.1:{upstream}", "trusted_proxies": ["127.0.0.1"]},
        "storage": {"path": str(tmp_path / "store"), "min_free_bytes": 0},
        "policies_dir": str(tmp_path / "policies"), "cameras": [camera(policy="test1h")]})
    conf = site_for_test(prefix, https, http, upstream, cert, key)
    check = subprocess.run([NGINX, "-t", "-p", str(prefix), "-c", str(conf)],
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stderr

    runner = await serve(create_app(settings, run_loops=False), upstream)
    proc = subprocess.Popen([NGINX, "-p", str(prefix), "-c", str(conf), "-g", "daemon off;"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        await asyncio.to_thread(wait_listening, https, proc, prefix)
        svc = runner.app[RUNTIME]
        root = Actor("root", "operator")
        await users.add_user(svc.catalog, svc.clock, "dana", "director", None, root)
        token = await users.issue_token(svc.catalog, svc.clock, "dana", root)
        base = f"https://127.0.0.1:{https}"
        tls = client_context(cert)
        spoof = {"X-Forwarded-For": "198.51.100.7"}
        async with aiohttp.ClientSession() as client:
            async with client.get(f"{base}/healthz", ssl=tls, headers=spoof) as r:
                assert r.status == 200 and await r.json() == {"status": "ok"}
                assert r.headers["Strict-Transport-Security"].startswith("max-age=")
                assert r.headers["X-Content-Type-Options"] == "nosniff"
                assert r.headers["Referrer-Policy"] == "no-referrer"
                assert "nginx/" not in r.headers.get("Server", "")

            clip = make_segment(seconds=2, fps=10, width=640, height=360)
            assert len(clip) > 64 * 1024, "bigger than the push buffer: would spill to disk"

            async def chunks():                     # a camera streaming its upload
                for i in range(0, len(clip), 16384):
                    yield clip[i:i + 16384]
            async with client.post(f"{base}/api/v1/cameras/lobby/segments", data=chunks(),
                                   ssl=tls, headers={"Authorization": f"Bearer {CAMERA_TOKEN}",
                                                     "Content-Type": "video/mp4"}) as r:
                assert r.status == 201, await r.text()
                seg = await r.json()

            reason = "checking the desk incident for Jane Roe"
            async with client.get(f"{base}/api/v1/segments/{seg['id']}/video", ssl=tls,
                                  params={"reason": reason},
                                  headers={"Authorization": f"Bearer {token}", **spoof}) as r:
                assert r.status == 200, await r.text()
                video = await r.read()
            assert video[4:8] == b"ftyp" and len(video) > 64 * 1024

            async with client.post(f"{base}/api/v1/holds", data=b"{" + b" " * (2 << 20) + b"}",
                                   ssl=tls, headers={"Authorization": f"Bearer {token}",
                                                     "Content-Type": "application/json"}) as r:
                assert r.status == 413
                assert (await r.json())["error"]["code"] == "too_large"

            async with client.get(f"http://127.0.0.1:{http}/healthz?x=1",
                                  allow_redirects=False) as r:
                assert r.status == 301
                assert r.headers["Location"] == "https://127.0.0.1/healthz"
    finally:
        proc.terminate()
        _, err = await asyncio.to_thread(proc.communicate, timeout=20)
        await runner.cleanup()

    error_log = (prefix / "footage-gateway.error.log").read_text()
    assert "buffered to a temporary file" not in error_log, \
        "nginx wrote footage to its disk:\n" + error_log
    for kind in ("client_body", "proxy"):
        assert not any(p.is_file() for p in (prefix / kind).rglob("*"))
    access = (prefix / "footage-gateway.access.log").read_text()
    assert f"/api/v1/segments/{seg['id']}/video" in access
    assert "reason" not in access and "Jane" not in access, "the query string is not logged"
    gateway_log = [r.getMessage() for r in caplog.records if r.name == "aiohttp.access"]
    assert any('"GET /healthz"' in line for line in gateway_log)
    assert all(line.startswith("127.0.0.1 ") for line in gateway_log), \
        "the gateway logs the client nginx saw, never a client-supplied X-Forwarded-For"
    assert not any("198.51.100.7" in line for line in gateway_log)
