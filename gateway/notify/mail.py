"""Email over SMTP (aiosmtplib): STARTTLS, implicit TLS or a plain local relay.

One message per event, to every configured address of the event's roles. The
password is read once at start-up from ``smtp_password_file`` and never logged.
"""

from __future__ import annotations

import hashlib
import ssl
from email.message import EmailMessage
from email.utils import formatdate

import aiosmtplib

from ..durations import parse_duration
from .settings import NotifySettings


class SendError(Exception):
    """A send failed; ``permanent`` means retrying the same message cannot help."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


def tls_client_context(ca_file: str | None) -> ssl.SSLContext:
    """Verifying client context, TLS 1.2 or later (a private CA when ``ca_file`` is set)."""
    ctx = ssl.create_default_context(cafile=ca_file)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx


class MailChannel:
    name = "mail"

    def __init__(self, cfg: NotifySettings, password: str | None) -> None:
        assert cfg.smtp_host is not None and cfg.sender is not None
        self.cfg = cfg
        self._password = password
        self._tls = (tls_client_context(cfg.smtp_ca_file)
                     if cfg.smtp_starttls or cfg.smtp_tls else None)

    def __repr__(self) -> str:  # never the password
        return f"MailChannel({self.cfg.smtp_host}:{self.cfg.port})"

    def wants(self, kind: str) -> bool:
        return bool(self.cfg.addresses_for(self.cfg.roles_for(kind)))

    def message(self, key: str, kind: str, payload: dict) -> EmailMessage | None:
        """The email for one queued event, or None when no address is configured for it."""
        to = self.cfg.addresses_for(self.cfg.roles_for(kind))
        if not to:
            return None
        msg = EmailMessage()
        msg["From"] = self.cfg.sender
        msg["To"] = ", ".join(to)
        msg["Subject"] = payload["subject"]
        msg["Date"] = formatdate(usegmt=True)
        # The same id for every attempt: a retry after a lost reply is recognised as
        # the same message by mail clients that de-duplicate.
        digest = hashlib.sha256(key.encode()).hexdigest()[:32]
        msg["Message-ID"] = f"<{digest}@footage-gateway.invalid>"
        msg["Auto-Submitted"] = "auto-generated"
        msg["X-Footage-Event"] = kind
        msg.set_content(payload["text"])
        return msg

    async def send(self, key: str, kind: str, payload: dict) -> None:
        msg = self.message(key, kind, payload)
        if msg is None:
            return  # the addresses were removed since it was queued
        try:
            await aiosmtplib.send(
                msg, hostname=self.cfg.smtp_host, port=self.cfg.port,
                username=self.cfg.smtp_user, password=self._password,
                use_tls=self.cfg.smtp_tls, start_tls=self.cfg.smtp_starttls,
                tls_context=self._tls, timeout=parse_duration(self.cfg.smtp_timeout))
        except aiosmtplib.SMTPRecipientsRefused as err:
            raise SendError(f"the SMTP server refused every recipient ({len(err.recipients)})",
                            permanent=True) from None
        except aiosmtplib.SMTPResponseException as err:
            raise SendError(f"SMTP server answered {err.code}: {err.message}") from None
        except (aiosmtplib.SMTPException, OSError) as err:
            raise SendError(f"SMTP: {type(err).__name__}: {err}") from None
