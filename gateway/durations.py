"""Durations as written in config and policies: integer + s, m, h or d."""

from __future__ import annotations

import re

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_RE = re.compile(r"^(\d+)([smhd])$")


def parse_duration(text: str) -> int:
    """Return seconds for ``"72h"``-style text; ValueError says what is allowed."""
    m = _RE.match(text.strip()) if isinstance(text, str) else None
    if not m:
        raise ValueError(
            f"invalid duration {text!r}: use an integer followed by s, m, h or d (e.g. '72h', '7d')"
        )
    return int(m.group(1)) * _UNITS[m.group(2)]
