"""The ``[notify]`` section: SMTP and/or webhook, who hears about what, and when.

Validation has no side effects: the password and secret files are read when
the gateway starts (``gateway.notify.service.open_notifier``), not here.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import Field, field_validator, model_validator

from ..durations import parse_duration
from ..strict import StrictModel
from ..models import ROLES




#: The kinds of event a notification is sent for (docs/operations.md, "Notifications").
EVENT_KINDS = ("hold.requested", "hold.lapsing", "hold.lapsed", "hold.approved", "hold.denied",
               "hold.review_due", "hold.expired", "footage.past_deadline", "notify.test")

#: Who hears about each kind unless ``[notify.audience]`` says otherwise. The
#: director decides holds; staff asked for them; IT (admin) fixes a stuck purge.
DEFAULT_AUDIENCE: dict[str, tuple[str, ...]] = {
    "hold.requested": ("director",),
    "hold.lapsing": ("director",),
    "hold.lapsed": ("director", "staff"),
    "hold.approved": ("director", "staff"),
    "hold.denied": ("director", "staff"),
    "hold.review_due": ("director",),
    "hold.expired": ("director", "staff"),
    "footage.past_deadline": ("admin", "director"),
    "notify.test": ROLES,  # `footage-gateway notify test`: every configured address
}

# Deliberately loose: the mail server is the judge of an address; we only refuse
# what cannot be one (and header injection: no spaces, commas or newlines).
_ADDRESS = re.compile(r"^[^@\s,;<>\"]+@[^@\s,;<>\"]+$")

Seconds = Annotated[str, Field(description="integer + s, m, h or d, e.g. '30s'")]


def _duration(v: str, lo_s: int, hi_s: int) -> str:
    s = parse_duration(v)
    if not lo_s <= s <= hi_s:
        raise ValueError(f"must be between {lo_s} s and {hi_s} s")
    return v


def _address(v: str) -> str:
    if not _ADDRESS.match(v):
        raise ValueError(f"{v!r} is not an email address (name@host)")
    return v


class NotifySettings(StrictModel):
    """Email over SMTP and/or a JSON webhook; both off when neither is configured."""

    smtp_host: str | None = Field(None, min_length=1, max_length=253,
                                  description="SMTP server; email is off when unset")
    smtp_port: int | None = Field(None, ge=1, le=65535,
                                  description="default 465 with smtp_tls, else 587")
    smtp_starttls: bool = Field(True, description="upgrade the connection with STARTTLS "
                                "(required: a server that does not offer it is an error)")
    smtp_tls: bool = Field(False, description="implicit TLS from the first byte (port 465)")
    smtp_ca_file: str | None = Field(None, description="PEM CA bundle to verify the SMTP "
                                     "server against instead of the system store")
    smtp_user: str | None = Field(None, min_length=1, max_length=256,
                                  description="SMTP AUTH user (with smtp_password_file)")
    smtp_password_file: str | None = Field(None, description="file holding the SMTP password")
    smtp_timeout: Seconds = Field("30s", description="per connection attempt, 1 s .. 5 min")
    sender: str | None = Field(None, description="From: address (required with smtp_host)")
    recipients: dict[str, list[str]] = Field(
        default_factory=dict, description="role -> addresses, e.g. director = ['d@lib.example']")

    webhook_url: str | None = Field(None, max_length=2000,
                                    description="HTTPS (or http) URL that gets a JSON POST per event")
    webhook_secret_file: str | None = Field(
        None, description="file with a secret: each POST carries X-Footage-Signature: "
        "sha256=HMAC-SHA256(secret, body)")
    webhook_timeout: Seconds = Field("10s", description="per POST, 1 s .. 5 min")
    webhook_ca_file: str | None = Field(None, description="PEM CA bundle to verify an https "
                                        "webhook against instead of the system store")

    audience: dict[str, list[str]] = Field(
        default_factory=dict, description="event kind -> roles, replacing the default for it")
    lapse_warnings: list[Seconds] = Field(
        default_factory=lambda: ["24h", "2h"], max_length=5,
        description="warn the director this long before a pending request lapses")
    review_warning: Seconds = Field("7d", description="warn this long before a hold's review date")
    past_deadline_after: Seconds = Field(
        "5m", description="footage past its deadline this long (the alert's 'for') is reported")
    check_every: Seconds = Field("1m", description="how often time-based events are looked for")
    retry_first: Seconds = Field("30s", description="first retry after a failed send; doubles")
    retry_max: Seconds = Field("1h", description="longest wait between retries")
    max_attempts: int = Field(12, ge=1, le=100, description="then the message is given up (logged)")

    @field_validator("smtp_timeout", "webhook_timeout")
    @classmethod
    def _timeout(cls, v: str) -> str:
        return _duration(v, 1, 300)

    @field_validator("review_warning", "past_deadline_after", "retry_max")
    @classmethod
    def _long(cls, v: str) -> str:
        return _duration(v, 0, 90 * 86400)

    @field_validator("check_every", "retry_first")
    @classmethod
    def _interval(cls, v: str) -> str:
        return _duration(v, 1, 3600)

    @field_validator("lapse_warnings")
    @classmethod
    def _warnings(cls, v: list[str]) -> list[str]:
        for w in v:
            _duration(w, 60, 30 * 86400)
        if len(set(map(parse_duration, v))) != len(v):
            raise ValueError("each warning must be a different duration")
        return v

    @field_validator("sender")
    @classmethod
    def _sender(cls, v: str | None) -> str | None:
        return None if v is None else _address(v)

    @field_validator("recipients")
    @classmethod
    def _recipients(cls, v: dict[str, list[str]]) -> dict[str, list[str]]:
        for role, addrs in v.items():
            if role not in ROLES:
                raise ValueError(f"unknown role {role!r} (roles: {', '.join(ROLES)})")
            if len(addrs) > 100:
                raise ValueError(f"{role}: at most 100 addresses")
            for a in addrs:
                _address(a)
        return v

    @field_validator("audience")
    @classmethod
    def _audience(cls, v: dict[str, list[str]]) -> dict[str, list[str]]:
        for kind, roles in v.items():
            if kind not in EVENT_KINDS:
                raise ValueError(f"unknown event {kind!r} (events: {', '.join(EVENT_KINDS)})")
            for role in roles:
                if role not in ROLES:
                    raise ValueError(f"{kind}: unknown role {role!r} (roles: {', '.join(ROLES)})")
        return v

    @field_validator("webhook_url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        if v is not None and not re.match(r"^https?://[^\s/]+", v):
            raise ValueError("must be an http:// or https:// URL")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> "NotifySettings":
        if self.smtp_tls and self.smtp_starttls:
            raise ValueError("smtp_tls (implicit TLS) and smtp_starttls exclude each other; "
                             "set smtp_starttls = false with smtp_tls = true")
        if self.smtp_host is not None:
            if self.sender is None:
                raise ValueError("smtp_host needs sender (the From: address)")
            if not any(self.recipients.values()):
                raise ValueError("smtp_host needs recipients for at least one role")
        if (self.smtp_user is None) != (self.smtp_password_file is None):
            raise ValueError("set smtp_user and smtp_password_file together")
        if self.smtp_password_file and not (self.smtp_starttls or self.smtp_tls):
            raise ValueError("an SMTP password is never sent over plain text: enable "
                             "smtp_starttls or smtp_tls")
        if parse_duration(self.retry_max) < parse_duration(self.retry_first):
            raise ValueError("retry_max must be at least retry_first")
        return self

    @property
    def enabled(self) -> bool:
        return self.smtp_host is not None or self.webhook_url is not None

    @property
    def port(self) -> int:
        return self.smtp_port or (465 if self.smtp_tls else 587)

    def roles_for(self, kind: str) -> tuple[str, ...]:
        return tuple(self.audience.get(kind, DEFAULT_AUDIENCE[kind]))

    def addresses_for(self, roles: tuple[str, ...]) -> list[str]:
        """The configured addresses of these roles, each once, in order."""
        return list(dict.fromkeys(a for r in roles for a in self.recipients.get(r, [])))
