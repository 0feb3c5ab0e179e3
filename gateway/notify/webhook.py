"""A JSON POST per event, optionally signed: ``X-Footage-Signature: sha256=<hex>``.

The signature is HMAC-SHA256 over the exact body bytes with the secret read
from ``webhook_secret_file`` (a receiver recomputes it and compares in constant
time). The URL may carry a token of its own, so it is never logged.
"""

from __future__ import annotations

import hashlib
import hmac
import json

import aiohttp

from ..durations import parse_duration
from .mail import SendError, tls_client_context
from .settings import NotifySettings

SIGNATURE_HEADER = "X-Footage-Signature"


def signature(secret: bytes, body: bytes) -> str:
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def verify_signature(secret: bytes, body: bytes, header: str) -> bool:
    """What a receiver does (also used by the tests)."""
    return hmac.compare_digest(signature(secret, body), header)


class WebhookChannel:
    name = "webhook"

    def __init__(self, cfg: NotifySettings, secret: bytes | None,
                 session: aiohttp.ClientSession) -> None:
        assert cfg.webhook_url is not None
        self.cfg = cfg
        self._secret = secret
        self._session = session
        self._timeout = aiohttp.ClientTimeout(total=parse_duration(cfg.webhook_timeout))
        # Certificates are always verified: the system store, or the library's own CA.
        self._ssl = tls_client_context(cfg.webhook_ca_file)

    def __repr__(self) -> str:  # never the URL nor the secret
        return "WebhookChannel()"

    def wants(self, kind: str) -> bool:
        return True

    def body(self, key: str, kind: str, payload: dict) -> bytes:
        doc = {**payload["data"], "event": kind, "key": key, "subject": payload["subject"],
               "text": payload["text"], "roles": list(self.cfg.roles_for(kind))}
        return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()

    async def send(self, key: str, kind: str, payload: dict) -> None:
        body = self.body(key, kind, payload)
        headers = {"Content-Type": "application/json", "X-Footage-Event": kind,
                   "X-Footage-Delivery": key, "User-Agent": "footage-gateway"}
        if self._secret is not None:
            headers[SIGNATURE_HEADER] = signature(self._secret, body)
        try:
            async with self._session.post(self.cfg.webhook_url, data=body, headers=headers,
                                          timeout=self._timeout, allow_redirects=False,
                                          ssl=self._ssl) as resp:
                status = resp.status
                await resp.read()
        except TimeoutError:
            raise SendError("webhook: no answer within webhook_timeout") from None
        except aiohttp.ClientError as err:
            # The class only: aiohttp's messages can include the URL, and its token.
            raise SendError(f"webhook: {type(err).__name__}") from None
        if 200 <= status < 300:
            return
        # A receiver that rejects the request will reject it again; one that is
        # busy or broken may not.
        permanent = 400 <= status < 500 and status not in (408, 425, 429)
        raise SendError(f"webhook answered HTTP {status}", permanent=permanent)
