"""Time comes from here, injected, so every time-dependent decision is testable.

All instants are UTC integer microseconds since the Unix epoch ("us").
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timezone
from typing import Protocol

US = 1_000_000


class Clock(Protocol):
    """What the gateway knows of time: ``now_us`` to decide, ``wait`` to sleep.

    The background loops sleep through the clock too (as moonfire-nvr's
    ``Clocks`` does), so a test drives them with a ``FakeClock``.
    """

    def now_us(self) -> int: ...

    def monotonic_us(self) -> int:
        """A clock no one can set (CLOCK_MONOTONIC): it only tells how much time passed."""
        ...

    async def wait(self, event: asyncio.Event | None, seconds: float) -> bool:
        """Sleep ``seconds`` or until ``event`` is set; True if the event woke us."""
        ...


class SystemClock:
    def now_us(self) -> int:
        return time.time_ns() // 1000

    def monotonic_us(self) -> int:
        return time.monotonic_ns() // 1000

    async def wait(self, event: asyncio.Event | None, seconds: float) -> bool:
        if event is None:
            await asyncio.sleep(seconds)
            return False
        try:
            await asyncio.wait_for(event.wait(), timeout=max(0.0, seconds))
            return True
        except asyncio.TimeoutError:
            return False


class FakeClock:
    """A clock a test moves by hand; sleepers wake when ``advance`` passes their time.

    ``advance`` moves wall and monotonic time together (time passing); ``jump``
    moves the wall clock alone, as an operator or a bad NTP step would. Sleepers
    wait on monotonic time, as ``asyncio.sleep`` does.
    """

    def __init__(self, start_us: int = 1_700_000_000 * US) -> None:
        self.t = start_us
        self.mono = 1_000 * US
        self._sleepers: list[tuple[int, asyncio.Future]] = []

    def now_us(self) -> int:
        return self.t

    def monotonic_us(self) -> int:
        return self.mono

    def advance(self, seconds: float) -> None:
        self.t += int(seconds * US)
        self.mono += int(seconds * US)
        for due, fut in list(self._sleepers):
            if due <= self.mono and not fut.done():
                fut.set_result(None)

    def jump(self, seconds: float) -> None:
        """Set the wall clock ``seconds`` ahead (negative: back); no time passes."""
        self.t += int(seconds * US)

    @property
    def sleepers(self) -> int:
        """How many waits are pending (a test waits for the loop to go to sleep)."""
        return sum(1 for _, f in self._sleepers if not f.done())

    async def wait(self, event: asyncio.Event | None, seconds: float) -> bool:
        fut = asyncio.get_running_loop().create_future()
        if seconds <= 0:
            fut.set_result(None)
        entry = (self.mono + int(seconds * US), fut)
        self._sleepers.append(entry)
        waits = [fut] + ([asyncio.ensure_future(event.wait())] if event is not None else [])
        try:
            done, _ = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            return len(waits) > 1 and waits[1] in done
        finally:
            self._sleepers.remove(entry)
            for w in waits:
                if not w.done():
                    w.cancel()


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
