"""HTTPS served directly: ``server.tls_cert`` + ``server.tls_key`` (TLS 1.2 or later).

For TLS terminated by a reverse proxy instead, see deploy/nginx/ and
``server.trusted_proxies`` (gateway.web.forwarded).
"""

from __future__ import annotations

import ssl
from pathlib import Path

from ..config import ServerSettings
from ..errors import ConfigError


def _readable(path: str, key: str) -> None:
    try:
        with open(path, "rb") as f:
            f.read(1)
    except OSError as err:
        raise ConfigError(f"server.{key}: cannot read {path}: {err.strerror}") from None


def server_context(server: ServerSettings) -> ssl.SSLContext | None:
    """The TLS context of this config, or None for plain HTTP; ConfigError says what is wrong."""
    if server.tls_cert is None or server.tls_key is None:
        return None  # the config refuses one without the other
    _readable(server.tls_cert, "tls_cert")
    _readable(server.tls_key, "tls_key")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.options |= ssl.OP_NO_COMPRESSION | ssl.OP_CIPHER_SERVER_PREFERENCE
    try:
        ctx.load_cert_chain(server.tls_cert, server.tls_key)
    except ssl.SSLError as err:
        raise ConfigError(
            f"server.tls_cert / server.tls_key: {Path(server.tls_cert).name} and "
            f"{Path(server.tls_key).name} are not a PEM certificate chain and its matching "
            f"private key ({err.reason or err})") from None
    return ctx
