"""Times, durations and sizes for people: local time with its zone, "3 days", "1.9 MB".

Pages, the report and CLI output use these; the API stays RFC 3339 UTC. The
zone is ``library.timezone`` (IANA, through zoneinfo). Pure: no clock.
"""

from __future__ import annotations

from datetime import datetime, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo

from .clock import US

#: The format of an HTML ``<input type="datetime-local">`` value.
INPUT_FORMAT = "%Y-%m-%dT%H:%M"


@lru_cache(maxsize=16)
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def local(us: int | None, tz: str, seconds: bool = False) -> str:
    """'Tue 1 Dec 2026, 14:05 CST' ('-' for None)."""
    if us is None:
        return "-"
    dt = datetime.fromtimestamp(us / US, tz=timezone.utc).astimezone(zone(tz))
    clock = dt.strftime("%H:%M:%S" if seconds else "%H:%M")
    return f"{dt.strftime('%a')} {dt.day} {dt.strftime('%b %Y')}, {clock} {dt.tzname()}"


def local_date(us: int, tz: str) -> str:
    """'1 Dec 2026' in the library's zone."""
    dt = datetime.fromtimestamp(us / US, tz=timezone.utc).astimezone(zone(tz))
    return f"{dt.day} {dt.strftime('%b %Y')}"


def local_time_only(us: int, tz: str) -> str:
    """'14:05:09' in the library's zone (for rows that share a date)."""
    return datetime.fromtimestamp(us / US, tz=timezone.utc).astimezone(zone(tz)).strftime(
        "%H:%M:%S")


def to_input(us: int, tz: str) -> str:
    """A datetime-local input's value for this instant, in the library's zone."""
    return datetime.fromtimestamp(us / US, tz=timezone.utc).astimezone(zone(tz)).strftime(
        INPUT_FORMAT)


def from_input(text: str, tz: str, what: str = "time") -> int:
    """Parse a datetime-local value ('2026-12-01T14:05', seconds optional) in the library's zone.

    ValueError in plain words. A wall time that a daylight-saving change skips
    or repeats is taken at its first occurrence (zoneinfo fold=0).
    """
    text = (text or "").strip()
    if not text:
        raise ValueError(f"the {what} is required")
    for fmt in (INPUT_FORMAT, INPUT_FORMAT + ":%S"):
        try:
            naive = datetime.strptime(text, fmt)
            break
        except ValueError:
            continue
    else:
        raise ValueError(f"the {what} {text!r} is not a date and time like 2026-12-01T14:05")
    return int(naive.replace(tzinfo=zone(tz)).timestamp()) * US


def plural(n: int, unit: str) -> str:
    return f"{n} {unit}" + ("" if n == 1 else "s")


def duration(seconds: int) -> str:
    """An exact period as configured: 259200 -> '3 days', 7200 -> '2 hours', 90 -> '90 seconds'."""
    for size, unit in ((86400, "day"), (3600, "hour"), (60, "minute")):
        if seconds >= size and seconds % size == 0:
            return plural(seconds // size, unit)
    return plural(seconds, "second")


def span(seconds: float) -> str:
    """A countdown or an age, to two units: '2 h 10 min', '3 days 4 h', '45 s'."""
    s = int(max(0, seconds))
    d, rem = divmod(s, 86400)
    h, rem = divmod(rem, 3600)
    m, sec = divmod(rem, 60)
    if d:
        return plural(d, "day") + (f" {h} h" if h else "")
    if h:
        return f"{h} h" + (f" {m} min" if m else "")
    if m:
        return f"{m} min" + (f" {sec} s" if sec and m < 10 else "")
    return f"{sec} s"


def size(n: int) -> str:
    """Bytes in decimal units, one decimal: 1_900_000 -> '1.9 MB'."""
    if n < 1000:
        return f"{n} bytes" if n != 1 else "1 byte"
    for unit in ("kB", "MB", "GB", "TB"):
        n /= 1000
        if n < 1000 or unit == "TB":
            return f"{n:.1f} {unit}"
    raise AssertionError("unreachable")
