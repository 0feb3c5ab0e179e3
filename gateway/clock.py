"""Time comes from here, injected, so every time-dependent decision is testable.

All instants are UTC integer microseconds since the Unix epoch ("us").
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Protocol

US = 1_000_000


class Clock(Protocol):
    def now_us(self) -> int: ...


class SystemClock:
    def now_us(self) -> int:
        return time.time_ns() // 1000


class FakeClock:
    """A clock a test moves by hand."""

    def __init__(self, start_us: int = 1_700_000_000 * US) -> None:
        self.t = start_us

    def now_us(self) -> int:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += int(seconds * US)


def to_datetime(us: int) -> datetime:
    return datetime.fromtimestamp(us / US, tz=timezone.utc)


def iso(us: int) -> str:
    """RFC 3339 UTC with millisecond precision, e.g. 2026-11-25T13:08:23.120Z."""
    return to_datetime(us).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_iso(text: str) -> int:
    """Parse an RFC 3339 timestamp with an offset (``Z`` allowed) to microseconds."""
    dt = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    if dt.tzinfo is None:
        raise ValueError(f"timestamp {text!r} has no UTC offset")
    return int(dt.timestamp() * US) if dt.microsecond == 0 else (
        int(dt.replace(microsecond=0).timestamp()) * US + dt.microsecond
    )
