"""The notification loop: find due events, queue each once per channel, deliver, retry.

A hold transition only wakes this loop (``Runtime.wake_notifier``); it never
waits for a mail server, so a slow or dead one cannot delay or fail a
decision. Every event is derived again from the catalog on each pass
(``gateway.notify.events``) and queued in the ``notifications`` table under
its key, so a crash between a decision and its message loses nothing and a
restart sends nothing twice. Failed sends are retried with exponential
backoff up to ``max_attempts``; each attempt is counted in
``footage_notifications_total{channel,outcome}`` and logged without secrets.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import asynccontextmanager
from pathlib import Path
from typing import AsyncIterator, Callable, Mapping, Protocol

import aiohttp
from prometheus_client import CollectorRegistry, Counter, Gauge

from ..catalog import AsyncCatalog
from ..catalog import notifications as sql
from ..clock import US, Clock, iso
from ..config import Settings
from ..durations import parse_duration
from ..errors import ConfigError
from .events import STALE_US, Rules, due_events, past_deadline_events, track_onsets
from .mail import MailChannel, SendError
from .settings import NotifySettings
from .webhook import WebhookChannel

log = logging.getLogger(__name__)

CHANNELS = ("mail", "webhook")
OUTCOMES = ("sent", "retry", "failed")


class Channel(Protocol):
    name: str

    def wants(self, kind: str) -> bool:
        """False when this channel has nobody to tell about ``kind``."""

    async def send(self, key: str, kind: str, payload: dict) -> None: ...


class NotifyMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.sent = Counter("footage_notifications",
                            "Notification send attempts by channel and outcome "
                            "(sent, retry: failed and will be retried, failed: given up)",
                            ["channel", "outcome"], registry=registry)
        self.pending = Gauge("footage_notifications_pending",
                             "Notifications queued and not yet delivered", ["channel"],
                             registry=registry)
        for ch in CHANNELS:
            self.pending.labels(ch).set(0)


def backoff_s(attempt: int, first_s: int, max_s: int) -> int:
    """Wait before retry number ``attempt`` (1-based): first, 2x, 4x, ... capped."""
    return min(max_s, first_s * 2 ** min(attempt - 1, 30))


def rules_of(cfg: NotifySettings) -> Rules:
    return Rules(tuple(parse_duration(w) for w in cfg.lapse_warnings),
                 parse_duration(cfg.review_warning), parse_duration(cfg.past_deadline_after))


class Notifier:
    """One per gateway. ``run_once`` is one deterministic pass (tests drive it by hand)."""

    def __init__(self, settings: Settings, catalog: AsyncCatalog, clock: Clock,
                 channels: list[Channel], metrics: NotifyMetrics,
                 past_deadline: Callable[[], Mapping[str, int]] | None = None) -> None:
        self.cfg = settings.notify
        self.public_url = settings.server.public_url or ""
        self.library = settings.library.name
        self.catalog = catalog
        self.clock = clock
        self.channels = {c.name: c for c in channels}
        self.metrics = metrics
        self.rules = rules_of(self.cfg)
        self.past_deadline = past_deadline
        self.wake = asyncio.Event()
        self._onsets: dict[str, int] = {}
        self._since_us: int | None = None
        self._passes = 0

    async def start(self) -> None:
        """Record (the first time) since when notifications are on: nothing older is sent."""
        self._since_us = await self.catalog.run(sql.since, self.clock.now_us())

    async def enqueue_due(self) -> int:
        """Queue every due event not queued before; returns how many rows were added."""
        now = self.clock.now_us()
        if self._since_us is None:
            await self.start()
        holds = await self.catalog.read(sql.holds_to_consider, now - STALE_US)
        events = due_events(holds, now, self._since_us, self.rules, self.public_url,
                            self.library)
        if self.past_deadline is not None:
            counts = dict(self.past_deadline())
            self._onsets = track_onsets(self._onsets, counts, now)
            events += past_deadline_events(counts, self._onsets, now, self.rules,
                                           self.public_url, self.library)
        if not events:
            return 0
        known = await self.catalog.read(sql.known_keys, [e.key for e in events])
        rows = [(e.key, name, e.kind, e.payload()) for e in events if e.key not in known
                for name, ch in self.channels.items() if ch.wants(e.kind)]
        return await self.catalog.run(sql.enqueue, rows, now) if rows else 0

    async def deliver_due(self) -> int:
        """Try every queued message whose time has come; returns how many were sent."""
        now = self.clock.now_us()
        sent = 0
        for row in await self.catalog.read(sql.due, now):
            channel = self.channels.get(row.channel)
            if channel is None:  # the channel was removed from the config: give it up
                await self.catalog.run(sql.mark_failed, row.id, now, "channel not configured",
                                       None)
                continue
            try:
                await channel.send(row.event_key, row.kind, row.payload)
            except SendError as err:
                await self._failed(row, str(err), err.permanent)
                continue
            except Exception as err:  # a bug must not stop the other messages
                log.exception("notification %s via %s: unexpected error", row.event_key,
                              row.channel)
                await self._failed(row, f"unexpected {type(err).__name__}", False)
                continue
            await self.catalog.run(sql.mark_sent, row.id, self.clock.now_us())
            self.metrics.sent.labels(row.channel, "sent").inc()
            log.info("notification %s (%s) sent via %s", row.event_key, row.kind, row.channel)
            sent += 1
        return sent

    async def _failed(self, row: sql.Outgoing, error: str, permanent: bool) -> None:
        now = self.clock.now_us()
        attempt = row.attempts + 1
        if permanent or attempt >= self.cfg.max_attempts:
            await self.catalog.run(sql.mark_failed, row.id, now, error, None)
            self.metrics.sent.labels(row.channel, "failed").inc()
            log.error("notification %s (%s) via %s given up after %d attempt(s): %s",
                      row.event_key, row.kind, row.channel, attempt, error)
            return
        wait = backoff_s(attempt, parse_duration(self.cfg.retry_first),
                         parse_duration(self.cfg.retry_max))
        await self.catalog.run(sql.mark_failed, row.id, now, error, now + wait * US)
        self.metrics.sent.labels(row.channel, "retry").inc()
        log.warning("notification %s (%s) via %s failed (attempt %d of %d): %s; retrying in %d s",
                    row.event_key, row.kind, row.channel, attempt, self.cfg.max_attempts,
                    error, wait)

    async def run_once(self) -> int:
        """One pass: queue what is due, deliver what is queued, refresh the gauge."""
        await self.enqueue_due()
        sent = await self.deliver_due()
        pending = await self.catalog.read(sql.pending_counts)
        for ch in CHANNELS:
            self.metrics.pending.labels(ch).set(pending.get(ch, 0))
        return sent

    async def step(self) -> float:
        """One pass (errors logged), then the seconds until the next: at the next retry
        or after ``check_every``, whichever is sooner. ``gateway.loops.notify_loop``
        sleeps that long through the clock, or until a hold changes."""
        every_s = float(parse_duration(self.cfg.check_every))
        try:
            await self.run_once()
            self._passes += 1
            if self._passes % 1000 == 1:
                await self.catalog.run(sql.prune, self.clock.now_us())
            nxt = await self.catalog.read(sql.next_attempt)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("notification pass failed; trying again in %.0f s", every_s)
            return every_s
        if nxt is None:
            return every_s
        return min(every_s, max(0.05, (nxt - self.clock.now_us()) / US))


def _read_secret(path: str | None, what: str) -> str | None:
    if path is None:
        return None
    try:
        value = Path(path).read_text(encoding="utf-8").strip()
    except OSError as err:
        raise ConfigError(f"notify.{what}: cannot read {path}: {err.strerror}") from None
    if not value:
        raise ConfigError(f"notify.{what}: {path} is empty")
    return value


def check_secrets(settings: Settings) -> None:
    """Read the password and secret files now (``serve`` calls it before listening)."""
    _read_secret(settings.notify.smtp_password_file, "smtp_password_file")
    _read_secret(settings.notify.webhook_secret_file, "webhook_secret_file")


def _channels(settings: Settings, session_factory: Callable[[], aiohttp.ClientSession]
              ) -> list[Channel]:
    cfg = settings.notify
    channels: list[Channel] = []
    if cfg.smtp_host is not None:
        channels.append(MailChannel(cfg, _read_secret(cfg.smtp_password_file,
                                                      "smtp_password_file")))
    if cfg.webhook_url is not None:
        secret = _read_secret(cfg.webhook_secret_file, "webhook_secret_file")
        channels.append(WebhookChannel(cfg, secret.encode() if secret else None,
                                       session_factory()))
    return channels


@asynccontextmanager
async def open_notifier(settings: Settings, catalog: AsyncCatalog, clock: Clock,
                        registry: CollectorRegistry,
                        past_deadline: Callable[[], Mapping[str, int]] | None = None,
                        ) -> AsyncIterator[Notifier | None]:
    """The notifier of this config (None when [notify] configures no channel); its
    secrets are read now, so a missing file stops the start with a clear error."""
    if not settings.notify.enabled:
        yield None
        return
    sessions: list[aiohttp.ClientSession] = []

    def session() -> aiohttp.ClientSession:
        sessions.append(aiohttp.ClientSession())
        return sessions[-1]
    try:
        channels = _channels(settings, session)
        yield Notifier(settings, catalog, clock, channels, NotifyMetrics(registry), past_deadline)
    finally:
        for s in sessions:
            await s.close()


async def send_test(settings: Settings, now_us: int) -> list[tuple[str, str | None]]:
    """Send one test message on every configured channel now (not queued, no retry):
    (channel, None) when it went out, (channel, why not) when it did not."""
    library = settings.library.name
    url = (settings.server.public_url or "").rstrip("/") + "/"
    key = f"test:{now_us}"
    payload = {"subject": f"[{library}] Test message from footage-gateway",
               "text": "This is a test of the gateway's notifications: the settings in "
                       f"[notify] work.\n\nThe gateway: {url}\n",
               "data": {"event": "notify.test", "key": key, "at": iso(now_us), "url": url}}
    out: list[tuple[str, str | None]] = []
    async with aiohttp.ClientSession() as session:
        for ch in _channels(settings, lambda: session):
            if not ch.wants("notify.test"):
                out.append((ch.name, "no recipients configured"))
                continue
            try:
                await ch.send(key, "notify.test", payload)
                out.append((ch.name, None))
            except SendError as err:
                out.append((ch.name, str(err)))
    return out
