"""``footage-gateway push FILE --camera ID``: hand a recorder's finished segment to the gateway.

For an NVR or recorder already on the host (MediaMTX, Frigate, a camera's
own FTP/SD upload) that writes finished segment files: its "segment done"
hook runs this command, which uploads the file over the same push API a
camera uses and, with ``--remove-source``, deletes the plaintext file only
after the gateway answered 201 (stored) or 200 (already stored: a retry). On
any other answer the file is kept and the command exits non-zero with the
gateway's reason, so nothing is lost and nothing unmasked lingers silently.
See docs/operations.md ("Recorders on the host").

Retries: connection failures and 5xx answers are retried with exponential
backoff (1, 2, 4 ... s, capped at 30 s), honouring Retry-After on 503; 4xx
answers are final (the upload itself is wrong: token, camera, not a video).
"""

from __future__ import annotations

import json
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import click

from ..clock import iso
from ..media.probe import sniff_container
from .common import CliError, settings_from

MAX_WAIT_S = 30.0
_TYPES = {"mp4": "video/mp4", "mpegts": "video/mp2t"}


@dataclass
class PushOutcome:
    status: int | None  # the final HTTP status, None if the gateway never answered
    body: dict | None
    attempts: int
    removed: bool
    message: str

    @property
    def ok(self) -> bool:
        return self.status in (200, 201)


def _retry_after(headers, default: float) -> float:
    value = headers.get("Retry-After") if headers is not None else None
    try:
        return max(0.0, min(MAX_WAIT_S, float(value))) if value is not None else default
    except ValueError:
        return default


def push_file(path: Path, camera: str, base_url: str, token: str, *, remove: bool = False,
              start: str | None = None, retries: int = 5, timeout_s: float = 120.0,
              sleep: Callable[[float], None] = time.sleep) -> PushOutcome:
    """Upload ``path``; remove it only after 201/200 when ``remove``. Never raises for HTTP."""
    data = path.read_bytes()
    kind = sniff_container(data)
    if kind not in _TYPES:
        return PushOutcome(None, None, 0, False, f"{path}: not an MP4 or MPEG-TS file; kept")
    url = f"{base_url.rstrip('/')}/api/v1/cameras/{camera}/segments"
    headers = {"Authorization": f"Bearer {token}", "Content-Type": _TYPES[kind]}
    if start:
        headers["X-Segment-Start"] = start
    attempt, wait = 0, 1.0
    status: int | None = None
    body: dict | None = None
    message = ""
    while True:
        attempt += 1
        resp_headers = None
        try:
            req = urllib.request.Request(url, data=data, headers=headers, method="POST")
            with urllib.request.urlopen(req, timeout=timeout_s) as resp:
                status, raw = resp.status, resp.read()
        except urllib.error.HTTPError as err:
            status, raw, resp_headers = err.code, err.read(), err.headers
        except (urllib.error.URLError, OSError) as err:
            status, raw = None, b""
            reason = getattr(err, "reason", err)
            message = f"cannot reach the gateway at {base_url}: {reason}"
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        if status in (200, 201):
            removed = False
            if remove:
                path.unlink()
                removed = True
            what = "stored" if status == 201 else "already stored (a retry)"
            return PushOutcome(status, body, attempt, removed,
                               f"{path}: {what} as {body.get('id') if body else '?'}"
                               + ("; source removed" if removed else ""))
        if status is not None:
            err_body = (body or {}).get("error", {}) if isinstance(body, dict) else {}
            message = (f"gateway answered {status} {err_body.get('code', '')}: "
                       f"{err_body.get('message', raw[:200].decode(errors='replace'))}")
        final = status is not None and status < 500
        if final or attempt > retries:
            return PushOutcome(status, body, attempt, False,
                               f"{path}: {message}; the file was kept")
        delay = _retry_after(resp_headers, wait) if status == 503 else wait
        sleep(delay)
        wait = min(MAX_WAIT_S, wait * 2)


def _token_from_config(config_path: str, camera: str) -> tuple[str | None, str | None]:
    settings = settings_from(config_path)
    cam = settings.camera(camera)
    if cam is None:
        raise CliError(f"camera {camera!r} is not in {config_path}")
    url = f"http://{settings.server.listen}"
    if cam.push_token is not None:
        return url, cam.push_token.get_secret_value()
    if cam.push_token_file is not None:
        return url, _read_token(cam.push_token_file)
    return url, None


def _read_token(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8").strip()
    except OSError as err:
        raise CliError(f"cannot read token file {path}: {err.strerror}") from None


@click.command("push")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--camera", required=True, help="The camera id the segment belongs to.")
@click.option("--url", help="Gateway base URL (default: server.listen of --config).")
@click.option("--token-file", type=click.Path(dir_okay=False),
              help="File holding the camera's push token (default: from --config).")
@click.option("--config", "config_path", type=click.Path(dir_okay=False),
              help="The gateway's config.toml, for the URL and the camera's token.")
@click.option("--remove-source", is_flag=True,
              help="Delete FILE after the gateway stored it (201/200); kept otherwise.")
@click.option("--start", help="RFC 3339 start of the segment (X-Segment-Start).")
@click.option("--start-from-mtime", is_flag=True,
              help="Take the start from FILE's modification time minus nothing (a recorder "
                   "that writes as it goes sets mtime to the end; prefer --start).")
@click.option("--retries", type=click.IntRange(0, 20), default=5, show_default=True)
def push_command(file: Path, camera: str, url: str | None, token_file: str | None,
                 config_path: str | None, remove_source: bool, start: str | None,
                 start_from_mtime: bool, retries: int) -> None:
    """Upload a finished segment FILE for camera ID; exit 0 only if the gateway stored it."""
    cfg_url, token = (None, None)
    if config_path:
        cfg_url, token = _token_from_config(config_path, camera)
    if token_file:
        token = _read_token(token_file)
    base = url or cfg_url
    if base is None:
        raise click.UsageError("give --url or --config")
    if not token:
        raise click.UsageError("give --token-file, or --config with the camera's push token")
    if start is None and start_from_mtime:
        start = iso(int(file.stat().st_mtime * 1_000_000))
    outcome = push_file(file, camera, base, token, remove=remove_source, start=start,
                        retries=retries)
    click.echo(outcome.message, err=not outcome.ok)
    sys.exit(0 if outcome.ok else 1)
