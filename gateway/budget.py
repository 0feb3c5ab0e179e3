"""A counted budget (bytes, pixel-frames, slots) taken before work starts, never waited for.

Single-threaded by design: it is only touched from the event loop.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator


class Budget:
    """``capacity`` units shared by everything in flight; ``take`` fails instead of queueing."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.used = 0

    def take(self, n: int) -> bool:
        if n < 0 or self.used + n > self.capacity:
            return False
        self.used += n
        return True

    def full(self) -> bool:
        return self.used >= self.capacity

    def give(self, n: int) -> None:
        self.used = max(0, self.used - n)

    @contextmanager
    def held(self, n: int) -> Iterator[None]:
        """Give ``n`` back on exit (the caller took it)."""
        try:
            yield
        finally:
            self.give(n)
