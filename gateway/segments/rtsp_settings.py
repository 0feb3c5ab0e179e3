"""The ``[rtsp]`` section and the checks on a camera's RTSP keys (docs/rtsp.md).

Pure settings (layer 0): gateway.config imports this module, gateway.segments.rtsp
applies it.
"""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field

from ..strict import StrictModel


class RtspSettings(StrictModel):
    """How cameras with an ``rtsp_url`` are pulled."""

    segment_seconds: int = Field(
        10, ge=1, le=300,
        description="cut a segment every this many seconds of stream time (keyframe-aligned "
                    "for cameras without masks)")
    transport: Literal["tcp", "udp"] = Field(
        "tcp", description="RTP over the RTSP TCP connection (default) or over UDP")
    timeout_seconds: int = Field(
        10, ge=1, le=120, description="give up connecting, or on a silent stream, after this long")
    max_backoff_seconds: int = Field(
        30, ge=1, le=600, description="longest wait between reconnection attempts")


def check_rtsp_url(v: str | None) -> str | None:
    """A validator for ``cameras[].rtsp_url``; the message never echoes the value (a password)."""
    if v is None:
        return v
    try:
        parts = urlsplit(v)
        parts.port  # noqa: B018 -- raises on a bad port
    except ValueError:
        raise ValueError("is not a valid URL (rtsp://host[:port]/path)") from None
    if parts.scheme not in ("rtsp", "rtsps") or not parts.hostname:
        raise ValueError("must be rtsp://host[:port]/path (or rtsps://)")
    return v


def check_rtsp_credentials(url: str | None, credentials_file: str | None) -> None:
    """Credentials come from the file or the URL, not both; a file needs a URL."""
    if credentials_file is None:
        return
    if url is None:
        raise ValueError("rtsp_credentials_file is set but rtsp_url is not")
    if "@" in urlsplit(url).netloc:
        raise ValueError("rtsp_url holds credentials and rtsp_credentials_file is set; "
                         "keep them in the file only")
